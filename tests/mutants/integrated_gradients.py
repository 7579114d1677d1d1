"""Wrong Integrated Gradients (course_lib/methods/integrated_gradients.py)."""

from mutants import Mutant

PATH = "course_lib/methods/integrated_gradients.py"
IG = "tests/test_integrated_gradients.py"
CLOSED_FORM = f"{IG}::test_quadratic_model_in_closed_form"

MUTANTS = [
    Mutant(PATH, "weights = np.full(m, 1 / (m - 1))", "weights = np.full(m, 1 / m)",
           "trapezoid weights 1/m (Captum's riemann_trapezoid: they sum to (m−1)/m)", (CLOSED_FORM,)),
    Mutant(PATH, "alphas = (np.arange(m) + 0.5) / m", "alphas = np.arange(m) / m",
           "midpoint rule evaluated at the left ends", (CLOSED_FORM,)),
    Mutant(PATH, "torch.tensor(node_weights / 2)", "torch.tensor(node_weights)",
           "Gauss–Legendre weights not halved when moving [−1, 1] to [0, 1]", (CLOSED_FORM,)),
    Mutant(PATH, "difference = x - reference", "difference = x",
           "(x − x′) replaced by x: only right for the black baseline", (CLOSED_FORM,)),
    Mutant(PATH, "return baseline.to(x.device, x.dtype).expand_as(x)",
           "return baseline.to(x.device, x.dtype).expand_as(x)[:1].expand_as(x)",
           "the first image's baseline used for every image", (CLOSED_FORM,)),
    Mutant(PATH, "gradient = class_score_gradient(model, path, classes.repeat(k))",
           "gradient = class_score_gradient(model, path, classes.repeat_interleave(k))",
           "targets laid out image-major on an alpha-major path batch", (CLOSED_FORM,)),
    Mutant(PATH, "total += (w * gradient.view(k, *x.shape)).sum(dim=0)",
           "total = (w * gradient.view(k, *x.shape)).sum(dim=0)",
           "only the last chunk of path points is kept (depends on batch_size)", (CLOSED_FORM,)),
    Mutant(PATH, "(scores[:n] - scores[n:])", "(scores[n:] - scores[:n])",
           "completeness gap with z(x′) − z(x)",
           (f"{IG}::test_completeness_gap_is_sum_minus_score_difference",)),
]
