r"""Checkers for the exercises: is my answer right, and if not, what is wrong with it?

Each checker runs your function (or takes your number) and the course's reference on a few
small, fast cases — a tiny random network on small images, never the big model — prints ``✓``
or a ``✗`` with an explanation (shape, sign, scale, largest error and where), and returns
``True`` or ``False``::

    course.check.vanilla_gradient(my_gradient)      # my_gradient(model, inputs, target)

The checkers never touch your model or your random-number state (they build their own tiny
models inside :func:`torch.random.fork_rng`). If your function raises, the checker reports the
exception instead of crashing.

=====================================  ===========================================================
notebook · exercise                    checker
=====================================  ===========================================================
00 · 1                                 :func:`attribution_size`
01 · section 3 (and later)             :func:`vanilla_gradient`, :func:`gradient_x_input`
01 · 1, 2                              :func:`runner_up_gradient`, :func:`probability_gradient`
02 · 1, 2, 3, 4                        :func:`guided_backprop` (:func:`deconvnet`),
                                       :func:`relu_rule_names`, :func:`gradient_x_input`,
                                       :func:`swap_restores_model`
03 · 1, 2, 3, 4                        :func:`cam`, :func:`counterfactual_cam`,
                                       :func:`probability_grad_cam`, :func:`capture_removes_hook`
04 · 1, 2, 3, 4                        :func:`smoothgrad`, :func:`noisy_copies`,
                                       :func:`smoothgrad_guided`, :func:`samples_needed`
05 · 1, 2, 3, 4                        :func:`saturated_unit_ig`, :func:`integrated_gradients`,
                                       :func:`dark_pixel_share`, :func:`substituted_midpoint_rule`
07 · 1, 3, 4                           :func:`occlusion_passes`, :func:`occlusion`,
                                       :func:`shapley_values`
09 · 1, 2, 3, 4                        :func:`roc_auc_ranks`, :func:`bootstrap_interval`,
                                       :func:`sanity_pass`, :func:`fails_only_on_lite0`
10 · 1, 2, 3, 4                        :func:`impute_by_averaging`, :func:`kendall_tau_b`,
                                       :func:`split_half`, :func:`most_disagreeing`
11 · 1, 2, 3, 4                        :func:`noise_intersection`, :func:`surrogate_probabilities`,
                                       :func:`grad_cam_objective`, :func:`centre_of_mass`
=====================================  ===========================================================
"""

from course_lib.teaching.checkers.common import Mismatch, compare  # noqa: F401 (helpers)
from course_lib.teaching.checkers.evaluation import (bootstrap_interval, fails_only_on_lite0,
                                                     impute_by_averaging, kendall_tau_b,
                                                     most_disagreeing, roc_auc_ranks,
                                                     sanity_pass, split_half)
from course_lib.teaching.checkers.fragility import (centre_of_mass, grad_cam_objective,
                                                    noise_intersection,
                                                    surrogate_probabilities)
from course_lib.teaching.checkers.grad_cam import (cam, capture_removes_hook, counterfactual_cam,
                                                   probability_grad_cam)
from course_lib.teaching.checkers.integrated_gradients import (dark_pixel_share,
                                                               integrated_gradients,
                                                               saturated_unit_ig,
                                                               substituted_midpoint_rule)
from course_lib.teaching.checkers.introduction import attribution_size
from course_lib.teaching.checkers.occlusion import occlusion, occlusion_passes, shapley_values
from course_lib.teaching.checkers.relu_rules import (deconvnet, guided_backprop, relu_rule_names,
                                                     swap_restores_model)
from course_lib.teaching.checkers.smoothgrad import (noisy_copies, samples_needed, smoothgrad,
                                                     smoothgrad_guided)
from course_lib.teaching.checkers.vanilla_gradient import (gradient_x_input,
                                                           probability_gradient,
                                                           runner_up_gradient, vanilla_gradient)

__all__ = [  # the checkers; Mismatch and compare are helpers
    # 09–11 · evaluation and fragility
    "bootstrap_interval", "centre_of_mass", "fails_only_on_lite0", "grad_cam_objective",
    "impute_by_averaging", "kendall_tau_b", "most_disagreeing", "noise_intersection",
    "roc_auc_ranks", "sanity_pass", "split_half", "surrogate_probabilities",
    "attribution_size", "cam", "capture_removes_hook", "counterfactual_cam", "dark_pixel_share",
    "deconvnet", "gradient_x_input", "guided_backprop", "integrated_gradients", "noisy_copies",
    "occlusion", "occlusion_passes", "probability_grad_cam", "probability_gradient",
    "relu_rule_names", "runner_up_gradient", "samples_needed", "saturated_unit_ig",
    "shapley_values", "smoothgrad", "smoothgrad_guided", "substituted_midpoint_rule",
    "swap_restores_model", "vanilla_gradient",
]
