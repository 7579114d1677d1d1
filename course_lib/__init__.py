"""course_lib: the helper library of the pixel-attribution course.

Small on purpose, and grouped so that its folders show the architecture. Arrows only
point down this list: a module imports from the groups below it, never above.

==================  ============================================================
``teaching``        exercise checkers (``check``), the SmoothGrad explorer,
                    plotting, ``setup()``
``evaluation``      ground truth (localisation), sanity checks, deletion and
                    insertion (MoRF/LeRF, fills), robustness, fragility;
                    statistics, the method registry and the benchmark
``methods``         gradients, ReLU rules, CAMs, SmoothGrad, Integrated
                    Gradients, Expected Gradients, occlusion, LRP (rules, composites,
                    canonizers), DeepLIFT; superpixels, coalitions, LIME, KernelSHAP
                    and exact Shapley values, RISE; ``forward`` (scores without
                    gradients)
``models``          EfficientNet-Lite0 (offline), the small CNN, loaders, training
``data``            sample photos, a learner's own file, synthetic shapes
root modules        ``checks`` (clear errors), ``model_state`` (leave the model
                    as found), ``maps`` (channel aggregation, map comparison),
                    ``cost`` (forward and backward passes counted)
==================  ============================================================

Every public name is available at the top level, ``course.grad_cam`` and so on
(``import course_lib as course``). The names are loaded on first use: a notebook
that never draws a figure or opens a widget does not pay for Matplotlib or
ipywidgets, which matters on a 2 GB Binder machine.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name → (module inside course_lib, attribute; None for the module itself)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    # methods
    "vanilla_gradient": ("methods.gradients", "vanilla_gradient"),
    "gradient_x_input": ("methods.gradients", "gradient_x_input"),
    "deconvnet": ("methods.gradients", "deconvnet"),
    "guided_backprop": ("methods.gradients", "guided_backprop"),
    "relu_backward_rule": ("methods.relu_rules", "relu_backward_rule"),
    "grad_cam": ("methods.cam", "grad_cam"),
    "grad_cam_plus_plus": ("methods.cam", "grad_cam_plus_plus"),
    "guided_grad_cam": ("methods.cam", "guided_grad_cam"),
    "smoothgrad": ("methods.smoothgrad", "smoothgrad"),
    "integrated_gradients": ("methods.integrated_gradients", "integrated_gradients"),
    "make_baseline": ("methods.integrated_gradients", "make_baseline"),
    "completeness_gap": ("methods.integrated_gradients", "completeness_gap"),
    "expected_gradients": ("methods.expected_gradients", "expected_gradients"),
    "gradient_shap": ("methods.expected_gradients", "gradient_shap"),
    "expected_completeness_gap": ("methods.expected_gradients", "expected_completeness_gap"),
    "occlusion": ("methods.occlusion", "occlusion"),
    "lrp": ("methods.lrp", "lrp"),
    "lrp_relevance_by_layer": ("methods.lrp", "lrp_relevance_by_layer"),
    "lrp_rules": ("methods.lrp_rules", None),
    "fold_batchnorm": ("methods.canonizers", "fold_batchnorm"),
    "deeplift": ("methods.deeplift", "deeplift"),
    "superpixels": ("methods.superpixels", "superpixels"),
    "grid_segments": ("methods.superpixels", "grid_segments"),
    "paint_superpixels": ("methods.superpixels", "paint"),
    "coalition_scores": ("methods.coalitions", "coalition_scores"),
    "all_coalitions": ("methods.coalitions", "all_coalitions"),
    "lime": ("methods.lime", "lime"),
    "kernel_shap": ("methods.kernel_shap", "kernel_shap"),
    "exact_shapley": ("methods.kernel_shap", "exact_shapley"),
    "shapley_from_values": ("methods.kernel_shap", "shapley_from_values"),
    "rise": ("methods.rise", "rise"),
    "rise_masks": ("methods.rise", "rise_masks"),
    # evaluation
    "pointing_game": ("evaluation.localisation", "pointing_game"),
    "mass_inside_mask": ("evaluation.localisation", "mass_inside_mask"),
    "mask_roc_auc": ("evaluation.localisation", "mask_roc_auc"),
    "removal_curves": ("evaluation.deletion_insertion", "removal_curves"),
    "fill_removed": ("evaluation.imputation", "fill_removed"),
    "max_sensitivity": ("evaluation.robustness", "max_sensitivity"),
    "score_changes": ("evaluation.robustness", "score_changes"),
    "infidelity": ("evaluation.robustness", "infidelity"),
    "bootstrap_mean": ("evaluation.statistics", "bootstrap_mean"),
    "kendall_tau": ("evaluation.statistics", "kendall_tau"),
    "split_half_reliability": ("evaluation.statistics", "split_half_reliability"),
    "benchmark_methods": ("evaluation.registry", "METHODS"),
    "load_benchmark_results": ("evaluation.benchmark", "load_results"),
    "cascade_layers": ("evaluation.sanity_checks", "cascade_layers"),
    "cascading_randomization": ("evaluation.sanity_checks", "cascading_randomization"),
    "model_randomization_test": ("evaluation.sanity_checks", "model_randomization_test"),
    "deletion_curve": ("evaluation.deletion_insertion", "deletion_curve"),
    "insertion_curve": ("evaluation.deletion_insertion", "insertion_curve"),
    "random_saliency": ("evaluation.deletion_insertion", "random_saliency"),
    "softplus_relus": ("evaluation.fragility", "softplus_relus"),
    "top_k_attack": ("evaluation.fragility", "top_k_attack"),
    "random_sign_noise": ("evaluation.fragility", "random_sign_noise"),
    "top_k_intersection": ("evaluation.fragility", "top_k_intersection"),
    # models
    "load_efficientnet_lite0": ("models.loaders", "load_efficientnet_lite0"),
    "load_torchvision_model": ("models.loaders", "load_torchvision_model"),
    "WeightsUnavailableError": ("models.loaders", "WeightsUnavailableError"),
    "imagenet_classes": ("models.loaders", "imagenet_classes"),
    "class_index": ("models.loaders", "class_index"),
    "top_k": ("models.loaders", "top_k"),
    "load_small_cnn": ("models.small_cnn", "load_small_cnn"),
    "train_small_cnn": ("models.small_cnn", "train_small_cnn"),
    # data
    "SAMPLE_PHOTOS": ("data.images", "SAMPLE_PHOTOS"),
    "sample_photo": ("data.images", "sample_photo"),
    "load_photos": ("data.images", "load_photos"),
    "load_image": ("data.images", "load_image"),
    "open_own_image": ("data.images", "open_own_image"),
    "preprocess": ("data.images", "preprocess"),
    "to_display": ("data.images", "to_display"),
    "make_shapes": ("data.synthetic", "make_shapes"),
    "load_benchmark_photos": ("data.benchmark_photos", "load_benchmark_photos"),
    "SHAPE_CLASSES": ("data.synthetic", "CLASS_NAMES"),
    # root
    "aggregate_channels": ("maps", "aggregate_channels"),
    "count_passes": ("cost", "count_passes"),
    "rank_correlation": ("maps", "rank_correlation"),
    # teaching
    "check": ("teaching.check", None),
    "SmoothGradExplorer": ("teaching.explorer", "SmoothGradExplorer"),
    "setup": ("teaching.session", "setup"),
    "plot_grid": ("teaching.plotting", "plot_grid"),
    "show_image": ("teaching.plotting", "show_image"),
    "show_abs_map": ("teaching.plotting", "show_abs_map"),
    "show_signed_map": ("teaching.plotting", "show_signed_map"),
    "show_overlay": ("teaching.plotting", "show_overlay"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562), then keep it here."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    module = importlib.import_module(f"course_lib.{module_name}")
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
