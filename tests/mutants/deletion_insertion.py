"""Wrong deletion/insertion curves (course_lib/evaluation/deletion_insertion.py)."""

from mutants import Mutant

PATH = "course_lib/evaluation/deletion_insertion.py"
DI = "tests/test_deletion_insertion.py"

MUTANTS = [
    Mutant(PATH, "order = saliency.flatten(1).argsort(dim=1, descending=True, stable=True)",
           "order = saliency.flatten(1).argsort(dim=1, descending=False, stable=True)",
           "least salient pixels replaced first", (DI,)),
    Mutant(PATH, "return torch.trapezoid(scores, fractions.to(scores), dim=-1)",
           "return scores.mean(dim=-1)",
           "area under the curve as the mean score (ends not halved)", (DI,)),
    Mutant(PATH, "return perturbation_curve(model, inputs, target, saliency, start, x, steps,",
           "return perturbation_curve(model, inputs, target, saliency, x, start, steps,",
           "insertion runs from the image to the blurred copy (deletion with a blur)", (DI,)),
    Mutant(PATH, "picked = values.gather(1, classes[rows][:, None])[:, 0].double().cpu()",
           "picked = values.gather(1, classes[:1].expand(len(rows))[:, None])[:, 0]"
           ".double().cpu()",
           "the first image's target scored for every image", (DI,)),
]
