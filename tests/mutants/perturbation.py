"""Planted bugs in the superpixel methods (LIME, KernelSHAP, exact Shapley values) and RISE."""

from __future__ import annotations

from mutants import Mutant

SUPERPIXELS = "course_lib/methods/superpixels.py"
COALITIONS = "course_lib/methods/coalitions.py"
LIME = "course_lib/methods/lime.py"
SHAP = "course_lib/methods/kernel_shap.py"
RISE = "course_lib/methods/rise.py"

MUTANTS = [
    Mutant(SHAP, "size_probability = (n_players - 1) / (sizes * (n_players - sizes))",
           "size_probability = torch.ones_like(sizes)",
           "KernelSHAP draws coalition sizes uniformly instead of from the Shapley kernel",
           ("tests/test_kernel_shap.py::test_sizes_follow_the_shapley_kernel_and_subsets_are_uniform",)),
    Mutant(SHAP, "phi[-1] = delta - phi[:-1].sum(dim=0)", "phi[-1] = phi[:-1].mean(dim=0)",
           "efficiency not enforced: the eliminated player's value is not Δ − Σ of the others",
           ("tests/test_kernel_shap.py::test_kernel_shap_is_efficient",
            "tests/test_kernel_shap.py::test_kernel_shap_matches_captum_on_shared_coalitions")),
    Mutant(SHAP, "design = root[:, None] * (z[:, :-1] - z[:, -1:])",
           "design = root[:, None] * z[:, :-1]",
           "the eliminated player is dropped from the design instead of substituted",
           ("tests/test_kernel_shap.py::test_kernel_shap_matches_captum_on_shared_coalitions",
            "tests/test_kernel_shap.py::test_additive_model_gets_each_superpixels_own_effect")),
    Mutant(SHAP, "math.factorial(s) * math.factorial(n_players - s - 1)",
           "math.factorial(s) * math.factorial(n_players - s)",
           "exact Shapley weights s!(M − s)!/M! instead of s!(M − s − 1)!/M!",
           ("tests/test_kernel_shap.py::test_exact_shapley_matches_captum_shapley_values",
            "tests/test_kernel_shap.py::test_exact_shapley_of_an_interacting_game")),
    Mutant(LIME, "distance = 1 - torch.sqrt(z.sum(dim=1) / z.shape[1])",
           "distance = 1 - z.sum(dim=1) / z.shape[1]",
           "LIME's kernel on the share of superpixels switched off, not the cosine distance",
           ("tests/test_lime.py::test_matches_the_lime_package",
            "tests/test_lime.py::test_weighted_ridge_with_the_cosine_kernel_written_out")),
    Mutant(LIME, "design = torch.cat([root * (z - z_mean),", "design = torch.cat([root * z,",
           "LIME's ridge without centring: the intercept is penalised and the fit shifts",
           ("tests/test_lime.py::test_matches_captum_lime_on_shared_coalitions",)),
    Mutant(LIME, "    coalitions[0] = True\n", "",
           "LIME's first coalition is not the photo itself",
           ("tests/test_lime.py::test_cost_in_forward_passes",)),
    Mutant(COALITIONS, "keep = coalitions.gather(1, segments.flatten(1))",
           "keep = coalitions.roll(1, dims=1).gather(1, segments.flatten(1))",
           "coalition bit k switches superpixel k + 1: player and superpixel off by one",
           ("tests/test_superpixels.py::test_coalition_scores_match_masked_images_one_by_one",)),
    Mutant(SUPERPIXELS, "return values.to(segments.device).gather(1, segments.reshape(n, -1))",
           "return values.to(segments.device).gather(1, (segments.reshape(n, -1) + 1)"
           " % values.shape[1])",
           "each superpixel painted with its neighbour's value",
           ("tests/test_superpixels.py::test_paint_puts_each_value_on_its_pixels",
            "tests/test_kernel_shap.py::test_painted_map_carries_the_superpixel_values")),
    Mutant(SUPERPIXELS, "means = sums / counts.clamp(min=1)",
           "means = sums / counts.clamp(min=1).sum(dim=2, keepdim=True)",
           "the 'mean' fill divides by the image's pixel count, not the superpixel's",
           ("tests/test_superpixels.py::test_mean_fill_is_each_superpixels_mean_colour",)),
    Mutant(RISE, "return (total / (n_masks * p))", "return (total / n_masks)",
           "RISE without the 1/p normalisation by the expected mask value",
           ("tests/test_rise.py::test_constant_model_gets_its_constant_everywhere",
            "tests/test_rise.py::test_saliency_is_the_score_weighted_average_of_masks")),
    Mutant(RISE, "rows = up_rows[shifts[:, :1] + torch.arange(height)]",
           "rows = up_rows[0 * shifts[:, :1] + torch.arange(height)]",
           "RISE masks not shifted vertically: every cell border at the same rows",
           ("tests/test_rise.py::test_masks_follow_the_papers_recipe",)),
    Mutant(RISE, "masked = soft * x[image] + (1 - soft) * fill_images[image]",
           "masked = soft * x[image]",
           "RISE ignores the fill: masked pixels are black",
           ("tests/test_rise.py::test_saliency_is_the_score_weighted_average_of_masks",)),
    Mutant(RISE, "position = position.abs()  # mirror at the first cell's centre",
           "position = position.clamp(min=0)",
           "RISE's upsampling clamps at the border instead of mirroring like the paper's code",
           ("tests/test_rise.py::test_masks_follow_the_papers_recipe",)),
]
