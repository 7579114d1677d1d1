"""course_lib: the helper library of the pixel-attribution course.

Small on purpose. Each module is one idea:

==================  ============================================================
``models``          EfficientNet-Lite0 (offline) and optional torchvision models
``images``          sample photos, a learner's own file, preprocessing
``gradients``       vanilla gradient, gradient × input, DeconvNet, guided backprop
``cam``             Grad-CAM, Grad-CAM++, Guided Grad-CAM
``smoothgrad``      SmoothGrad, SmoothGrad², VarGrad
``explorer``        the SmoothGrad explorer widget
``integrated_gradients``  Integrated Gradients, baselines, completeness
``occlusion``       occlusion
``synthetic``       synthetic shapes with known evidence masks (ground truth)
``small_cnn``       a small CNN trained on the shapes; its shipped weights
``localisation``    pointing game, attribution mass inside the mask
``sanity_checks``   cascading model randomization (Adebayo et al. 2018)
``deletion_insertion``  deletion and insertion curves (Petsiuk et al. 2018)
``fragility``       top-k attack on saliency maps, softplus surrogate (Ghorbani et al. 2019)
``relu_rules``      the three backward rules of a ReLU, swapped in and out
``model_state``     leave the model exactly as it was found
``checks``          clear errors for wrong arguments
``check``           exercise checkers: ``course.check.vanilla_gradient(my_fn)`` prints ✓ or why not
``maps``            channel aggregation, map comparison
``plotting``        one figure style for the course
``session``         ``setup()``: seed, style, threads, device
==================  ============================================================
"""

from course_lib import check
from course_lib.cam import grad_cam, grad_cam_plus_plus, guided_grad_cam
from course_lib.deletion_insertion import deletion_curve, insertion_curve, random_saliency
from course_lib.explorer import SmoothGradExplorer
from course_lib.fragility import (random_sign_noise, softplus_relus, top_k_attack,
                                  top_k_intersection)
from course_lib.gradients import deconvnet, gradient_x_input, guided_backprop, vanilla_gradient
from course_lib.images import (SAMPLE_PHOTOS, load_image, load_photos, open_own_image,
                               preprocess, sample_photo, to_display)
from course_lib.integrated_gradients import completeness_gap, integrated_gradients, make_baseline
from course_lib.localisation import mass_inside_mask, pointing_game
from course_lib.maps import aggregate_channels, rank_correlation
from course_lib.models import (WeightsUnavailableError, class_index, imagenet_classes,
                               load_efficientnet_lite0, load_torchvision_model, top_k)
from course_lib.occlusion import occlusion
from course_lib.plotting import (plot_grid, show_abs_map, show_image, show_overlay,
                                 show_signed_map)
from course_lib.relu_rules import relu_backward_rule
from course_lib.sanity_checks import (cascade_layers, cascading_randomization,
                                      model_randomization_test)
from course_lib.session import setup
from course_lib.small_cnn import load_small_cnn, train_small_cnn
from course_lib.smoothgrad import smoothgrad
from course_lib.synthetic import CLASS_NAMES as SHAPE_CLASSES
from course_lib.synthetic import make_shapes

__all__ = [
    "SAMPLE_PHOTOS", "SHAPE_CLASSES", "SmoothGradExplorer", "WeightsUnavailableError",
    "aggregate_channels", "cascade_layers", "cascading_randomization", "check", "class_index",
    "completeness_gap", "deconvnet", "deletion_curve", "grad_cam", "grad_cam_plus_plus",
    "gradient_x_input", "guided_backprop", "guided_grad_cam", "imagenet_classes",
    "insertion_curve", "integrated_gradients", "load_efficientnet_lite0", "load_image",
    "load_photos", "load_small_cnn", "load_torchvision_model", "make_baseline", "make_shapes",
    "mass_inside_mask", "model_randomization_test", "occlusion", "open_own_image", "plot_grid",
    "pointing_game", "preprocess", "random_saliency", "random_sign_noise", "rank_correlation",
    "relu_backward_rule", "sample_photo", "setup", "show_abs_map", "show_image", "show_overlay",
    "show_signed_map", "smoothgrad", "softplus_relus", "to_display", "top_k", "top_k_attack",
    "top_k_intersection", "train_small_cnn", "vanilla_gradient",
]
