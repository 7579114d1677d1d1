"""Wrong occlusion maps (course_lib/methods/occlusion.py)."""

from mutants import Mutant

PATH = "course_lib/methods/occlusion.py"
OCC = "tests/test_occlusion.py"

MUTANTS = [
    Mutant(PATH, "fill_value[i, :, top:top + patch, left:left + patch]",
           "fill_value[0, :, top:top + patch, left:left + patch]",
           "the first image's fill used for every image", (OCC,)),
    Mutant(PATH, "return (total / count).to(inputs.device)", "return total.to(inputs.device)",
           "score drops summed, not divided by the number of patches covering a pixel", (OCC,)),
    Mutant(PATH, "drop = reference[i] - class_scores(model, occluded, classes[i:i + 1])",
           "drop = class_scores(model, occluded, classes[i:i + 1]) - reference[i]",
           "sign flipped: score rise instead of score drop", (OCC,)),
    Mutant(PATH, "drop = reference[i] - class_scores(model, occluded, classes[i:i + 1])",
           "drop = reference[i] - class_scores(model, occluded, classes[:1])",
           "the first image's target scored for every image", (OCC,)),
    Mutant(PATH, "math.ceil((size - patch) / stride) + 1", "(size - patch) // stride + 1",
           "the last window dropped when it would stick out (border never covered)", (OCC,)),
    Mutant(PATH, "for left in patch_positions(width, patch, stride)]",
           "for left in patch_positions(height, patch, stride)]",
           "window positions along the width computed from the height", (OCC,)),
]
