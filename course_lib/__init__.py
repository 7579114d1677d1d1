"""course_lib: the helper library of the pixel-attribution course.

Small on purpose. Each module is one idea:

==================  ============================================================
``models``          EfficientNet-Lite0 (offline) and optional torchvision models
``images``          sample photos, a learner's own file, preprocessing
``gradients``       vanilla gradient, gradient × input, DeconvNet, guided backprop
``relu_rules``      the three backward rules of a ReLU, swapped in and out
``model_state``     leave the model exactly as it was found
``checks``          clear errors for wrong arguments
``maps``            channel aggregation, map comparison
``plotting``        one figure style for the course
``session``         ``setup()``: seed, style, threads, device
==================  ============================================================
"""

from course_lib.gradients import deconvnet, gradient_x_input, guided_backprop, vanilla_gradient
from course_lib.images import (SAMPLE_PHOTOS, load_image, load_photos, preprocess, sample_photo,
                               to_display)
from course_lib.maps import aggregate_channels, rank_correlation
from course_lib.models import (WeightsUnavailableError, class_index, imagenet_classes,
                               load_efficientnet_lite0, load_torchvision_model, top_k)
from course_lib.plotting import (plot_grid, show_abs_map, show_image, show_overlay,
                                 show_signed_map)
from course_lib.relu_rules import relu_backward_rule
from course_lib.session import setup

__all__ = [
    "SAMPLE_PHOTOS", "WeightsUnavailableError", "aggregate_channels", "class_index", "deconvnet",
    "gradient_x_input", "guided_backprop", "imagenet_classes", "load_efficientnet_lite0",
    "load_image", "load_photos", "load_torchvision_model", "plot_grid", "preprocess",
    "rank_correlation", "relu_backward_rule", "sample_photo", "setup", "show_abs_map",
    "show_image", "show_overlay", "show_signed_map", "to_display", "top_k", "vanilla_gradient",
]
