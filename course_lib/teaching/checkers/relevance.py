"""Checkers for the exercises of notebook 06 · Relevance that adds up: LRP and DeepLIFT."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.teaching.checkers.common import Mismatch, as_tensor, call, compare, verdict


def _dense_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                 float]]:
    generator = torch.Generator().manual_seed(0)
    cases = []
    for n, j, k, epsilon in ((2, 5, 3, 0.1), (3, 4, 6, 0.5)):
        a = torch.rand(n, j, generator=generator, dtype=torch.float64) * 2
        weight = torch.randn(k, j, generator=generator, dtype=torch.float64)
        bias = torch.randn(k, generator=generator, dtype=torch.float64) * 0.5
        relevance = torch.randn(n, k, generator=generator, dtype=torch.float64)
        cases.append((f"{n} inputs of {j} units, {k} outputs, ε = {epsilon}", a, weight, bias,
                      relevance, epsilon))
    return cases


def _epsilon_reference(a, weight, bias, relevance, epsilon, signed=True, times_a=True,
                       with_bias=True):
    z = a @ weight.T + (bias if with_bias else 0)
    sign = torch.where(z >= 0, 1.0, -1.0).to(z.dtype) if signed else 1.0
    c = (relevance / (z + epsilon * sign)) @ weight
    return a * c if times_a else c


def lrp_epsilon_dense(fn: Callable) -> bool:
    """06 · Exercise 1: ``fn(a, weight, bias, relevance, epsilon)`` → LRP-ε relevance of the inputs.

    ``a`` is ``(N, J)``, ``weight`` ``(K, J)`` (as in ``nn.Linear``), ``bias`` ``(K,)``,
    ``relevance`` ``(N, K)``; the answer is ``(N, J)``:
    :math:`R_j = a_j \\sum_k w_{kj} R_k / (z_k + \\varepsilon\\,\\mathrm{sign}(z_k))`.
    """
    def run() -> str:
        for description, a, weight, bias, relevance, epsilon in _dense_cases():
            got = call(fn, a.clone(), weight.clone(), bias.clone(), relevance.clone(), epsilon)
            expected = _epsilon_reference(a, weight, bias, relevance, epsilon)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and not \
                    torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-8):
                got = got.double()
                for wrong, hint in (
                        (dict(signed=False), "ε must carry the sign of z: z + ε·sign(z), "
                         "otherwise a negative z near −ε is divided by almost zero"),
                        (dict(times_a=False), "you return the signal c = Σ_k w_kj R_k / z_k; "
                         "multiply it by the activations a"),
                        (dict(with_bias=False), "z_k must include the bias: z_k = Σ_j a_j w_kj "
                         "+ b_k (the bias's share is what gets absorbed)")):
                    if torch.allclose(got, _epsilon_reference(a, weight, bias, relevance,
                                                              epsilon, **wrong), rtol=1e-5):
                        raise Mismatch(f"on {description}: {hint}")
            compare(got, expected, f"on {description}, your relevance", rtol=1e-5, atol=1e-8)
        return "R_j = a_j Σ_k w_kj R_k / (z_k + ε sign z_k)"
    return verdict("LRP-ε for a dense layer", run)


def _zplus_reference(conv: nn.Conv2d, a: torch.Tensor, relevance: torch.Tensor,
                     weight_part: Callable = lambda w: w.clamp(min=0),
                     bias_part: Callable = lambda b: b.clamp(min=0), times_a: bool = True
                     ) -> torch.Tensor:
    a = a.detach().clone().requires_grad_(True)
    z = F.conv2d(a, weight_part(conv.weight.detach()), bias_part(conv.bias.detach()),
                 conv.stride, conv.padding)
    s = (relevance / (z + 1e-6)).detach()
    (c,) = torch.autograd.grad((z * s).sum(), a)
    return a.detach() * c if times_a else c


def lrp_zplus_layer(fn: Callable) -> bool:
    """06 · Exercise 2: ``fn(conv, a, relevance)`` → z⁺ relevance of the inputs of ``conv``.

    ``a ≥ 0`` (it comes from a ReLU), ``relevance`` has the shape of ``conv(a)``; the
    denominators are :math:`\\sum_j a_j w_{jk}^+ + b_k^+` (plus 1e-6).
    """
    def run() -> str:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            layers = [nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 3, stride=2)]
        generator = torch.Generator().manual_seed(1)
        for conv, size in zip(layers, (6, 7)):
            with torch.no_grad():  # biases of both signs
                conv.bias.copy_(torch.linspace(-0.6, 0.6, conv.out_channels))
            a = torch.rand(2, conv.in_channels, size, size, generator=generator)
            with torch.no_grad():
                relevance = torch.rand(conv(a).shape, generator=generator)
            description = f"a Conv2d({conv.in_channels}, {conv.out_channels}, 3)"
            expected = _zplus_reference(conv, a, relevance)
            got = call(fn, conv, a.clone(), relevance.clone())
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and not \
                    torch.allclose(got, expected, rtol=1e-4, atol=1e-7):
                for kwargs, hint in (
                        (dict(weight_part=lambda w: w), "the negative weights take part: z⁺ "
                         "keeps only w⁺ = w.clamp(min=0)"),
                        (dict(bias_part=lambda b: b), "the bias enters as b⁺ = "
                         "b.clamp(min=0), like the weights"),
                        (dict(bias_part=lambda b: torch.zeros_like(b)), "the bias enters as b⁺ "
                         "= b.clamp(min=0), not as 0"),
                        (dict(times_a=False), "you return the gradient c; the relevance is a ⊙ c")):
                    if torch.allclose(got, _zplus_reference(conv, a, relevance, **kwargs),
                                      rtol=1e-4, atol=1e-7):
                        raise Mismatch(f"on {description}: {hint}")
            compare(got, expected, f"on {description}, your relevance", rtol=1e-4, atol=1e-7)
            if not all(p.grad is None for p in conv.parameters()):
                raise Mismatch("the layer's parameters received gradients: compute with "
                               "detached weights (or torch.autograd.grad on the input only)")
        return "z = conv(a; w⁺, b⁺), s = R/z, R_in = a ⊙ ∂(z·s)/∂a"
    return verdict("z⁺ rule by the gradient trick", run)


def _rescale_reference(x: torch.Tensor, x_ref: torch.Tensor) -> torch.Tensor:
    delta = x - x_ref
    slope = (x.clamp(0, 6) - x_ref.clamp(0, 6)) / torch.where(delta == 0, 1.0, delta)
    return torch.where(delta.abs() < 1e-10, ((x > 0) & (x < 6)).to(x.dtype), slope)


def rescale_multiplier(fn: Callable) -> bool:
    """06 · Exercise 3: ``fn(x, x_ref)`` → DeepLIFT's Rescale multiplier of a ReLU6, elementwise.

    :math:`m = (\\mathrm{ReLU6}(x) - \\mathrm{ReLU6}(x')) / (x - x')`, and the gradient
    :math:`\\mathbb{I}(0 < x < 6)` where :math:`|x - x'| < 10^{-10}`.
    """
    x = torch.tensor([8.0, -2.0, 3.0, 3.0, -1.0, 7.0, 2.0, 5.0, 0.5, 9.0], dtype=torch.float64)
    x_ref = torch.tensor([-2.0, 8.0, 1.0, 3.0, -1.0, 7.0, 2.0, 0.0, -0.5, 7.0],
                         dtype=torch.float64)

    def run() -> str:
        got = as_tensor(call(fn, x.clone(), x_ref.clone()), "your multiplier")
        expected = _rescale_reference(x, x_ref)
        if got.shape == expected.shape:
            got = got.double()
            equal = x == x_ref
            if not torch.isfinite(got).all():
                where = [f"x = x' = {v:g}" for v in x[~torch.isfinite(got)].tolist()]
                raise Mismatch(f"NaN or inf where {', '.join(where)}: there Δx = 0 and the "
                               "secant is 0/0; fall back to the gradient I(0 < x < 6)")
            relu = torch.where(equal, (x > 0).double(), (x.clamp(min=0) - x_ref.clamp(min=0))
                               / torch.where(equal, 1.0, x - x_ref))
            if torch.allclose(got, relu):
                raise Mismatch("this is the multiplier of a ReLU: ReLU6 is capped at 6 "
                               "(clamp(0, 6)), e.g. x = 8, x' = −2 gives 6/10, not 8/10")
            gradient = ((x > 0) & (x < 6)).double()
            if torch.allclose(got, gradient):
                raise Mismatch("this is the gradient at x everywhere; DeepLIFT uses the slope "
                               "of the secant from x' to x, the gradient only where x = x'")
        compare(got, expected, "your multiplier", rtol=1e-6, atol=1e-9)
        return "the secant slope ΔReLU6/Δx, and the gradient where Δx = 0"
    return verdict("Rescale multiplier of a ReLU6", run)


def deeplift_and_ig(deeplift: Sequence[float] | None, ig: Sequence[float] | None) -> bool:
    """06 · Exercise 4: y = ReLU(ReLU(x₁ − 1) − x₂) at x = (3, 1), baseline (0, 0).

    DeepLIFT (Rescale) gives (2, −1), Integrated Gradients (3/2, −1/2); both sum to 1.
    """
    expected = {"DeepLIFT": (2.0, -1.0), "IG": (1.5, -0.5)}

    def read(values: object, name: str) -> tuple[float, float]:
        if values is None:
            raise Mismatch(f"{name} is not answered yet (still None)")
        try:
            numbers = tuple(float(v) for v in values)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise Mismatch(f"{name}: expected two numbers (C₁, C₂), got {values!r}") from None
        if len(numbers) != 2:
            raise Mismatch(f"{name}: expected two numbers (C₁, C₂), got {len(numbers)}")
        return numbers  # type: ignore[return-value]

    def run() -> str:
        answers = {"DeepLIFT": read(deeplift, "deeplift"), "IG": read(ig, "ig")}
        for name, values in answers.items():
            other = "IG" if name == "DeepLIFT" else "DeepLIFT"
            if all(math.isclose(v, e, abs_tol=1e-3) for v, e in zip(values, expected[name])):
                continue
            if all(math.isclose(v, e, abs_tol=1e-3) for v, e in zip(values, expected[other])):
                raise Mismatch(f"your {name} answer {values} is {other}'s")
            if not math.isclose(sum(values), 1.0, abs_tol=1e-3):
                raise Mismatch(f"your {name} answer {values} sums to {sum(values):g}, but both "
                               "methods are complete: the sum must be y(x) − y(x') = 1 − 0 = 1")
            hint = ("multipliers: the hidden unit's input goes from −1 to 2 while its output "
                    "goes from 0 to 2 (m = 2/3); the output unit's from 0 to 1 (m = 1)"
                    if name == "DeepLIFT" else
                    "along α(3, 1) the hidden unit is on for α > 1/3, the output for α > 1/2: "
                    "average the gradient (1, −1) over that part of the path")
            raise Mismatch(f"your {name} answer {values} is not right; {hint}")
        return "DeepLIFT (2, −1), IG (1.5, −0.5): one secant per unit vs. the path average"
    return verdict("DeepLIFT and IG on two layers", run)
