"""Wrong maps from the gradient methods (course_lib/methods/gradients.py)."""

from mutants import Mutant

PATH = "course_lib/methods/gradients.py"
CAPTUM = "tests/test_against_captum.py"
CLOSED_FORM = "tests/test_gradients.py::test_linear_model_gradient_is_the_weight_row_per_image"

MUTANTS = [
    Mutant(PATH, "score = logits.gather(1, target[:, None]).sum()",
           "score = logits[:, target[0]].sum()",
           "the first image's target used for every image of the batch",
           (f"{CAPTUM}::test_matches_captum",)),
    Mutant(PATH, "score = logits.gather(1, target[:, None]).sum()",
           "score = logits.softmax(dim=1).gather(1, target[:, None]).sum()",
           "the softmax probability back-propagated instead of the logit",
           (f"{CAPTUM}::test_matches_captum",)),
    Mutant(PATH, "    return gradient.to(inputs.device)",
           "    return gradient.abs().to(inputs.device)",
           "vanilla gradient unsigned, |∂z/∂x| (Captum's Saliency default)",
           (f"{CAPTUM}::test_matches_captum",)),
    Mutant(PATH, "return _attribute(model, inputs, target, batch_size) * inputs",
           "return _attribute(model, inputs, target, batch_size) * inputs.clamp(0, 1)",
           "gradient × input assumes pixels in [0, 1] (clamps the input)",
           (CLOSED_FORM,)),
    Mutant(PATH, 'return _attribute(model, inputs, target, batch_size, rule="deconvnet")',
           'return _attribute(model, inputs, target, batch_size, rule="guided")',
           "DeconvNet computed with the guided-backprop rule",
           (f"{CAPTUM}::test_matches_captum",)),
    Mutant(PATH, "zip(x.split(batch_size), classes.split(batch_size))",
           "zip(x.split(batch_size), classes[:batch_size].repeat(len(x)).split(batch_size))",
           "each chunk reuses the first chunk's targets",
           (CLOSED_FORM,)),
]
