"""What every checker shares: the verdict, the comparison that explains a mismatch, and
small, fast cases (a tiny random CNN, a linear model, random images)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- reporting

class Mismatch(Exception):
    """Raised inside a checker with the explanation the learner should read."""


def verdict(title: str, run: Callable[[], str | None]) -> bool:
    """Run one checker body; print ✓ or ✗ with the explanation; return the verdict."""
    try:
        detail = run()
    except Mismatch as wrong:
        print(f"✗ {title}: {wrong}")
        return False
    print(f"✓ {title}" + (f": {detail}" if detail else ""))
    return True


def call(fn: Callable, *args, what: str = "your function", **kwargs):
    """Call the learner's function; turn any exception into a readable mismatch."""
    if not callable(fn):
        raise Mismatch(f"expected a function, got {type(fn).__name__} (pass the function "
                       "itself, without calling it: check.x(my_fn), not check.x(my_fn()))")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise Mismatch(f"{what} is not written yet (NotImplementedError: {err})") from None
    except Exception as err:  # noqa: BLE001 — report whatever the learner's code raised
        raise Mismatch(f"{what} raised {type(err).__name__}: {err}") from None


def as_tensor(value: object, what: str) -> torch.Tensor:
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        value = value[0]  # e.g. (mean, mean of squares): the first is the answer
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    return value.detach().cpu()


def compare(got: object, expected: torch.Tensor, what: str = "result", rtol: float = 1e-4,
            atol: float = 1e-6) -> None:
    """Raise :class:`Mismatch` explaining how ``got`` differs from ``expected``.

    Reports, in this order: type, shape, NaN, a flipped sign, a constant factor, and
    otherwise the largest error, where it is, and the cosine similarity.
    """
    got = as_tensor(got, what)
    expected = expected.detach().cpu()
    if got.shape != expected.shape:
        hint = ""
        if got.ndim == expected.ndim - 1 and got.shape == expected.shape[:1] + expected.shape[2:]:
            hint = " (did you aggregate the colour channels? keep all three)"
        elif got.ndim == expected.ndim - 1:
            hint = " (did you drop the batch dimension?)"
        elif got.ndim == expected.ndim + 1:
            hint = " (an extra dimension: maybe a batch of one that should be removed with [0])"
        raise Mismatch(f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
                       + hint)
    got, expected = got.double(), expected.double()
    if not torch.isfinite(got).all():
        raise Mismatch(f"{what} contains NaN or infinite values")
    if torch.allclose(got, expected, rtol=rtol, atol=atol):
        return
    scale = expected.abs().max().item()
    error = (got - expected).abs()
    where = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
    if torch.allclose(got, -expected, rtol=rtol, atol=atol):
        raise Mismatch(f"{what} has the wrong sign everywhere (it is exactly −1 × the expected "
                       "values)")
    denominator = (expected * expected).sum()
    if denominator > 0:
        factor = ((got * expected).sum() / denominator).item()
        if abs(factor) > 1e-12 and torch.allclose(got, factor * expected, rtol=rtol, atol=atol):
            raise Mismatch(f"{what} is off by a constant factor: it is {factor:.4g} × the "
                           "expected values")
    cosine = F.cosine_similarity(got.flatten(), expected.flatten(), dim=0).item()
    raise Mismatch(f"{what} differs: largest error {error.max().item():.3g} at index {where} "
                   f"(got {got[where].item():.4g}, expected {expected[where].item():.4g}; "
                   f"largest expected magnitude {scale:.3g}); cosine similarity with the "
                   f"expected values {cosine:.3f}")


# ----------------------------------------------------------------------------- small cases

class TinyNet(nn.Module):
    """A small random CNN shaped like the course model's end: ``features → head → pool → fc``.

    ``head`` is the last convolution (7 × 7 cells for a 224 × 224 input, as in
    EfficientNet-Lite0), followed only by global average pooling and ``fc``. It has an
    ``nn.ReLU(inplace=True)`` and an ``nn.ReLU6`` module, like the models of the course.
    """

    def __init__(self, num_classes: int = 5, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.features = nn.Sequential(nn.Conv2d(3, 6, 8, stride=8), nn.ReLU(inplace=True))
            self.head = nn.Sequential(nn.Conv2d(6, 8, 4, stride=4), nn.ReLU6())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, num_classes)
            for conv in (self.features[0], self.head[0]):
                nn.init.normal_(conv.weight, 0.0, 0.5 / math.sqrt(conv.weight[0].numel()))
                nn.init.uniform_(conv.bias, 0.0, 0.1)  # most units on: maps are not all zero
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.head(self.features(x))).flatten(1))


def tiny_linear(shape: tuple[int, int, int] = (3, 4, 4), num_classes: int = 3,
                seed: int = 0) -> nn.Module:
    """``Flatten → Linear``: a model whose Taylor expansion is exact everywhere."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), num_classes)).eval()


def tiny_images(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` random images ``(n, 3, size, size)`` in [0, 1], from a private generator."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def cases(size: int = 32, linear: bool = True
           ) -> Iterator[tuple[str, nn.Module, torch.Tensor, torch.Tensor]]:
    """(description, model, inputs, one target per image) for the gradient checkers."""
    yield ("a tiny CNN, 2 images, a different class each", TinyNet(),
           tiny_images(2, size), torch.tensor([1, 3]))
    if not linear:  # e.g. DeconvNet needs ReLU modules
        return
    yield ("a linear model, 3 images, class 2", tiny_linear((3, 4, 4)),
           tiny_images(3, 4, seed=1), torch.tensor([2, 2, 2]))


def modules_snapshot(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(model.named_modules())


def same_modules(before: list[tuple[str, nn.Module]], model: nn.Module) -> bool:
    after = list(model.named_modules())
    return len(before) == len(after) and all(
        name_a == name_b and a is b for (name_a, a), (name_b, b) in zip(before, after))


def method_checker(title: str, fn: Callable, reference: Callable, linear: bool = True) -> bool:
    """Compare ``fn(model, inputs, target)`` with ``reference`` on every small case."""
    def run() -> str:
        for description, model, x, target in cases(linear=linear):
            expected = reference(model, x, target)
            got = call(fn, model, x.clone(), target.clone())
            compare(got, expected, f"on {description}, your result")
        return "matches course_lib on a tiny CNN" + (" and on a linear model" if linear else "")
    return verdict(title, run)


