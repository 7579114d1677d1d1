"""Every method of the course in one list, so that the benchmark can run them all.

A method joins the benchmark with **one line**: a :class:`Method` added to
:data:`METHODS` (or passed to :func:`register`). The line says how to compute the
method's attribution on a model under test (a :class:`Setup`, which carries the model
and the settings every method shares on it), and what the benchmark needs to know
about it::

    register(Method("LRP-ε", "relevance", lambda s, x, t: course.lrp(s.model, x, t, rule="epsilon"),
                    passes=lambda s: (1, 1)))

Fields (all but the first three optional):

``name``, ``family``
    the label in every table and figure, and the family it belongs to;
``attribute(setup, images, targets)``
    the attribution, ``(N, 3, H, W)`` or ``(N, H, W)``, for a chunk of images, each
    explained for its own target class; settings come from ``setup`` so that every
    test uses the same ones;
``aggregate``
    how a three-channel attribution becomes the 2-D map every test ranks
    (``"max_abs"``, the course's convention, by default);
``passes(setup)``
    ``(forward, backward)`` images through the model per explained image — the cost
    estimate of the benchmark;
``differentiable(setup, model, images, targets)``
    the same 2-D map with the autograd graph kept (:mod:`course_lib.evaluation.
    differentiable`), or ``None``: only methods with one take the top-k attack;
``control``
    ``True`` for the baselines that do not look at the model (a random map, the
    colourfulness of the image): every table shows them, the sanity checks must fail
    them.

Per-image results never depend on which other images share a chunk: methods with
random draws (SmoothGrad, the random map) seed every image the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from course_lib.checks import check_batch_size, prepare
from course_lib.evaluation import differentiable as diff
from course_lib.maps import aggregate_channels
from course_lib.methods.cam import grad_cam, grad_cam_plus_plus
from course_lib.methods.deeplift import deeplift
from course_lib.methods.expected_gradients import expected_gradients
from course_lib.methods.gradients import deconvnet, guided_backprop, vanilla_gradient
from course_lib.methods.integrated_gradients import integrated_gradients
from course_lib.methods.kernel_shap import kernel_shap
from course_lib.methods.lime import lime
from course_lib.methods.lrp import lrp
from course_lib.methods.occlusion import occlusion
from course_lib.methods.rise import rise
from course_lib.methods.smoothgrad import check_noise, check_seed, noise_sigma, noisy_gradients
from course_lib.model_state import attribution_mode


@dataclass
class Setup:
    """A model under test and the settings that every method and test use on it."""

    name: str                       # "small_cnn" or "lite0": the key of the result files
    model: nn.Module
    cam_layer: str                  # the layer Grad-CAM explains, by name
    noise_level: float = 0.15       # SmoothGrad σ as a fraction of the pixel range
    sg_samples: int = 16            # SmoothGrad / SmoothGrad² / VarGrad samples
    ig_steps: int = 16              # Integrated Gradients: Gauss–Legendre nodes, black baseline
    occlusion_patch: int = 32
    occlusion_stride: int = 16
    occlusion_fill: float = 0.5
    batch_size: int = 4             # images per forward/backward pass (small batches are
                                    # faster on a CPU for 224-pixel images)
    block: int = 4                  # removal cells (pixels per side) of the MoRF/LeRF games
    blur_sigma: float = 5.0         # the blurred fill
    attack_samples: int = 2         # SmoothGrad / IG samples inside the top-k attack's objective
    top_k: int = 1000               # k of the top-k intersection
    image_size: int = 224           # side of the (square) images
    eg_samples: int = 16            # Expected Gradients: (baseline, α) draws per image
    segments: int = 50              # LIME / KernelSHAP: SLIC superpixels per image
    lime_samples: int = 200         # LIME coalitions per image
    shap_samples: int = 200         # KernelSHAP coalitions per image (full and empty included)
    rise_masks: int = 200           # RISE masks per image
    rise_cells: int = 7             # RISE grid (cells per side)
    extra: dict = field(default_factory=dict)   # settings of methods added later


Attribute = Callable[[Setup, torch.Tensor, torch.Tensor], torch.Tensor]
Differentiable = Callable[[Setup, nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """One row of the benchmark: see the module docstring for the fields."""

    name: str
    family: str
    attribute: Attribute
    passes: Callable[[Setup], tuple[int, int]] = lambda s: (1, 1)
    aggregate: str = "max_abs"
    differentiable: Differentiable | None = None
    control: bool = False


METHODS: list[Method] = []


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (names must be unique); returns it."""
    if any(m.name == method.name for m in METHODS):
        raise ValueError(f"a method named {method.name!r} is already registered")
    METHODS.append(method)
    return method


def method_names(include_controls: bool = True) -> list[str]:
    """Names of the registered methods, in registration order."""
    return [m.name for m in METHODS if include_controls or not m.control]


def get(name: str) -> Method:
    """The registered method called ``name``."""
    for method in METHODS:
        if method.name == name:
            return method
    raise KeyError(f"no method {name!r}; registered: {method_names()}")


def to_map(method: Method, attribution: torch.Tensor) -> torch.Tensor:
    """The 2-D map ``(N, H, W)`` every test ranks: three channels collapsed by ``aggregate``."""
    values = attribution.detach().float()
    if values.ndim == 4:
        values = aggregate_channels(values, method.aggregate)
    return values


# ----------------------------------------------------------------------------- helpers

def smoothgrad_statistics(model: nn.Module, x: torch.Tensor, t: torch.Tensor,
                          noise_level: float, n_samples: int, batch_size: int,
                          seed: int = 0) -> dict[str, torch.Tensor]:
    """SmoothGrad, SmoothGrad² and VarGrad from *one* set of noisy gradients.

    The same numbers as three calls of :func:`course_lib.smoothgrad` with the same
    arguments (the same noise, in the same order), at a third of the cost.
    """
    check_noise(noise_level, n_samples)
    seed = check_seed(seed)
    model, xd, classes = prepare(model, x, t)
    samples_per_pass = max(1, check_batch_size(batch_size) // len(xd))
    sigma = noise_sigma(xd, noise_level)
    total, total_sq = torch.zeros_like(xd), torch.zeros_like(xd)
    with attribution_mode(model):
        for start in range(0, n_samples, samples_per_pass):
            samples = range(start, min(start + samples_per_pass, n_samples))
            gradients = noisy_gradients(model, xd, classes, sigma, samples, seed)
            total += gradients.sum(dim=1)
            total_sq += gradients.pow(2).sum(dim=1)
    mean, mean_sq = total / n_samples, total_sq / n_samples
    return {"smoothgrad": mean.to(x.device), "smoothgrad_sq": mean_sq.to(x.device),
            "vargrad": (mean_sq - mean.pow(2)).to(x.device)}


_CACHE: dict[str, object] = {}


def _state_key(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``model`` is replaced or changed in place."""
    return tuple((id(v), v._version) for v in (*model.parameters(), *model.buffers()))


def _smoothgrad(statistic: str) -> Attribute:
    """SmoothGrad-family attribution; the three statistics share one cached computation."""
    def attribute(s: Setup, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        key = (_state_key(s.model), tuple(image_seed(image) for image in x),
               tuple(int(c) for c in torch.as_tensor(t).flatten()), s.noise_level,
               s.sg_samples, s.batch_size)
        if _CACHE.get("key") != key or _CACHE.get("model") is not s.model:
            _CACHE.clear()
            maps = [smoothgrad_statistics(s.model, x[i:i + 1], t[i:i + 1], s.noise_level,
                                          s.sg_samples, s.batch_size) for i in range(len(x))]
            _CACHE.update(key=key, model=s.model, value={
                name: torch.cat([m[name] for m in maps]) for name in maps[0]})
        return _CACHE["value"][statistic]
    return attribute


def per_image(x: torch.Tensor, attribute: Callable[[torch.Tensor, int], torch.Tensor]
              ) -> torch.Tensor:
    """``attribute(x[i:i+1], i)`` for every image, concatenated: for methods whose random
    draws depend on an image's place in the batch, so that a chunk cannot change them."""
    return torch.cat([attribute(x[i:i + 1], i) for i in range(len(x))])


def image_seed(image: torch.Tensor) -> int:
    """A seed taken from an image's content: the same image always gets the same number."""
    data = image.detach().float().cpu().contiguous().numpy().tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=6).digest(), "little")


def random_map(x: torch.Tensor) -> torch.Tensor:
    """Uniform random values, one map per image, seeded by the image's content."""
    return torch.stack([torch.rand(x.shape[-2:], generator=torch.Generator().manual_seed(
        image_seed(image))) for image in x]).to(x.device)


def colourfulness(x: torch.Tensor) -> torch.Tensor:
    """Largest minus smallest colour channel of each pixel: vivid pixels bright, grey ones dark."""
    return x.amax(dim=1) - x.amin(dim=1)


# ----------------------------------------------------------------------------- the methods
# One line per method. Costs: (forward, backward) images per explained image.

register(Method("vanilla gradient", "gradient",
                lambda s, x, t: vanilla_gradient(s.model, x, t, batch_size=s.batch_size),
                differentiable=lambda s, m, x, t: diff.gradient_map(m, x, t)))
register(Method("gradient × input", "gradient",
                lambda s, x, t: vanilla_gradient(s.model, x, t, batch_size=s.batch_size) * x,
                differentiable=lambda s, m, x, t: diff.gradient_x_input_map(m, x, t)))
register(Method("DeconvNet", "ReLU rule",
                lambda s, x, t: deconvnet(s.model, x, t, batch_size=s.batch_size)))
register(Method("guided backprop", "ReLU rule",
                lambda s, x, t: guided_backprop(s.model, x, t, batch_size=s.batch_size)))
register(Method("Grad-CAM", "CAM",
                lambda s, x, t: grad_cam(s.model, x, t, s.cam_layer, batch_size=s.batch_size),
                differentiable=lambda s, m, x, t: diff.cam_map(m, x, t, s.cam_layer)))
register(Method("Grad-CAM++", "CAM",
                lambda s, x, t: grad_cam_plus_plus(s.model, x, t, s.cam_layer,
                                                   batch_size=s.batch_size),
                differentiable=lambda s, m, x, t: diff.cam_map(m, x, t, s.cam_layer, True)))
register(Method("Guided Grad-CAM", "CAM",
                lambda s, x, t: guided_backprop(s.model, x, t, batch_size=s.batch_size)
                * grad_cam(s.model, x, t, s.cam_layer, batch_size=s.batch_size)[:, None],
                passes=lambda s: (2, 2)))
register(Method("SmoothGrad", "noise", _smoothgrad("smoothgrad"),
                passes=lambda s: (s.sg_samples, s.sg_samples),
                differentiable=lambda s, m, x, t: diff.smoothgrad_map(
                    m, x, t, "smoothgrad", s.noise_level, s.attack_samples)))
register(Method("SmoothGrad²", "noise", _smoothgrad("smoothgrad_sq"),
                passes=lambda s: (0, 0),    # shares SmoothGrad's noisy gradients
                differentiable=lambda s, m, x, t: diff.smoothgrad_map(
                    m, x, t, "smoothgrad_sq", s.noise_level, s.attack_samples)))
register(Method("VarGrad", "noise", _smoothgrad("vargrad"),
                passes=lambda s: (0, 0),    # shares SmoothGrad's noisy gradients
                differentiable=lambda s, m, x, t: diff.smoothgrad_map(
                    m, x, t, "vargrad", s.noise_level, s.attack_samples)))
register(Method("Integrated Gradients", "path",
                lambda s, x, t: integrated_gradients(s.model, x, t, steps=s.ig_steps,
                                                     batch_size=s.batch_size, progress=False),
                passes=lambda s: (s.ig_steps, s.ig_steps),
                differentiable=lambda s, m, x, t: diff.integrated_gradients_map(
                    m, x, t, s.attack_samples)))
register(Method("LRP (CMP)", "relevance",
                lambda s, x, t: lrp(s.model, x, t, composite="cmp", batch_size=s.batch_size,
                                    progress=False)))
register(Method("DeepLIFT", "relevance",
                lambda s, x, t: deeplift(s.model, x, t, baseline="black",
                                         batch_size=s.batch_size, progress=False),
                passes=lambda s: (2, 2)))
register(Method("Expected Gradients", "path",
                lambda s, x, t: per_image(x, lambda xi, i: expected_gradients(
                    s.model, xi, t[i:i + 1], n_samples=s.eg_samples,
                    batch_size=s.batch_size, progress=False)),
                passes=lambda s: (s.eg_samples, s.eg_samples)))
register(Method("occlusion", "perturbation",
                lambda s, x, t: occlusion(s.model, x, t, patch=s.occlusion_patch,
                                          stride=s.occlusion_stride, fill=s.occlusion_fill,
                                          batch_size=s.batch_size, progress=False),
                passes=lambda s: (occlusion_windows(s) + 1, 0)))
register(Method("LIME", "perturbation",
                lambda s, x, t: lime(s.model, x, t, n_samples=s.lime_samples,
                                     n_segments=s.segments, batch_size=4 * s.batch_size,
                                     progress=False),
                passes=lambda s: (s.lime_samples, 0)))
register(Method("KernelSHAP", "perturbation",
                lambda s, x, t: kernel_shap(s.model, x, t, n_samples=s.shap_samples,
                                            n_segments=s.segments,
                                            batch_size=4 * s.batch_size, progress=False),
                passes=lambda s: (s.shap_samples, 0)))
register(Method("RISE", "perturbation",
                lambda s, x, t: rise(s.model, x, t, n_masks=s.rise_masks, cells=s.rise_cells,
                                     batch_size=4 * s.batch_size, progress=False),
                passes=lambda s: (s.rise_masks, 0)))
register(Method("random map", "control", lambda s, x, t: random_map(x), passes=lambda s: (0, 0),
                control=True))
register(Method("colourfulness", "control", lambda s, x, t: colourfulness(x),
                passes=lambda s: (0, 0), control=True))


def occlusion_windows(setup: Setup) -> int:
    """Patch positions of occlusion on the setup's images (square images assumed)."""
    from course_lib.methods.occlusion import patch_positions

    return len(patch_positions(setup.image_size, setup.occlusion_patch,
                               setup.occlusion_stride)) ** 2
