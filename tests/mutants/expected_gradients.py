"""Wrong Expected Gradients / GradientSHAP (course_lib/methods/expected_gradients.py)."""

from __future__ import annotations

from mutants import Mutant

PATH = "course_lib/methods/expected_gradients.py"
EG = "tests/test_expected_gradients.py"
EXACT = f"{EG}::test_matches_captum_exactly_with_the_same_draws"
LINEAR = f"{EG}::test_linear_model_converges_to_the_expected_baseline"
QUADRATIC = f"{EG}::test_quadratic_model_draws_alpha_uniformly"

MUTANTS = [
    Mutant(PATH, "alpha * end + (1 - alpha) * begin", "alpha * begin + (1 - alpha) * end",
           "the path point measured from the input instead of the baseline (α ↔ 1 − α: the "
           "same distribution, so only the exact comparison sees it)", (EXACT,)),
    Mutant(PATH, "total.index_add_(0, images, (end - begin) * gradient)",
           "total.index_add_(0, images, (x[images] - begin) * gradient)",
           "GradientSHAP multiplied by (x − x') instead of (x̃ − x'): the noise left out of the "
           "multiplier", (EXACT,)),
    Mutant(PATH, "int(torch.randint(k, (), generator=cpu))",
           "int(torch.randint(k - 1, (), generator=cpu))",
           "the last baseline of the pool is never drawn", (EXACT, LINEAR, QUADRATIC)),
    Mutant(PATH, "starts.append(pool[i if len(pool) > 1 else 0, index])",
           "starts.append(pool[0, index])",
           "every image draws from the first image's pool", (EXACT,)),
    Mutant(PATH, "cpu_seed, device_seed = sample_seeds(seed, i, s)",
           "cpu_seed, device_seed = sample_seeds(seed, i, item - items.start)",
           "draws seeded by the position in the pass: the result depends on batch_size",
           (f"{EG}::test_seeded_independent_of_batch_size_and_of_the_other_images", EXACT)),
    Mutant(PATH, "alphas.append(float(torch.rand((), generator=cpu, dtype=torch.float64)))",
           "alphas.append(0.5 * float(torch.rand((), generator=cpu, dtype=torch.float64)))",
           "α drawn from U(0, 1/2): only the first half of the path", (EXACT, QUADRATIC)),
    Mutant(PATH, "ends.append(x[i] + sigma[i] * torch.randn(",
           "ends.append(x[i] + sigma[0] * torch.randn(",
           "the first image's noise level used for every image", (EXACT,)),
    Mutant(PATH, "gradient = class_score_gradient(model, alpha * end + (1 - alpha) * begin,\n"
                 "                                            classes[images])",
           "gradient = class_score_gradient(model, alpha * end + (1 - alpha) * begin,\n"
           "                                            classes[images.flip(0)])",
           "targets paired with the wrong samples", (EXACT,)),
    Mutant(PATH, "return (total / n_samples).to(inputs.device)",
           "return (total / (n_samples + 1)).to(inputs.device)",
           "the mean divides by one sample too many",
           (EXACT, f"{EG}::test_linear_model_closed_form_with_the_drawn_baselines")),
    Mutant(PATH, "2, classes[:, None, None].expand(-1, pool.shape[1], 1))[..., 0].mean(dim=1)",
           "2, classes[:, None, None].expand(-1, pool.shape[1], 1))[..., 0].amax(dim=1)",
           "the expected baseline score taken as the largest instead of the mean",
           (f"{EG}::test_expected_completeness_gap",)),
]
