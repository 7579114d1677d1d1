r"""DeepLIFT with the Rescale rule (Shrikumar, Greenside & Kundaje 2017, ICML, arXiv:1704.02685).

DeepLIFT explains the *difference* of the score from its value at a reference input
:math:`x'` (the baseline, as in Integrated Gradients). Every unit has a difference from its
reference value, :math:`\Delta y = y(x) - y(x')`, and a **multiplier**
:math:`m_{\Delta x \Delta y} = \Delta y / \Delta x` replaces the derivative:

* a linear layer (convolution, BatchNorm in eval mode, pooling by averaging, a sum) keeps its
  weights as multipliers: :math:`\Delta y = W \Delta x` exactly, whatever the bias;
* an elementwise nonlinearity :math:`y = f(x)` gets the **Rescale** rule
  :math:`m = \frac{f(x) - f(x')}{x - x'}`, the slope of the secant from the reference to the
  input; where :math:`|x - x'| < 10^{-10}` the secant is undefined (0/0) and the gradient
  :math:`f'(x)` is used (as in Captum);
* multipliers chain like derivatives (the paper's chain rule for multipliers), so one backward
  pass with every derivative replaced by its multiplier gives :math:`m_{\Delta x_i \Delta z_c}`,
  and the attribution is :math:`C_i = (x_i - x'_i)\, m_{\Delta x_i \Delta z_c}`.

**Summation-to-delta:** each layer passes on exactly its :math:`\Delta` (for a nonlinearity
:math:`\Delta x \cdot m = \Delta y`), so :math:`\sum_i C_i = z_c(x) - z_c(x')` exactly, with no
integral to approximate.

**Max pooling** is not elementwise. Each window passes on :math:`\max(x) - \max(x')` through
one input: the input's winner if :math:`\max(x) \ge \max(x')`, else the reference's winner
(Captum's rule); this keeps summation-to-delta. Windows may overlap (their contributions to
one input add up).

**Relation to Integrated Gradients:** for a unit whose input moves *linearly* along the path
:math:`x' + \alpha (x - x')` — any unit of the first nonlinear layer — the average of
:math:`f'` along the path is exactly the secant slope, so DeepLIFT and IG agree on a network
with one layer of ReLUs. Deeper, a unit's input moves along a curve, and a chain of secant
slopes is not an average of gradients: the two differ.

**Implementation.** Every ``nn.ReLU``, ``nn.ReLU6`` and ``nn.MaxPool2d`` is swapped (like the
rules of notebook 02) for a stand-in that first *records* what it sees in a forward pass of
the references (no gradients), then, in the forward pass of the inputs, applies its
multiplier in the backward pass. Per chunk of ``batch_size`` images: one forward pass of the
references, one forward and one backward pass of the inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.integrated_gradients import BaselineKind, check_baseline
from course_lib.methods.propagation import (MAX_FUNCTIONS, NONLINEAR_FUNCTIONS, RELU_FUNCTIONS,
                                            UNSUPPORTED_ACTIVATIONS, FunctionalGuard,
                                            hardtanh_not_relu6, places, refuse_modules,
                                            swapped_modules, trusted)
from course_lib.model_state import attribution_mode

SUPPORTED = "ReLU, ReLU6 and MaxPool2d modules (and layers that are linear in eval mode)"
REFUSED_FUNCTIONS = {**NONLINEAR_FUNCTIONS, **RELU_FUNCTIONS, **MAX_FUNCTIONS}
NEAR_ZERO = 1e-10  # |Δx| below this: the secant is undefined, use the gradient (Captum's eps)


def rescale_multiplier(x: torch.Tensor, x_ref: torch.Tensor, cap: float | None) -> torch.Tensor:
    r"""Rescale multiplier of a ReLU (``cap=None``) or ReLU6 (``cap=6``): :math:`\Delta y / \Delta x`,
    and :math:`f'(x)` where :math:`|\Delta x| < 10^{-10}`."""
    delta_x = x - x_ref
    delta_y = x.clamp(min=0, max=cap) - x_ref.clamp(min=0, max=cap)
    gradient = (x > 0) if cap is None else (x > 0) & (x < cap)
    return torch.where(delta_x.abs() < NEAR_ZERO, gradient.to(x.dtype), delta_y / delta_x)


class _RescaleFunction(torch.autograd.Function):
    """ReLU/ReLU6 forward; backward multiplies by the Rescale multiplier."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, x_ref: torch.Tensor, cap: float | None) -> torch.Tensor:
        ctx.save_for_backward(rescale_multiplier(x, x_ref, cap))
        return x.clamp(min=0, max=cap)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (multiplier,) = ctx.saved_tensors
        return grad * multiplier, None, None


class _MaxPoolFunction(torch.autograd.Function):
    """Max pooling forward; backward routes each window's Δ to one winner, divided by its Δx."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, x_ref: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
        settings = (_pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size),
                    _pair(pool.padding), _pair(pool.dilation), pool.ceil_mode)
        y, winners = F.max_pool2d(x, *settings, return_indices=True)
        y_ref, winners_ref = F.max_pool2d(x_ref, *settings, return_indices=True)
        larger = torch.maximum(y, y_ref)
        ctx.settings = settings
        ctx.save_for_backward(x, x - x_ref, winners, winners_ref, larger - y_ref, y - larger)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        x, delta_x, winners, winners_ref, from_input, from_reference = ctx.saved_tensors
        kernel, stride, padding, dilation, ceil_mode = ctx.settings

        def scatter(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
            # the max-pool gradient: each window's value to its winner, overlaps added up
            return torch.ops.aten.max_pool2d_with_indices_backward(
                values, x, kernel, stride, padding, dilation, ceil_mode, where)

        shares = scatter(grad * from_input, winners) + scatter(grad * from_reference, winners_ref)
        gradient = scatter(grad, winners)
        small = delta_x.abs() < NEAR_ZERO
        return torch.where(small, gradient, shares / torch.where(small, 1.0, delta_x)), None, None


class _References:
    """What the stand-ins saw in the reference pass, replayed in call order in the input pass."""

    def __init__(self) -> None:
        self.recording = True
        self.seen: dict[int, list[torch.Tensor]] = {}
        self.used: dict[int, int] = {}

    def record(self, key: int, x: torch.Tensor) -> None:
        self.seen.setdefault(key, []).append(x.detach())

    def replay(self, key: int, x: torch.Tensor, name: str) -> torch.Tensor:
        position = self.used.get(key, 0)
        recorded = self.seen.get(key, [])
        if position >= len(recorded) or recorded[position].shape != x.shape:
            raise RuntimeError(f"{name} ran differently for the input and for its reference; "
                               "DeepLIFT needs the same forward path for both")
        self.used[key] = position + 1
        return recorded[position]

    def start(self, recording: bool) -> None:
        self.recording = recording
        if recording:
            self.seen, self.used = {}, {}


class RescaleReLU(nn.Module):
    """Stand-in for ``nn.ReLU`` (``cap=None``) or ``nn.ReLU6`` (``cap=6``) during DeepLIFT."""

    def __init__(self, cap: float | None, references: _References) -> None:
        super().__init__()
        self.cap, self.references = cap, references

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with trusted():
            if self.references.recording:
                self.references.record(id(self), x)
                return x.clamp(min=0, max=self.cap)
            x_ref = self.references.replay(id(self), x, "a ReLU")
            return _RescaleFunction.apply(x, x_ref, self.cap)


class DeepLiftMaxPool(nn.Module):
    """Stand-in for ``nn.MaxPool2d`` during DeepLIFT (same forward pass)."""

    def __init__(self, pool: nn.MaxPool2d, references: _References) -> None:
        super().__init__()
        self.pool, self.references = pool, references

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with trusted():
            if self.references.recording:
                self.references.record(id(self), x)
                return self.pool(x)
            x_ref = self.references.replay(id(self), x, "a max pool")
            return _MaxPoolFunction.apply(x, x_ref, self.pool)


@contextmanager
def rescale_rules(model: nn.Module) -> Iterator[_References]:
    """Inside the block the model's ReLU, ReLU6 and MaxPool2d modules apply DeepLIFT's rules.

    The original module objects come back on exit, also after an exception. Raises
    ``TypeError`` for a nonlinearity without a rule here (a module or a function call).
    """
    refuse_modules(model, UNSUPPORTED_ACTIVATIONS, "DeepLIFT", SUPPORTED)
    for name, module in model.named_modules():
        if hardtanh_not_relu6(module) or (isinstance(module, nn.MaxPool2d)
                                          and module.return_indices):
            raise TypeError(f"layer {name!r} ({type(module).__name__}) has no DeepLIFT rule "
                            f"here; supported: {SUPPORTED}")
    references = _References()
    found_at = places(model)
    replacements: dict[int, tuple[list, nn.Module]] = {}
    for module in {id(m): m for m in model.modules()}.values():
        if isinstance(module, (nn.ReLU, nn.ReLU6)):
            stand_in = RescaleReLU(6.0 if isinstance(module, nn.ReLU6) else None, references)
        elif isinstance(module, nn.MaxPool2d):
            stand_in = DeepLiftMaxPool(module, references)
        else:
            continue
        replacements[id(module)] = (found_at[id(module)], stand_in)
    with swapped_modules(replacements), FunctionalGuard(REFUSED_FUNCTIONS, "DeepLIFT",
                                                        SUPPORTED):
        yield references


def deeplift(model: nn.Module, inputs: torch.Tensor, target: Target,
             baseline: BaselineKind | torch.Tensor = "black", batch_size: int = 2,
             progress: bool = True) -> torch.Tensor:
    r"""DeepLIFT (Rescale rule), ``(N, 3, H, W)``: :math:`(x - x') \odot m_{\Delta x \Delta z_c}`.

    ``baseline``: ``"black"``, ``"blurred"``, ``"noise"`` (:func:`course_lib.make_baseline`) or
    a tensor shaped like ``inputs`` or like one image. The attributions add up to
    :math:`z_c(x) - z_c(x')` (:func:`course_lib.completeness_gap` measures it). ``batch_size``
    images (and as many references) go through each pass.
    """
    model, x, classes = prepare(model, inputs, target)
    reference = check_baseline(baseline, x)
    batch_size = check_batch_size(batch_size)
    parts = []
    chunks = list(zip(x.split(batch_size), reference.split(batch_size), classes.split(batch_size)))
    with attribution_mode(model), rescale_rules(model) as references:
        for images, refs, chunk_classes in tqdm(chunks, desc="DeepLIFT", leave=False,
                                                disable=not progress or len(chunks) == 1):
            references.start(recording=True)
            with torch.no_grad():
                model(refs)
            references.start(recording=False)
            images = images.detach().clone().requires_grad_(True)
            logits = model(images)
            check_target_range(chunk_classes, logits.shape[1])
            score = logits.gather(1, chunk_classes[:, None]).sum()
            (multipliers,) = torch.autograd.grad(score, images)
            parts.append((images.detach() - refs) * multipliers)
    return torch.cat(parts).to(inputs.device)
