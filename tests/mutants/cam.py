"""Wrong class activation maps (course_lib/methods/cam.py)."""

from mutants import Mutant

PATH = "course_lib/methods/cam.py"
CAM = "tests/test_cam.py"
CLOSED_FORM = f"{CAM}::test_cams_in_closed_form_after_global_pooling"

MUTANTS = [
    Mutant(PATH, "maps.append(F.relu((alpha[:, :, None, None] * activation).sum(dim=1)))",
           "maps.append((alpha[:, :, None, None] * activation).sum(dim=1))",
           "Grad-CAM without its ReLU", (CLOSED_FORM,)),
    Mutant(PATH, "alpha = gradient.mean(dim=(2, 3))", "alpha = gradient.sum(dim=(2, 3))",
           "α summed instead of averaged over the layer (a positive scale error)",
           (f"{CAM}::test_cams_match_pytorch_grad_cam_unnormalised",)),
    Mutant(PATH, 'mode="bilinear",', 'mode="nearest",', "CAM upsampled nearest instead of bilinear",
           (CLOSED_FORM,)),
    Mutant(PATH, "align_corners=False)[:, 0]", "align_corners=True)[:, 0]",
           "CAM upsampled with align_corners=True", (CLOSED_FORM,)),
    Mutant(PATH, "return (a * F.relu(gradient)).sum(dim=(2, 3))",
           "return (a * gradient).sum(dim=(2, 3))",
           "Grad-CAM++ weights without the ReLU of the gradient", (CLOSED_FORM,)),
    Mutant(PATH, "activation.sum(dim=(2, 3), keepdim=True) * gradient.pow(3)",
           "activation.mean(dim=(2, 3), keepdim=True) * gradient.pow(3)",
           "Grad-CAM++ denominator with the mean activation instead of the sum",
           (CLOSED_FORM,)),
    Mutant(PATH, "batch_size=batch_size) * cam[:, None]",
           "batch_size=batch_size) * "
           "(cam / cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None])[:, None]",
           "Guided Grad-CAM with a max-normalised CAM (magnitudes lost)",
           (f"{CAM}::test_guided_grad_cam_matches_captum",)),
    Mutant(PATH, "        return output.clone()", "        return output",
           "the recorded activation is overwritten by an in-place operation after the layer",
           (f"{CAM}::test_grad_cam_on_a_layer_followed_by_an_inplace_add",)),
    Mutant(PATH, "logits.gather(1, classes[:, None]).sum(), activation)",
           "logits[:, classes[0]].sum(), activation)",
           "CAM of the first image's target for every image", (CLOSED_FORM,)),
    Mutant(PATH, "    try:\n        yield outputs\n    finally:\n        handle.remove()",
           "    yield outputs\n    handle.remove()",
           "the forward hook stays on the model after an exception",
           ("tests/test_model_safety.py::test_model_left_as_found_after_exception",)),
]
