r"""Fragility of saliency maps: the top-k attack of Ghorbani, Abid & Zou (2019).

"Interpretation of Neural Networks is Fragile", AAAI 2019, arXiv:1710.10547.
A perturbation :math:`\delta` too small to change the label can still move the
saliency map far away. For the vanilla gradient the map of image :math:`x` for
class :math:`c` is (channels summed, normalised to sum 1)

.. math:: I(x)_p = \frac{\sum_k |\partial z_c / \partial x_{k,p}|}
                        {\sum_{q}\sum_k |\partial z_c / \partial x_{k,q}|}

and the **top-k attack** pushes mass away from the set :math:`B` of the ``k``
most salient pixels of the *original* map:

.. math:: \min_{\|\delta\|_\infty \le \varepsilon,\; 0 \le x + \delta \le 1}\;
          \sum_{p \in B} I(x + \delta)_p
          \quad\text{subject to}\quad \arg\max z(x + \delta) = \arg\max z(x)

solved by projected sign-gradient steps (iterative FGSM):
:math:`x_{t+1} = \Pi\big(x_t - \alpha\,\mathrm{sign}\,\nabla_x \sum_{p\in B} I(x_t)_p\big)`,
where :math:`\Pi` clips to the :math:`\varepsilon`-box around :math:`x` and to [0, 1].

The step needs the gradient *of a gradient*. In a ReLU network the input
gradient is piecewise constant (each ReLU's derivative is 0 or 1), so its own
derivative is zero almost everywhere and the attack would not move. Following
the paper, the gradient of the objective is taken through a **softplus
surrogate** (:func:`softplus_relus`): every ``ReLU`` becomes
:math:`\mathrm{softplus}_\beta(x) = \frac1\beta\log(1 + e^{\beta x})` and every
``ReLU6`` becomes :math:`\mathrm{softplus}_\beta(x) - \mathrm{softplus}_\beta(x - 6)`.
Everything that is *measured* — the label and the map at each iterate — uses the
real ReLU model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode
from tqdm.auto import tqdm

from course_lib.checks import Target, check_inputs, check_model, check_target_range, prepare
from course_lib.model_state import attribution_mode
from course_lib.methods.canonizers import fold_batchnorm
from course_lib.methods.relu_rules import swapped_relus

# a map function (model, images, classes) -> (N, H, W): see top_k_attack's objective/measure
SaliencyFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class SoftplusReLU(nn.Module):
    r"""Smooth stand-in for ``nn.ReLU`` (``cap=None``) or ``nn.ReLU6`` (``cap=6``).

    :math:`\mathrm{softplus}_\beta(x) - \mathrm{softplus}_\beta(x - \text{cap})`; it tends
    to the ReLU (ReLU6) as :math:`\beta \to \infty`, the largest gap being
    :math:`\log 2 / \beta` at the kinks.
    """

    def __init__(self, beta: float, cap: float | None = None) -> None:
        super().__init__()
        self.beta, self.cap = float(beta), cap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Above beta·x = 20 softplus is linear (the curvature there is below e^-20).
        out = F.softplus(x, beta=self.beta)
        if self.cap is not None:
            out = out - F.softplus(x - self.cap, beta=self.beta)
        return out

    def extra_repr(self) -> str:
        return f"beta={self.beta}, cap={self.cap}"


def _check_beta(beta: object) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a positive number, got {beta!r}")
    return float(beta)


@contextmanager
def softplus_relus(model: nn.Module, beta: float = 10.0) -> Iterator[nn.Module]:
    """Inside the block every ``nn.ReLU``/``nn.ReLU6`` module of ``model`` is a :class:`SoftplusReLU`.

    The original module objects are put back on exit, also after an exception
    (the same swap as :func:`course_lib.relu_backward_rule`). Raises ``TypeError``
    if the model has no ReLU modules or calls a functional ReLU in its forward pass.
    """
    check_model(model)
    beta = _check_beta(beta)
    with swapped_relus(model, lambda cap: SoftplusReLU(beta, cap), "smoothing"):
        yield model


class _GroupedConv2dFunction(torch.autograd.Function):
    """``F.conv2d`` with ``groups > 1`` whose backward is a (differentiable) transposed convolution.

    Same numbers as ``F.conv2d``. Why: PyTorch's generic double backward of a grouped
    convolution runs one convolution *per group* on the CPU (about 9000 kernel
    calls for EfficientNet-Lite0's depthwise layers, tens of seconds per image);
    writing the backward as ``conv_transpose2d`` keeps every pass grouped.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.conv = (stride, padding, dilation, groups)
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            extra = []
            for axis in range(2):  # output_padding that restores the input size
                size_out = grad_out.shape[2 + axis]
                span = dilation[axis] * (weight.shape[2 + axis] - 1) + 1
                restored = (size_out - 1) * stride[axis] - 2 * padding[axis] + span
                extra.append(x.shape[2 + axis] - restored)
            grad_x = F.conv_transpose2d(grad_out, weight, None, stride, padding, tuple(extra),
                                        groups, dilation)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(x, weight.shape, grad_out, stride, padding,
                                                 dilation, groups)
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


class _GroupedConvSecondOrder(TorchFunctionMode):
    """Route grouped ``conv2d`` calls through :class:`_GroupedConv2dFunction`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d:
            names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
            bound = dict(zip(names, args)) | kwargs
            groups, padding = bound.get("groups", 1), bound.get("padding", 0)
            if groups > 1 and not isinstance(padding, str):
                return _GroupedConv2dFunction.apply(
                    bound["input"], bound["weight"], bound.get("bias"),
                    _pair(bound.get("stride", 1)), _pair(padding),
                    _pair(bound.get("dilation", 1)), groups)
        return func(*args, **kwargs)


@contextmanager
def fast_grouped_conv_double_backward() -> Iterator[None]:
    """Inside the block, grouped/depthwise ``F.conv2d`` calls get a fast second-order backward.

    Pure speed, same numbers: PyTorch differentiates the backward pass of a
    grouped convolution one group at a time on the CPU (≈ 9000 small convolutions
    for one image through EfficientNet-Lite0, ~10× slower than needed). Inside
    this block those convolutions use :class:`_GroupedConv2dFunction`, whose
    backward is a grouped ``conv_transpose2d`` that autograd can differentiate
    in one call. Only the forward pass has to run inside the block.
    """
    with _GroupedConvSecondOrder():
        yield


def _as_batch_of_maps(values: object, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise ValueError(f"{name} must be a map (H, W) or a batch of maps (N, H, W), got shape "
                         f"{tuple(values.shape)}; collapse colour channels with "
                         "course_lib.aggregate_channels first")
    return values.detach()


def top_k_mask(maps: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean ``(N, H, W)``: the ``k`` largest pixels of each map (ties: lower index first)."""
    maps = _as_batch_of_maps(maps, "maps")
    pixels = maps[0].numel()
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= pixels:
        raise ValueError(f"k must be an int between 1 and the number of pixels ({pixels}), "
                         f"got {k!r}")
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)[:, :k]
    mask = torch.zeros(maps.shape[0], pixels, dtype=torch.bool, device=maps.device)
    mask.scatter_(1, order, True)
    return mask.view_as(maps)


def top_k_intersection(map_a: torch.Tensor, map_b: torch.Tensor, k: int) -> torch.Tensor:
    r"""Fraction of the ``k`` most salient pixels the two maps share, per map: ``(N,)``.

    :math:`|\mathrm{top}_k(a) \cap \mathrm{top}_k(b)| / k` (Ghorbani et al.'s measure):
    1 = the same top-k set, 0 = disjoint. Maps ``(H, W)`` or ``(N, H, W)``;
    unsigned maps are expected (take ``abs`` or ``aggregate_channels`` first).
    """
    a, b = _as_batch_of_maps(map_a, "map_a"), _as_batch_of_maps(map_b, "map_b")
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    shared = top_k_mask(a, k) & top_k_mask(b.to(a.device), k)
    return shared.flatten(1).sum(dim=1).float() / k


def _logits_and_saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                         create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward and one backward pass: the logits and :func:`gradient_saliency`'s map."""
    if not x.requires_grad:
        x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    score = logits.gather(1, target[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, x, create_graph=create_graph)
    return logits, gradient.abs().sum(dim=1)


def gradient_saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                      create_graph: bool = False) -> torch.Tensor:
    r"""Unnormalised vanilla-gradient map :math:`\sum_k |\partial z_c/\partial x_k|`, ``(N, H, W)``.

    Arguments already checked and on one device. With ``create_graph=True`` the
    map stays differentiable with respect to ``x`` (``x`` must require grad).
    """
    return _logits_and_saliency(model, x, target, create_graph)[1]


def _predict_and_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Real-model label and vanilla-gradient map (one forward + one backward)."""
    logits, saliency = _logits_and_saliency(model, x.detach(), target, create_graph=False)
    return logits.detach().argmax(dim=1), saliency


def _measured(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
              measure: SaliencyFn | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Real-model label and map: the vanilla gradient's, or ``measure``'s."""
    if measure is None:
        return _predict_and_map(model, x, target)
    with torch.no_grad():
        label = model(x.detach()).argmax(dim=1)
    return label, measure(model, x.detach(), target).detach()


def top_k_mass(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
               mask: torch.Tensor, objective: SaliencyFn | None = None) -> torch.Tensor:
    r"""Attack objective per image: :math:`\sum_{p\in B} I(x)_p` (map normalised to sum 1).

    Differentiable with respect to ``x`` (call on the softplus surrogate). The map is
    the vanilla gradient's, or ``objective(model, x, target)`` (graph kept).
    """
    saliency = gradient_saliency(model, x, target, create_graph=True) if objective is None \
        else objective(model, x, target)
    normalised = saliency / saliency.flatten(1).sum(dim=1).clamp_min(1e-12)[:, None, None]
    return (normalised * mask).flatten(1).sum(dim=1)


def project(x: torch.Tensor, original: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Clip to the L∞ box of radius ``epsilon`` around ``original`` and to [0, 1]."""
    return torch.minimum(torch.maximum(x, original - epsilon), original + epsilon).clamp(0, 1)


@dataclass
class AttackResult:
    """What :func:`top_k_attack` returns.

    ``images``: the perturbed images ``(N, 3, H, W)`` (the best label-keeping iterate);
    ``intersection``: top-k intersection of the real model's map with the original
    map at every iterate, ``(N, iterations + 1)`` (column 0 is the original, = 1);
    ``label_kept``: whether the real model's label equals the original one, same shape;
    ``best_iteration``: the iterate returned for each image, ``(N,)`` (0 = unchanged);
    ``label``: the original predicted class, ``(N,)``.
    """

    images: torch.Tensor
    intersection: torch.Tensor
    label_kept: torch.Tensor
    best_iteration: torch.Tensor
    label: torch.Tensor

    @property
    def final_intersection(self) -> torch.Tensor:
        """Top-k intersection of the returned images, ``(N,)``."""
        return self.intersection.gather(1, self.best_iteration[:, None])[:, 0]


def _check_attack_numbers(epsilon: object, step_size: object, iterations: object) -> None:
    for name, value in (("epsilon", epsilon), ("step_size", step_size)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number (in pixel units, e.g. 8/255), "
                             f"got {value!r}")
    if epsilon > 1:
        raise ValueError(f"epsilon is in pixel units of [0, 1] images; {epsilon} > 1 "
                         "(did you mean epsilon / 255?)")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")


def top_k_attack(model: nn.Module, inputs: torch.Tensor, target: Target | None = None,
                 k: int = 1000, epsilon: float = 8 / 255, step_size: float = 1 / 255,
                 iterations: int = 16, beta: float = 10.0, progress: bool = True,
                 objective: SaliencyFn | None = None, measure: SaliencyFn | None = None
                 ) -> AttackResult:
    r"""Ghorbani et al.'s top-k attack on the vanilla-gradient map, one image per pass.

    For each image: :math:`B` = top-``k`` pixels of the real model's map; then
    ``iterations`` steps :math:`x_{t+1} = \Pi(x_t - \alpha\,\mathrm{sign}\nabla_x
    \sum_{p\in B} I(x_t)_p)` with the gradient taken through the softplus surrogate
    (``beta``, see :func:`softplus_relus`) and ``create_graph=True``; :math:`\Pi`
    keeps :math:`\|x_t - x\|_\infty \le \varepsilon` and pixels in [0, 1].

    After every step the *real* (ReLU) model gives the label and the map. Steps
    that change the label are still taken (later steps may bring it back, as in
    the paper's Algorithm 1), but only label-keeping iterates can be returned:
    for each image the one with the lowest top-k intersection (iterate 0, the
    original image, if none keeps the label).

    ``target`` is the class whose map is attacked; default (``None``) the
    model's predicted class, which is also the label that must be kept. The
    model is left as found: the surrogate is a ``copy.deepcopy`` of it, with every
    BatchNorm that follows a convolution folded into it (:func:`fold_batchnorm`:
    the same function, about 40 % less time and memory for the second-order pass).
    Cost for one 224 × 224 image through EfficientNet-Lite0 on 2 CPU cores: about
    3–5 s and 0.2 GB per iteration.

    **Other maps.** ``objective(net, x, c)`` is the map the attack drains, built with
    the graph kept (``x`` requires grad; see :mod:`course_lib.evaluation.differentiable`),
    and ``measure(net, x, c)`` the same map as the benchmark computes it on the real
    model, ``(N, H, W)``. Both default to the vanilla-gradient map above.
    """
    _check_attack_numbers(epsilon, step_size, iterations)
    _check_beta(beta)
    model = check_model(model)
    inputs = check_inputs(inputs)
    if target is None:
        model, x0, _ = prepare(model, inputs, 0)
        classes = None
    else:
        model, x0, classes = prepare(model, inputs, target)
    n = len(x0)
    intersection = torch.ones(n, iterations + 1)
    label_kept = torch.ones(n, iterations + 1, dtype=torch.bool)
    best_iteration = torch.zeros(n, dtype=torch.int64)
    labels = torch.zeros(n, dtype=torch.int64)
    best = x0.clone()
    # The step directions come from a private smooth copy: BatchNorm folded into the
    # convolutions (same function, cheaper to differentiate twice), ReLUs swapped below.
    surrogate = fold_batchnorm(copy.deepcopy(model).eval().requires_grad_(False))
    with attribution_mode(model), tqdm(total=n * iterations, desc="top-k attack steps",
                                       disable=not progress, leave=False) as bar:
        for i in range(n):
            original = x0[i:i + 1]
            with torch.no_grad():
                logits = model(original)
            label = logits.argmax(dim=1)
            c = label if classes is None else classes[i:i + 1]
            check_target_range(c, logits.shape[1])
            labels[i] = label.item()
            _, original_map = _measured(model, original, c, measure)
            mask = top_k_mask(original_map, k)
            x, lowest = original.clone(), 1.0
            for t in range(1, iterations + 1):
                x_leaf = x.detach().clone().requires_grad_(True)
                with softplus_relus(surrogate, beta), fast_grouped_conv_double_backward():
                    mass = top_k_mass(surrogate, x_leaf, c, mask, objective)
                (direction,) = torch.autograd.grad(mass.sum(), x_leaf)
                x = project(x.detach() - step_size * direction.sign(), original, epsilon)
                predicted, new_map = _measured(model, x, c, measure)
                kept = bool(predicted.item() == label.item())
                score = top_k_intersection(original_map, new_map, k).item()
                intersection[i, t], label_kept[i, t] = score, kept
                if kept and score < lowest:
                    lowest, best_iteration[i], best[i] = score, t, x[0]
                bar.update(1)
    return AttackResult(images=best.to(inputs.device), intersection=intersection,
                        label_kept=label_kept, best_iteration=best_iteration, label=labels)


def random_sign_noise(inputs: torch.Tensor, epsilon: float = 8 / 255, seed: int = 0
                      ) -> torch.Tensor:
    r"""The baseline of the same size: :math:`\mathrm{clip}_{[0,1]}(x + \varepsilon\,s)`,
    :math:`s_i = \pm 1` uniformly at random (seeded), a corner of the same
    :math:`L_\infty` ball the attack searches."""
    inputs = check_inputs(inputs)
    _check_attack_numbers(epsilon, 1.0, 1)
    generator = torch.Generator(inputs.device).manual_seed(seed)
    signs = torch.randint(0, 2, inputs.shape, generator=generator, device=inputs.device)
    return (inputs + epsilon * (2 * signs.to(inputs.dtype) - 1)).clamp(0, 1)
