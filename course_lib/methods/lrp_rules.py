r"""LRP rules for one layer, and composites that assign a rule to every layer.

A layer computes :math:`z_k = \sum_j a_j w_{jk} + b_k`; call :math:`z_{jk} = a_j w_{jk}` the
*contribution* of input :math:`j` to output :math:`k` and treat the bias as one more
contribution :math:`z_{0k} = b_k`. Every rule splits the relevance :math:`R_k` of an output
among the inputs in proportion to modified contributions:

=================  ============================================================  ====================
rule               :math:`R_j = \sum_k \dfrac{\rho_{jk}}{\sum_{j'} \rho_{j'k}} R_k`,  with  :math:`\rho_{jk}`  paper
=================  ============================================================  ====================
LRP-0 (``Zero``)   :math:`z_{jk}`                                                 Bach et al. 2015
LRP-ε              :math:`z_{jk}`, denominator :math:`z_k + \varepsilon\,\mathrm{sign}(z_k)`  Bach et al. 2015
LRP-γ              :math:`z_{jk} + \gamma\, z_{jk}^\pm` (the output's sign)         Montavon et al. 2019
z⁺ = α1β0          :math:`z_{jk}^+`                                               Bach et al. 2015
zᴮ (``ZBox``)      :math:`a_j w_{jk} - l_j w_{jk}^+ - h_j w_{jk}^-`  (input layer, pixels in :math:`[l, h]`)  Montavon et al. 2017
=================  ============================================================  ====================

The sums over :math:`j` include the bias term :math:`j = 0` (LRP-0, ε, γ, z⁺): relevance that
the bias would get is *absorbed* and reaches no input. The box rule has no bias term. Every
denominator gets a small stabiliser :math:`\pm\varepsilon` with its own sign (+ for 0).

For inputs :math:`a_j \ge 0` (after a ReLU) :math:`z_{jk}^+ = a_j w_{jk}^+`, so for a positive
output LRP-γ is the familiar layer with weights :math:`w + \gamma w^+` and bias
:math:`b + \gamma b^+` (as in Montavon et al.'s tutorial code) and z⁺ uses :math:`w^+` and
:math:`b^+`. With inputs of both signs the contribution form keeps its meaning:
:math:`z_{jk}^+ = a_j^+ w_{jk}^+ + a_j^- w_{jk}^-`. For a *negative* output LRP-γ favours the
negative contributions instead (the generalisation in zennit's ``Gamma``): otherwise its
denominator could cross zero, which happens in networks whose convolutions feed a sum rather
than a ReLU (the projections of EfficientNet's blocks).

**How a rule is computed: the gradient trick.** Each rule gives :math:`\rho_{jk}` as
:math:`a_j\,\partial z^\rho_k / \partial a_j` for a modified layer output :math:`z^\rho(a)` that
is linear in :math:`a` (:meth:`Rule.outputs`). Then, with :math:`s = R / z^\rho` held constant,

.. math:: R_j = a_j \sum_k \frac{\partial z^\rho_k}{\partial a_j}\, s_k
              = a_j \left[\frac{\partial}{\partial a}\big(z^\rho(a) \cdot s\big)\right]_j,

one backward pass through the layer. :mod:`course_lib.methods.lrp` wires this into autograd.

**Composites** (:class:`Composite`): a rule per layer by its depth. Montavon et al. 2019 (§10.3)
recommend LRP-0 for the upper layers, LRP-ε for the middle, LRP-γ for the lower layers and
the box rule for the pixels; Kohlbrenner et al. 2020 ("LRP-CMP") z⁺ for every convolution and
LRP-ε for the dense layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

# f(inputs, weight, bias): the layer's own forward pass with these parameters
LayerFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def stabilize(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    r""":math:`z + \varepsilon\,\mathrm{sign}(z)`, with sign(0) = +1 (Captum's and zennit's
    convention; ``copysign`` gives a negative zero −1, but an output z = 0 has no relevance)."""
    return z + torch.copysign(torch.tensor(epsilon, dtype=z.dtype, device=z.device), z)


def positive_part(f: LayerFunction, a: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor | None) -> torch.Tensor:
    r""":math:`\sum_j (a_j w_{jk})^+ + b_k^+ = \sum_j (a_j^+ w_{jk}^+ + a_j^- w_{jk}^-) + b_k^+`."""
    positive = f(a.clamp(min=0), weight.clamp(min=0), None if bias is None else bias.clamp(min=0))
    if (a < 0).any():  # after a ReLU there is nothing to add: skip a convolution
        positive = positive + f(a.clamp(max=0), weight.clamp(max=0), None)
    return positive


class Rule:
    """One LRP rule. :meth:`outputs` returns the layer's true output and the rule's
    :math:`z^\\rho(a)`; ``stabilizer`` is the ε added to the denominators."""

    stabilizer: float = 1e-6
    label: str = "rule"

    def outputs(self, f: LayerFunction, a: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Epsilon(Rule):
    r"""LRP-ε: :math:`R_j = \sum_k \frac{a_j w_{jk}}{z_k + \varepsilon\,\mathrm{sign}(z_k)} R_k`.

    A larger ε absorbs the relevance of weakly activated outputs (whose :math:`|z_k|` is small
    against ε): fewer, sparser, less noisy explanations (Bach et al. 2015; Montavon et al. 2019).
    """

    epsilon: float = 1e-6

    @property
    def stabilizer(self) -> float:  # type: ignore[override]
        return self.epsilon

    @property
    def label(self) -> str:  # type: ignore[override]
        return "LRP-0" if self.epsilon == 0 else f"LRP-ε (ε = {self.epsilon:g})"

    def outputs(self, f, a, weight, bias):
        z = f(a, weight, bias)
        return z, z


@dataclass(frozen=True)
class Zero(Epsilon):
    r"""LRP-0: :math:`R_j = \sum_k \frac{a_j w_{jk}}{z_k} R_k` (Bach et al. 2015). On a ReLU network
    it equals gradient × input (Ancona et al. 2018): see :mod:`course_lib.methods.lrp`."""

    epsilon: float = 0.0


@dataclass(frozen=True)
class Gamma(Rule):
    r"""LRP-γ: the contributions that share the output's sign count :math:`1 + \gamma` times.

    For a positive output :math:`\rho_{jk} = z_{jk} + \gamma z_{jk}^+` (Montavon et al. 2019,
    §10.2.3: on non-negative inputs, weights :math:`w + \gamma w^+` and bias :math:`b + \gamma
    b^+`); for a negative one :math:`z_{jk} + \gamma z_{jk}^-` (the generalisation in zennit's
    ``Gamma``, Anders et al. 2021). The denominator then keeps the output's sign and is at least
    as large: the rule is more stable than LRP-0 and favours the evidence that made the output
    what it is. :math:`\gamma \to \infty` gives z⁺ for positive outputs.
    """

    gamma: float = 0.25
    stabilizer: float = 1e-6

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"LRP-γ (γ = {self.gamma:g})"

    def outputs(self, f, a, weight, bias):
        z = f(a, weight, bias)
        positive = positive_part(f, a, weight, bias)
        same_sign = torch.where(z.detach() > 0, positive, z - positive)  # z⁺ or z⁻ parts
        return z, z + self.gamma * same_sign


@dataclass(frozen=True)
class ZPlus(Rule):
    r"""z⁺ = LRP-α1β0: only the positive contributions :math:`z_{jk}^+` (and :math:`b_k^+`).

    Bach et al. 2015 (α = 1, β = 0); Montavon et al. 2017 derive it for ReLU layers by deep
    Taylor decomposition. Relevance keeps the sign of :math:`R_k`.
    """

    stabilizer: float = 1e-6
    label: ClassVar[str] = "z⁺ (α1β0)"

    def outputs(self, f, a, weight, bias):
        with torch.no_grad():
            out = f(a, weight, bias)
        return out, positive_part(f, a, weight, bias)


@dataclass(frozen=True)
class ZBox(Rule):
    r"""zᴮ, the box rule for the input layer (Montavon et al. 2017): pixels lie in ``[low, high]``.

    :math:`R_j = \sum_k \frac{a_j w_{jk} - l_j w_{jk}^+ - h_j w_{jk}^-}{\sum_{j'}(\cdot)} R_k`.
    Every term is :math:`\ge 0` inside the box, so a pixel equal to a bound can still receive
    relevance (unlike LRP-0, where a black pixel gets none). ``low``/``high`` are *pixel*
    values; if the model normalises its input first, the bounds are normalised the same way.
    """

    low: float = 0.0
    high: float = 1.0
    stabilizer: float = 1e-6
    label: ClassVar[str] = "zᴮ (box)"

    def outputs(self, f, a, weight, bias, low=None, high=None):  # type: ignore[override]
        with torch.no_grad():
            out = f(a, weight, bias)
        z = (f(a, weight, None) - f(low, weight.clamp(min=0), None)
             - f(high, weight.clamp(max=0), None))
        return out, z


@dataclass(frozen=True)
class Composite:
    """A rule for every Linear/Conv layer, by its place in the forward pass.

    ``first`` for the input layer; the others, in forward order, split into the lower, middle
    and upper part at the fractions ``split``; with ``dense`` set, every ``nn.Linear`` gets
    it instead. ``relu6`` says how relevance crosses a ReLU6: ``"pass"`` (unchanged, the
    relevance is conserved) or ``"gradient"`` (its derivative, so a unit above 6 passes
    nothing; then LRP-0 is gradient × input, Ancona et al. 2018).
    """

    first: Rule
    lower: Rule
    middle: Rule
    upper: Rule
    dense: Rule | None = None
    split: tuple[float, float] = (1 / 3, 2 / 3)
    relu6: Literal["pass", "gradient"] = "pass"
    name: str = "composite"

    def __post_init__(self) -> None:
        for part in ("lower", "middle", "upper", "dense"):
            rule = getattr(self, part)
            if rule is not None and not isinstance(rule, Rule):
                raise TypeError(f"the {part} rule must be an LRP rule, got {type(rule).__name__}")
            if isinstance(rule, ZBox):
                raise ValueError("the box rule is for the input layer only (first=ZBox())")
        if not isinstance(self.first, Rule):
            raise TypeError(f"the first rule must be an LRP rule, got {type(self.first).__name__}")
        if self.relu6 not in ("pass", "gradient"):
            raise ValueError(f"relu6 must be 'pass' or 'gradient', got {self.relu6!r}")

    @classmethod
    def uniform(cls, rule: Rule, name: str | None = None) -> Composite:
        """The same rule for every layer."""
        return cls(rule, rule, rule, rule, name=name or str(rule))

    def rule_for(self, index: int, count: int, layer: nn.Module) -> Rule:
        """The rule of the ``index``-th of ``count`` layers (forward order)."""
        if index == 0:
            return self.first
        if self.dense is not None and isinstance(layer, nn.Linear):
            return self.dense
        depth = (index - 1) / max(count - 1, 1)
        if depth < self.split[0]:
            return self.lower
        return self.middle if depth < self.split[1] else self.upper


def named_composite(name: str) -> Composite:
    """The composites by name: ``"zero"``, ``"epsilon"``, ``"gamma"``, ``"zplus"`` (one rule
    everywhere), ``"by_depth"`` (Montavon et al. 2019: zᴮ, γ = 0.25, ε = 0.25, LRP-0 from the
    pixels up) and ``"cmp"`` (Kohlbrenner et al. 2020: zᴮ, z⁺ for convolutions, ε = 0.25 dense)."""
    composites = {
        "zero": Composite.uniform(Zero(), "zero"),
        "epsilon": Composite.uniform(Epsilon(0.25), "epsilon"),
        "gamma": Composite.uniform(Gamma(0.25), "gamma"),
        "zplus": Composite.uniform(ZPlus(), "zplus"),
        "by_depth": Composite(ZBox(), Gamma(0.25), Epsilon(0.25), Zero(), name="by_depth"),
        "cmp": Composite(ZBox(), ZPlus(), ZPlus(), ZPlus(), dense=Epsilon(0.25), name="cmp"),
    }
    if name not in composites:
        raise ValueError(f"unknown composite {name!r}; choose one of {sorted(composites)}, a "
                         "Composite or a single rule")
    return composites[name]


def as_composite(composite: Composite | Rule | str) -> Composite:
    """A :class:`Composite` from a composite, a single rule or a name."""
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, ZBox):
        raise ValueError("the box rule is for the input layer only: use "
                         "Composite(first=ZBox(), ...) or a named composite")
    if isinstance(composite, Rule):
        return Composite.uniform(composite)
    if isinstance(composite, str):
        return named_composite(composite)
    raise TypeError("composite must be a Composite, an LRP rule or a name, got "
                    f"{type(composite).__name__}")
