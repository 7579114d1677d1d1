r"""Layer-wise relevance propagation (Bach et al. 2015, PLoS ONE 10(7): e0130140).

LRP starts with the class score as relevance, :math:`R = z_c`, at the output and hands it down
layer by layer; each Linear/Conv layer splits the relevance of its outputs among its inputs by
a rule (:mod:`course_lib.methods.lrp_rules`), so that, up to what biases and stabilisers absorb,

.. math:: \sum_{\text{pixels}} R_i = \dots = \sum_j R_j^{(l)} = \dots = z_c \qquad\text{(conservation)}.

**Implementation: relevance as "activation × modified gradient".** Write the relevance of every
tensor :math:`a` of the network as :math:`R = a \odot c`. Autograd's backward pass then
carries :math:`c`:

* a rule layer (its BatchNorm folded in, :mod:`course_lib.methods.canonizers`) is replaced by
  a stand-in whose forward pass gives the layer's output and whose backward pass applies the
  rule with the *gradient trick*: with :math:`R^{\text{out}} = z \odot c^{\text{out}}` and
  :math:`s = R^{\text{out}} / z^\rho` held constant, :math:`c^{\text{in}} = \partial(z^\rho
  \cdot s)/\partial a`;
* everything else keeps its ordinary gradient. For any operation that is positively
  homogeneous of degree 1 — a convolution or average pool without bias, a sum (skip
  connection), a ReLU, a max pool, a reshape — Euler's theorem gives
  :math:`\sum a \odot \partial f/\partial a \cdot c = \sum f(a) \odot c`: the relevance is passed
  on unchanged, split *in proportion to the contributions* (LRP-0). Skip connections therefore
  conserve relevance exactly, and so does average pooling;
* a ReLU6 is replaced by a stand-in that passes the relevance unchanged (``relu6="pass"``:
  :math:`c^{\text{in}} = c^{\text{out}} \cdot \mathrm{ReLU6}(x)/x`), or by its gradient
  (``relu6="gradient"``, which drops the relevance of units above 6).

The attribution is the relevance at the input of the **first** Linear/Conv layer,
:math:`a^{(0)} \odot c^{(0)}` (plus the bound terms of the box rule), given pixel by pixel to the
image: what happens before that layer must be elementwise (the normalisation of the course's
models; Captum's ``IdentityRule``, zennit's convention). Hence, on a network of ReLUs with
LRP-0 everywhere, :math:`c` *is* the gradient and LRP-0 = gradient × (input of the first
layer): Ancona et al. 2018 (ICLR), Proposition 1. Their condition is an activation with
:math:`f(x) = x f'(x)` (ReLU, not a capped ReLU6: use ``relu6="gradient"``) and ε = 0; biases
may be anything (their share is absorbed in both).

**Cost:** one forward pass of the first image (two more with the box rule) to find the layers,
their order and their BatchNorms; then per chunk one forward and one backward pass, in which
each rule layer computes up to three extra convolutions (γ, z⁺, box).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.canonizers import (BATCHNORMS, RULE_LAYERS, batchnorm_pairs, foldable,
                                           folded_parameters)
from course_lib.methods.lrp_rules import (Composite, LayerFunction, Rule, ZBox, as_composite,
                                          stabilize)
from course_lib.methods.propagation import (NONLINEAR_FUNCTIONS, UNSUPPORTED_ACTIVATIONS,
                                            FunctionalGuard, hardtanh_not_relu6, places,
                                            refuse_modules, swapped_modules, trusted)
from course_lib.model_state import attribution_mode

DEFAULT_COMPOSITE = "cmp"
SUPPORTED = ("Linear and Conv layers (BatchNorm folded in), ReLU, ReLU6, max and average "
             "pooling, sums, dropout and reshapes")
REFUSED_FUNCTIONS = {**NONLINEAR_FUNCTIONS, F.linear: "F.linear", F.conv1d: "F.conv1d",
                     F.conv2d: "F.conv2d", F.conv3d: "F.conv3d",
                     F.conv_transpose2d: "F.conv_transpose2d", F.batch_norm: "F.batch_norm"}


def layer_function(layer: nn.Module) -> LayerFunction:
    """``f(a, weight, bias)``: the layer's own ``forward`` (padding and all) with other parameters.

    The parameters are swapped in for the call and put back at once, also after an exception;
    forward hooks of the layer do not run.
    """
    forward = type(layer).forward

    def f(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        parameters = layer._parameters
        saved = parameters["weight"], parameters["bias"]
        parameters["weight"], parameters["bias"] = weight, bias
        try:
            return forward(layer, a)
        finally:
            parameters["weight"], parameters["bias"] = saved
    return f


@dataclass
class _Record:
    """Σ R per image at one rule layer's input and output, filled in by the backward pass."""

    name: str
    rule: str
    inputs: torch.Tensor | None = None
    outputs: torch.Tensor | None = None


def _sum_into(record: _Record, field: str, values: torch.Tensor):
    """A tensor hook: Σ (values ⊙ gradient) per image into ``record.field``.

    ``values`` is detached here: a hook that referred to the very tensor it is registered on
    would make a reference cycle, and the activations would wait for the garbage collector.
    """
    values = values.detach()

    def hook(gradient: torch.Tensor) -> None:
        setattr(record, field, (values * gradient).flatten(1).sum(dim=1))
    return hook


class _Pass:
    """What one forward/backward pass collects: the input layer's tensors and, when
    ``record`` is set, Σ R at every rule layer's input and output."""

    def __init__(self, images: torch.Tensor, record: bool) -> None:
        self.images, self.record = images, record
        self.terms: list[torch.Tensor] = []  # Σ term ⊙ gradient = relevance of the pixels
        self.records: list[_Record] = []


class RuleLayer(nn.Module):
    """Stand-in for one Linear/Conv layer and the BatchNorm folded into it, applying ``rule``."""

    def __init__(self, name: str, layer: nn.Module, batchnorm: nn.Module | None, rule: Rule,
                 plan: _Plan) -> None:
        super().__init__()
        self.name, self.rule, self.plan = name, rule, plan
        self.f = layer_function(layer)
        self.weight, self.bias = folded_parameters(layer, batchnorm)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        with trusted():
            run = self.plan.run
            if self is self.plan.first:
                a = self._start(a, run)
            elif not a.requires_grad:
                raise ValueError(f"layer {self.name!r} reads a tensor that does not come through "
                                 f"the input layer {self.plan.first.name!r} (a second path from "
                                 "the image?); LRP here propagates to one input layer")
            elif run.record:
                a = a.view_as(a)  # a node of its own (no copy): its gradient is this layer's c_in
            if isinstance(self.rule, ZBox):
                out, z = self.rule.outputs(self.f, a, self.weight, self.bias, *run.terms[1:])
            else:
                out, z = self.rule.outputs(self.f, a, self.weight, self.bias)
            # The gradient trick: forward value `out`, backward c_in = ∂(z · R_out / z_stab)/∂a.
            denominator = stabilize(z.detach(), self.rule.stabilizer)
            ratio = out.detach() / denominator
            if self.rule.stabilizer == 0:  # LRP-0: an output z = 0 has no relevance to share
                ratio = torch.where(denominator == 0, 0.0, ratio)
            scaled = z * ratio
            result = out.detach() + (scaled - scaled.detach())
            if run.record:  # Σ R = Σ a ⊙ c, summed as the backward pass goes by
                record = _Record(self.name, str(self.rule))
                run.records.append(record)
                if a.grad_fn is not None:  # (the input layer's relevance is the map itself)
                    a.register_hook(_sum_into(record, "inputs", a))
                # `scaled` receives c_out, the gradient at the output, and nothing else uses it
                scaled.register_hook(_sum_into(record, "outputs", out.detach()))
            return result

    def _start(self, a: torch.Tensor, run: _Pass) -> torch.Tensor:
        if run.terms:
            raise TypeError(f"the input layer {self.name!r} runs twice in one forward pass")
        images = run.images
        if a.shape[0] != images.shape[0] or a[0].numel() != images[0].numel():
            raise ValueError(
                f"the first layer {self.name!r} receives shape {tuple(a.shape)}, the images "
                f"have {tuple(images.shape)}: LRP gives the relevance of that layer's input to "
                "the pixels, so only elementwise steps (normalisation) may come before it")
        a = a.detach().requires_grad_(True)
        run.terms = [a]
        if isinstance(self.rule, ZBox):
            low, high = self.plan.bounds
            run.terms += [low.expand_as(a).clone().requires_grad_(True),
                          high.expand_as(a).clone().requires_grad_(True)]
        return a

    def extra_repr(self) -> str:
        return f"{self.name}: {self.rule}"


class _ReLU6Relevance(torch.autograd.Function):
    """ReLU6 forward; backward multiplies by ReLU6(x)/x ("pass") or by its derivative."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mode: str) -> torch.Tensor:
        y = x.clamp(min=0, max=6)
        if mode == "pass":  # R_in = x · c · y/x = y · c = R_out
            factor = torch.where(x > 0, y / x, 0.0)
        else:
            factor = ((x > 0) & (x < 6)).to(x.dtype)
        ctx.save_for_backward(factor)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (factor,) = ctx.saved_tensors
        return grad * factor, None


class ReLU6Relevance(nn.Module):
    """Stand-in for ``nn.ReLU6`` during LRP."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with trusted():
            return _ReLU6Relevance.apply(x, self.mode)


class _Plan:
    """The layers of one model, their rules and stand-ins; runs the passes."""

    def __init__(self, model: nn.Module, composite: Composite, example: torch.Tensor) -> None:
        refuse_modules(model, UNSUPPORTED_ACTIVATIONS, "LRP", SUPPORTED)
        for name, module in model.named_modules():
            if hardtanh_not_relu6(module) or (
                    not isinstance(module, (*RULE_LAYERS, *BATCHNORMS))
                    and next(module.parameters(recurse=False), None) is not None):
                raise TypeError(f"layer {name!r} ({type(module).__name__}) has no LRP rule "
                                f"here; supported: {SUPPORTED}")
        self.model, self.composite = model, composite
        box = composite.first if isinstance(composite.first, ZBox) else None
        if box is not None:
            low, high = example.min().item(), example.max().item()
            if low < box.low - 1e-6 or high > box.high + 1e-6:
                raise ValueError(
                    f"pixel values lie in [{low:.4g}, {high:.4g}], outside the box rule's "
                    f"[{box.low:g}, {box.high:g}]; give the input layer ZBox(low, high) for "
                    "your pixel range, or another rule")
            probe = torch.cat([example[:1], torch.full_like(example[:1], box.low),
                               torch.full_like(example[:1], box.high)])
        else:
            probe = example[:1]
        trace = batchnorm_pairs(model, probe)
        modules = dict(model.named_modules())
        if not trace.order:
            raise TypeError(f"{type(model).__name__} has no Linear or Conv layer that runs: "
                            "LRP has no layer to propagate through")
        for name in trace.unpaired:
            raise TypeError(f"BatchNorm {name!r} does not directly follow a Linear/Conv layer, "
                            "so it cannot be folded into one; LRP's rules are defined for "
                            "Linear/Conv layers with the BatchNorm folded in")
        for name, calls in trace.calls.items():
            if calls > 1:
                raise TypeError(f"layer {name!r} runs {calls} times in one forward pass; LRP "
                                "here needs every Linear/Conv/BatchNorm layer to run once")
        self.layers: list[RuleLayer] = []
        found_at = places(model)
        replacements: dict[int, tuple[list, nn.Module]] = {}
        for index, name in enumerate(trace.order):
            layer = modules[name]
            bn_name = trace.batchnorm_of.get(name)
            batchnorm = modules[bn_name] if bn_name else None
            if batchnorm is not None and not foldable(batchnorm):
                raise TypeError(f"BatchNorm {bn_name!r} has no running statistics to fold")
            rule = composite.rule_for(index, len(trace.order), layer)
            stand_in = RuleLayer(name, layer, batchnorm, rule, self)
            self.layers.append(stand_in)
            replacements[id(layer)] = (found_at[id(layer)], stand_in)
            if batchnorm is not None:
                replacements[id(batchnorm)] = (found_at[id(batchnorm)], nn.Identity())
        relu6 = [place for where in found_at.values() for place in where
                 if isinstance(place[2], nn.ReLU6)]
        if relu6:  # one stand-in (it keeps no state) in every place of every ReLU6
            replacements[id(relu6[0][2])] = (relu6, ReLU6Relevance(composite.relu6))
        self.replacements = replacements
        self.first = self.layers[0]
        self.bounds = None
        if box is not None:  # the bounds as the first layer sees them (after normalisation)
            low_seen, high_seen = trace.first_input[1:2], trace.first_input[2:3]
            self.bounds = (torch.minimum(low_seen, high_seen), torch.maximum(low_seen, high_seen))
        self.run = _Pass(example[:0], record=False)

    def forward_backward(self, images: torch.Tensor, classes: torch.Tensor, record: bool
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Relevance of the pixels ``(n, C, H, W)`` and z_c; with ``record``, ``self.run.records``
        holds Σ R at every rule layer's input and output."""
        self.run = run = _Pass(images, record)
        with FunctionalGuard(REFUSED_FUNCTIONS, "LRP", SUPPORTED):
            logits = self.model(images)
        check_target_range(classes, logits.shape[1])
        if not run.terms or not logits.requires_grad:
            raise TypeError("the model's output does not depend on its first Linear/Conv layer")
        scores = logits.gather(1, classes[:, None])[:, 0]
        gradients = torch.autograd.grad(scores.sum(), run.terms)
        relevance = sum(t.detach() * g for t, g in zip(run.terms, gradients))
        return relevance.reshape(images.shape), scores.detach()


@contextmanager
def _lrp_plan(model: nn.Module, x: torch.Tensor, composite: Composite | Rule | str
              ) -> Iterator[_Plan]:
    with attribution_mode(model):
        plan = _Plan(model, as_composite(composite), x)
        try:
            with swapped_modules(plan.replacements):
                yield plan
        finally:  # the stand-ins point to the plan: break the cycle, free their weights now
            plan.layers, plan.replacements, plan.first = [], {}, None


def _chunks(x: torch.Tensor, classes: torch.Tensor, batch_size: int, progress: bool, what: str):
    pairs = list(zip(x.split(batch_size), classes.split(batch_size)))
    return tqdm(pairs, desc=what, disable=not progress or len(pairs) == 1, leave=False)


def lrp(model: nn.Module, inputs: torch.Tensor, target: Target,
        composite: Composite | Rule | str = DEFAULT_COMPOSITE, batch_size: int = 2,
        progress: bool = True) -> torch.Tensor:
    r"""Layer-wise relevance propagation, ``(N, 3, H, W)``: the relevance of every pixel value.

    ``composite``: a :class:`~course_lib.methods.lrp_rules.Composite`, one rule for every layer
    (``Epsilon(0.25)``, ``Gamma()``, …), or a name: ``"cmp"`` (default; Kohlbrenner et al.
    2020: the box rule for the pixels, z⁺ for every convolution, ε = 0.25 for dense layers),
    ``"by_depth"`` (Montavon et al. 2019), ``"zero"``, ``"epsilon"``, ``"gamma"``,
    ``"zplus"``. The relevance sums to the class logit :math:`z_c` minus what the biases and
    stabilisers absorb (:func:`lrp_relevance_by_layer` itemises it). ``batch_size`` images go
    through each forward/backward pass.

    What is exact and what is a convention on a network like EfficientNet-Lite0 (BatchNorm,
    ReLU6, depthwise convolutions, average pooling, skip connections): folding BatchNorm is
    exact (the same function); a depthwise convolution is a convolution, the rules apply as
    they are (each channel keeps its relevance); average pooling and skip connections split
    relevance in proportion to the contributions (LRP-0, exactly conserving — a convention:
    zennit's ``Norm`` rule does the same); a ReLU6 passes relevance unchanged (a convention;
    ``Composite(relu6="gradient")`` takes its derivative instead); the normalisation before
    the first convolution passes relevance unchanged (a convention).
    """
    model, x, classes = prepare(model, inputs, target)
    batch_size = check_batch_size(batch_size)
    parts = []
    with _lrp_plan(model, x, composite) as plan:
        for images, chunk_classes in _chunks(x, classes, batch_size, progress, "LRP"):
            parts.append(plan.forward_backward(images, chunk_classes, record=False)[0])
    return torch.cat(parts).to(inputs.device)


@dataclass
class RelevanceByLayer:
    """Relevance summed per image at every rule layer, in forward order.

    ``inputs[l]``/``outputs[l]``: :math:`\\sum R` at the input/output of layer ``l`` (shape
    ``(N,)`` each); ``absorbed[l]`` = outputs − inputs, what that layer's bias and stabiliser
    took; ``score``: :math:`z_c`, the relevance at the top; ``pixels``: :math:`\\sum R` of the
    image. Conservation, layer by layer: ``score − pixels = Σ_l absorbed[l]``.
    """

    names: list[str]
    rules: list[str]
    inputs: torch.Tensor   # (L, N)
    outputs: torch.Tensor  # (L, N)
    score: torch.Tensor    # (N,)
    pixels: torch.Tensor   # (N,)
    relevance: torch.Tensor  # (N, C, H, W), the map itself

    @property
    def absorbed(self) -> torch.Tensor:
        return self.outputs - self.inputs


def lrp_relevance_by_layer(model: nn.Module, inputs: torch.Tensor, target: Target,
                           composite: Composite | Rule | str = DEFAULT_COMPOSITE,
                           batch_size: int = 2) -> RelevanceByLayer:
    """LRP, and :math:`\\sum R` at the input and output of every Linear/Conv layer.

    The same computation as :func:`lrp`; the sums are taken by tensor hooks as the backward
    pass goes by (they go with the graph).
    """
    model, x, classes = prepare(model, inputs, target)
    batch_size = check_batch_size(batch_size)
    relevance, ins, outs, scores = [], [], [], []
    names, rules = [], []
    with _lrp_plan(model, x, composite) as plan:
        for images, chunk_classes in _chunks(x, classes, batch_size, False, "LRP"):
            pixels, score = plan.forward_backward(images, chunk_classes, record=True)
            records = plan.run.records
            names, rules = [r.name for r in records], [r.rule for r in records]
            nothing = torch.zeros_like(score)  # a layer the target's score does not reach
            layer_in = [nothing if r.inputs is None else r.inputs for r in records]
            layer_in[0] = pixels.flatten(1).sum(dim=1)  # the input layer: with the box terms
            ins.append(torch.stack(layer_in))
            outs.append(torch.stack([nothing if r.outputs is None else r.outputs
                                     for r in records]))
            relevance.append(pixels)
            scores.append(score)
    pixels = torch.cat(relevance)
    return RelevanceByLayer(names, rules, torch.cat(ins, dim=1).detach(),
                            torch.cat(outs, dim=1).detach(), torch.cat(scores),
                            pixels.flatten(1).sum(dim=1).detach(), pixels.detach())
