"""Wrong occlusion maps (course_lib/methods/occlusion.py)."""

from mutants import Mutant

PATH = "course_lib/methods/occlusion.py"
OCC = "tests/test_occlusion.py"
CLOSED_FORM = f"{OCC}::test_linear_model_per_image_fill_target_and_range"

MUTANTS = [
    Mutant(PATH, "fill_value[i, :, top:top + patch, left:left + patch]",
           "fill_value[0, :, top:top + patch, left:left + patch]",
           "the first image's fill used for every image", (CLOSED_FORM,)),
    Mutant(PATH, "return (total / count).to(inputs.device)", "return total.to(inputs.device)",
           "score drops summed, not divided by the number of patches covering a pixel", (CLOSED_FORM,)),
    Mutant(PATH, "drop = reference[i] - class_scores(model, occluded, classes[i:i + 1])",
           "drop = class_scores(model, occluded, classes[i:i + 1]) - reference[i]",
           "sign flipped: score rise instead of score drop", (CLOSED_FORM,)),
    Mutant(PATH, "drop = reference[i] - class_scores(model, occluded, classes[i:i + 1])",
           "drop = reference[i] - class_scores(model, occluded, classes[:1])",
           "the first image's target scored for every image", (CLOSED_FORM,)),
    Mutant(PATH, "math.ceil((size - patch) / stride) + 1", "(size - patch) // stride + 1",
           "the last window dropped when it would stick out (border never covered)", (CLOSED_FORM,)),
    Mutant(PATH, "for left in patch_positions(width, patch, stride)]",
           "for left in patch_positions(height, patch, stride)]",
           "window positions along the width computed from the height", (CLOSED_FORM,)),
]
