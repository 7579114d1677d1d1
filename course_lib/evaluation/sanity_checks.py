r"""Sanity checks for saliency maps: cascading model randomization.

Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS,
arXiv:1810.03292. If a map explains what the *trained* model computes, it must
change when the weights are destroyed. The cascading test re-initialises the
layers one step at a time **from the top (logits) down** — step 1 the classifier,
step 2 also the layer below it, … — and compares each randomized model's map
with the original map: a method that passes decorrelates quickly; a method whose
maps stay the same is (partly) independent of the learned weights.

Re-initialisation: each module of a randomized layer gets its own
``reset_parameters()`` — PyTorch's default initialisation for ``Conv2d`` and
``Linear`` (Kaiming-uniform), seeded. **BatchNorm** (``batchnorm="reset"``, the
default) is reset too: running mean 0, running variance 1, weight 1, bias 0, so a
randomized layer is exactly a freshly initialised one. With
``batchnorm="keep"`` the trained BatchNorm statistics and affine parameters
stay, and only weights with learnt *filters* are redrawn (closer to the paper's
Inception-v3 experiments, which re-draw the weights with a truncated normal).
The learner's model is never touched: every step works on a ``copy.deepcopy``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_inputs, check_model
from course_lib.maps import Aggregation, aggregate_channels, rank_correlation

BatchNormRule = Literal["reset", "keep"]
Steps = Sequence[str] | Mapping[str, Sequence[str]]
Method = Callable[[nn.Module, torch.Tensor, Target], torch.Tensor]

# EfficientNet-Lite0 (course_lib.models.efficientnet_lite), top-down, one step per stage.
LITE0_CASCADE: dict[str, tuple[str, ...]] = {
    "fc": ("fc",),
    "head": ("head",),
    "stage 7 (block 15)": ("blocks.15",),
    "stage 6 (blocks 11–14)": ("blocks.11", "blocks.12", "blocks.13", "blocks.14"),
    "stage 5 (blocks 8–10)": ("blocks.8", "blocks.9", "blocks.10"),
    "stage 4 (blocks 5–7)": ("blocks.5", "blocks.6", "blocks.7"),
    "stage 3 (blocks 3–4)": ("blocks.3", "blocks.4"),
    "stage 2 (blocks 1–2)": ("blocks.1", "blocks.2"),
    "stage 1 (block 0)": ("blocks.0",),
    "stem": ("stem",),
}


def cascade_layers(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """A sensible top-down cascade for ``model``: step label → module names.

    EfficientNet-Lite0: :data:`LITE0_CASCADE` (fc, head, the seven stages top-down,
    stem: 10 steps). Any other model: its top-level children that hold
    parameters, in *reverse registration order* (ResNet: fc, layer4, …, conv1) —
    check that this order is the order of the forward pass for your model.
    """
    check_model(model)
    names = {name for name, _ in model.named_modules()}
    if all(name in names for group in LITE0_CASCADE.values() for name in group):
        return dict(LITE0_CASCADE)
    steps = {name: (name,) for name, child in reversed(list(model.named_children()))
             if any(True for _ in child.parameters())}
    if not steps:
        raise ValueError(f"{type(model).__name__} has no child modules with parameters to "
                         "randomize; pass the layer names yourself")
    return steps


def _as_steps(model: nn.Module, layers: Steps | None) -> dict[str, tuple[str, ...]]:
    if layers is None:
        return cascade_layers(model)
    if isinstance(layers, str):
        raise TypeError("layers must be a list of module names (top first) or a dict "
                        f"label → names, not one string {layers!r}; use [{layers!r}]")
    if isinstance(layers, Mapping):
        steps = {str(label): (group,) if isinstance(group, str) else tuple(group)
                 for label, group in layers.items()}
    elif isinstance(layers, Sequence):
        if len(set(layers)) != len(layers):
            twice = next(name for name in layers if list(layers).count(name) > 1)
            raise ValueError(f"module {twice!r} is listed twice")
        steps = {name: (name,) for name in layers}
    else:
        raise TypeError(f"layers must be a sequence or a mapping, got {type(layers).__name__}")
    if not steps:
        raise ValueError("layers is empty: name at least one module to randomize")
    known = dict(model.named_modules())
    seen: set[str] = set()
    for group in steps.values():
        for name in group:
            if not isinstance(name, str) or name not in known or name == "":
                raise ValueError(f"model has no submodule named {name!r} (see "
                                 "model.named_modules())")
            if name in seen:
                raise ValueError(f"module {name!r} is listed twice")
            seen.add(name)
    return steps


def reinitialise(module: nn.Module, batchnorm: BatchNormRule = "reset") -> list[str]:
    """Re-initialise every sub-module of ``module`` in place; returns the names touched.

    Uses each sub-module's ``reset_parameters()`` (``batchnorm="keep"`` skips
    BatchNorm layers). A sub-module that owns parameters but has no
    ``reset_parameters`` raises ``TypeError`` rather than being silently skipped.
    """
    if batchnorm not in ("reset", "keep"):
        raise ValueError(f"batchnorm must be 'reset' or 'keep', got {batchnorm!r}")
    touched = []
    for name, sub in module.named_modules():
        own = list(sub.parameters(recurse=False))
        if isinstance(sub, nn.modules.batchnorm._NormBase):
            if batchnorm == "reset":
                sub.reset_parameters()  # running stats and affine parameters
                touched.append(name)
        elif hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
            touched.append(name)
        elif own:
            raise TypeError(f"{type(sub).__name__} ({name or 'the layer itself'}) has parameters "
                            "but no reset_parameters(), so it cannot be re-initialised")
    return touched


def _device_indices(model: nn.Module) -> list[int]:
    return sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})


def cascading_randomization(model: nn.Module, layers: Steps | None = None, seed: int = 0,
                            batchnorm: BatchNormRule = "reset", cascade: bool = True
                            ) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(step label, randomized copy)`` for each step, top layer first.

    Step ``k`` re-initialises the layers of steps ``0 … k`` (``cascade=True``,
    Adebayo et al.'s cascading test) or only those of step ``k``
    (``cascade=False``, their independent test). ``layers``: module names, top
    first (``["fc", "layer4", ...]``), or a dict label → names to group several
    modules in one step; default :func:`cascade_layers`. Seeded: step ``k`` draws
    from ``torch.manual_seed(seed + k)`` in a forked RNG (the global random state
    is left alone), so the same seed gives the same copies. The copies are in
    eval mode; ``model`` itself is never modified.
    """
    check_model(model)
    steps = _as_steps(model, layers)
    randomized = copy.deepcopy(model).eval() if cascade else None
    for k, (label, group) in enumerate(steps.items()):
        current = randomized if cascade else copy.deepcopy(model).eval()
        with torch.random.fork_rng(devices=_device_indices(model)):
            torch.manual_seed(seed + k)
            for name in group:
                reinitialise(current.get_submodule(name), batchnorm)
        yield label, copy.deepcopy(current) if cascade else current


def _as_maps(attribution: torch.Tensor, n: int, aggregation: Aggregation) -> torch.Tensor:
    if not isinstance(attribution, torch.Tensor):
        raise TypeError(f"the method must return a tensor, got {type(attribution).__name__}")
    values = attribution.detach().float().cpu()
    if values.ndim == 4 and values.shape[1] == 3:
        values = aggregate_channels(values, aggregation)
    if values.ndim != 3 or len(values) != n:
        raise ValueError(f"the method returned shape {tuple(attribution.shape)}; expected "
                         f"({n}, 3, H, W) or ({n}, H, W)")
    return values


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    def unit(values: np.ndarray) -> np.ndarray:  # min-max to [0, 1], as Adebayo et al.
        span = values.max() - values.min()
        return (values - values.min()) / span if span > 0 else np.zeros_like(values)

    return float(structural_similarity(unit(a), unit(b), data_range=1.0))


@dataclass
class RandomizationResult:
    """What :func:`model_randomization_test` returns.

    ``steps``: the step labels (top layer first); ``original``: the trained
    model's maps ``(N, H, W)``; ``maps``: the randomized models' maps
    ``(steps, N, H, W)``; ``rank_correlation`` and ``ssim``: each randomized map
    against the original, ``(steps, N)`` (``ssim`` is ``None`` unless asked for;
    NaN where a map is constant).
    """

    steps: list[str]
    original: torch.Tensor
    maps: torch.Tensor
    rank_correlation: torch.Tensor
    ssim: torch.Tensor | None


def model_randomization_test(model: nn.Module, inputs: torch.Tensor, target: Target,
                             method: Method, layers: Steps | None = None, seed: int = 0,
                             batchnorm: BatchNormRule = "reset", cascade: bool = True,
                             absolute: bool = True, aggregation: Aggregation = "max_abs",
                             ssim: bool = False, progress: bool = True) -> RandomizationResult:
    """Run ``method(model_copy, inputs, target)`` on the trained model and after every step.

    ``method`` is any course attribution function, e.g. ``course.vanilla_gradient``
    or ``lambda m, x, t: course.grad_cam(m, x, t, "head")`` — give layers **by
    name**: a module object would belong to the original model, not the copy.
    Its output ``(N, 3, H, W)`` is collapsed with ``aggregation`` (maps
    ``(N, H, W)`` are used as they are), then made ``abs`` (``absolute=True``,
    the paper's main setting). Each map is compared with the original one by
    Spearman rank correlation (:func:`course_lib.rank_correlation`) and,
    with ``ssim=True``, SSIM of the min-max-normalised maps. The method does
    its own batching (pass e.g. ``batch_size`` through a ``lambda``).
    """
    check_model(model)
    check_inputs(inputs)
    steps = _as_steps(model, layers)
    n = len(inputs)

    def run(net: nn.Module) -> torch.Tensor:
        values = _as_maps(method(net, inputs, target), n, aggregation)
        return values.abs() if absolute else values

    original = run(model)
    maps, rhos, ssims = [], [], []
    with warnings.catch_warnings(), tqdm(total=len(steps), desc="randomization steps",
                                         disable=not progress, leave=False) as bar:
        warnings.filterwarnings("ignore", message=".*constant.*")  # spearmanr → NaN
        for _, randomized in cascading_randomization(model, steps, seed, batchnorm, cascade):
            current = run(randomized)
            del randomized
            maps.append(current)
            rhos.append([rank_correlation(a, b) for a, b in zip(original, current)])
            if ssim:
                ssims.append([_ssim(a.numpy(), b.numpy()) for a, b in zip(original, current)])
            bar.update(1)
    return RandomizationResult(
        steps=list(steps), original=original, maps=torch.stack(maps),
        rank_correlation=torch.tensor(rhos, dtype=torch.float64),
        ssim=torch.tensor(ssims, dtype=torch.float64) if ssim else None)


# --------------------------------------------------------------------------- pass criterion

def rank_correlations(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation of ``|a_i|`` and ``|b_i|`` for each pair of maps, ``(N,)``.

    Adebayo et al.'s main similarity, vectorised over the batch ``(N, H, W)``. A
    constant map orders no pixels, so it shares no ordering with any map: its
    correlation is set to 0 instead of left undefined.
    """
    from scipy.stats import rankdata

    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    x = rankdata(a.detach().abs().flatten(1).double().cpu().numpy(), axis=1)
    y = rankdata(b.detach().abs().flatten(1).double().cpu().numpy(), axis=1)
    x -= x.mean(axis=1, keepdims=True)
    y -= y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (x * y).sum(axis=1) / denominator
    return np.where(denominator > 0, rho, 0.0)


SANITY_MARGIN = 0.1


@dataclass
class Verdict:
    """The randomization test's verdict for one method (see :func:`randomization_verdict`)."""

    passed: bool
    difference: float   # mean over images of (similarity after − similarity of unrelated maps)
    low: float          # 95 % bootstrap interval of that mean
    high: float


def randomization_verdict(after: np.ndarray, unrelated: np.ndarray,
                          margin: float = SANITY_MARGIN, n_boot: int = 2000,
                          seed: int = 0) -> Verdict:
    r"""Pass if a randomized model's map keeps no more of the original than an unrelated map.

    ``after[i]``: similarity of image ``i``'s map before and after randomization (or after
    retraining on shuffled labels); ``unrelated[i]``: the **null** — the similarity of
    image ``i``'s map with the map of *another* image under the trained model, i.e. what
    two maps share that explain different things (the method's habits: borders, centre,
    texture of the data). The method **passes** when the 95 % bootstrap interval of the
    mean paired difference :math:`\overline{\rho_\text{after} - \rho_\text{unrelated}}`
    lies below ``margin`` (0.1 in rank correlation): with 95 % confidence, destroying
    what the model learned leaves at most a trace of the original map. A map that does
    not depend on the model (a control) keeps :math:`\rho = 1` and fails.
    """
    from course_lib.evaluation.statistics import paired_difference

    interval = paired_difference(np.asarray(after, float), np.asarray(unrelated, float),
                                 n_boot=n_boot, seed=seed)
    return Verdict(bool(interval.high[0] < margin), float(interval.mean[0]),
                   float(interval.low[0]), float(interval.high[0]))
