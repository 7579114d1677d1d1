r"""Deletion and insertion curves (Petsiuk, Das & Saenko 2018, RISE, arXiv:1806.07421).

A good saliency map ranks the pixels the model really uses first. Two
perturbation games test that ranking without any ground truth:

* **deletion** — start from the image and replace its pixels, most salient
  first, by a baseline (black by default, as in the paper). The probability of
  the class should fall *fast*: a **low** area under the curve is good.
* **insertion** — start from a blurred copy (the paper's choice: it removes the
  detail but keeps colours, so the start is not out of distribution) and put the
  original pixels back, most salient first. The probability should rise *fast*:
  a **high** area is good.

With the pixels sorted by decreasing saliency, step :math:`s = 0 … S` replaces
the first :math:`n_s = \mathrm{round}(s\,HW/S)` of them (all colour channels),
and the curve is the softmax probability :math:`p_c` of the target class at each
step; the area is the trapezoid rule over the fraction :math:`n_s/HW` of pixels
replaced, so it lies in [0, 1]. The paper replaces 224 pixels per step; ``steps``
(default 32) keeps the cost at ``N · (steps + 1)`` forward passes. A random
pixel order (:func:`random_saliency`) is the baseline every map must beat.

:func:`removal_curves` generalises both games: cells (``block × block`` pixels)
removed in the most-relevant-first (**MoRF**, = deletion) or least-relevant-first
(**LeRF**, = insertion read backwards) order, each with three fills — black, blurred
and ROAD's noisy linear imputation (:mod:`course_lib.evaluation.imputation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.evaluation.imputation import FILLS, check_block, fill_removed, road_noise
from course_lib.methods.forward import class_scores
from course_lib.methods.integrated_gradients import make_baseline
from course_lib.model_state import attribution_mode

Score = Literal["probability", "logit"]


@dataclass
class Curves:
    """What :func:`deletion_curve` / :func:`insertion_curve` return.

    ``fractions``: fraction of pixels replaced at each step, ``(steps + 1,)``, from 0 to 1;
    ``scores``: the class score at each step, ``(N, steps + 1)``;
    ``auc``: trapezoid area under each curve over ``fractions``, ``(N,)``.
    """

    fractions: torch.Tensor
    scores: torch.Tensor
    auc: torch.Tensor


def area_under_curve(scores: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Trapezoid area of each row of ``scores`` (``(N, S)``) over ``fractions`` (``(S,)``)."""
    return torch.trapezoid(scores, fractions.to(scores), dim=-1)


def random_saliency(inputs_or_shape: torch.Tensor | tuple[int, ...], seed: int = 0
                    ) -> torch.Tensor:
    """Uniform random maps ``(N, H, W)`` (seeded): the random pixel order to compare with.

    Pass the images ``(N, 3, H, W)`` or a shape ``(N, H, W)``.
    """
    if isinstance(inputs_or_shape, torch.Tensor):
        shape = (inputs_or_shape.shape[0], *inputs_or_shape.shape[-2:])
        device = inputs_or_shape.device
    else:
        shape, device = tuple(inputs_or_shape), torch.device("cpu")
        if len(shape) != 3:
            raise ValueError(f"shape must be (N, H, W), got {shape}")
    generator = torch.Generator(device).manual_seed(seed)
    return torch.rand(shape, generator=generator, device=device)


def _check_saliency(saliency: object, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(saliency, torch.Tensor):
        raise TypeError(f"saliency must be a torch.Tensor (N, H, W), got "
                        f"{type(saliency).__name__}")
    expected = (x.shape[0], *x.shape[-2:])
    if tuple(saliency.shape) != expected:
        hint = (" — collapse the colour channels first, e.g. course.aggregate_channels(map)"
                if saliency.ndim == 4 else "")
        hint = hint or (" — upsample the map to the image size (Grad-CAM: upsample=True)"
                        if saliency.ndim == 3 and len(saliency) == x.shape[0] else "")
        raise ValueError(f"saliency must have shape (N, H, W) = {expected}, one map per image "
                         f"at the image's resolution; got {tuple(saliency.shape)}{hint}")
    if not saliency.is_floating_point() or not torch.isfinite(saliency).all():
        raise ValueError("saliency must be finite floating-point values (no NaN)")
    return saliency.detach().to(x.device)


def _check_reference(reference: object, x: torch.Tensor, blur_sigma: float) -> torch.Tensor:
    if isinstance(reference, str):
        if reference not in ("black", "blurred"):
            raise ValueError(f"unknown baseline {reference!r}; choose 'black', 'blurred' or "
                             "pass a tensor")
        return make_baseline(x, reference, blur_sigma=blur_sigma)
    if not isinstance(reference, torch.Tensor):
        raise TypeError("baseline must be 'black', 'blurred' or a tensor, got "
                        f"{type(reference).__name__}")
    if reference.shape != x.shape and reference.shape != x.shape[1:]:
        raise ValueError(f"baseline has shape {tuple(reference.shape)}; it must match the "
                         f"inputs {tuple(x.shape)} or one image {tuple(x.shape[1:])}")
    return reference.detach().to(x.device, x.dtype).expand_as(x)


def _check_steps(steps: object, pixels: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= pixels:
        raise ValueError(f"steps must be an int between 1 and the number of pixels ({pixels}), "
                         f"got {steps!r}")
    return steps


def perturbation_curve(model: nn.Module, inputs: torch.Tensor, target: Target,
                       saliency: torch.Tensor, start: torch.Tensor, finish: torch.Tensor,
                       steps: int = 32, score: Score = "probability", batch_size: int = 32,
                       progress: bool = True, desc: str = "curve passes") -> Curves:
    """The common game: move pixels from ``start`` to ``finish``, most salient first.

    ``start`` and ``finish`` are full images shaped like ``inputs`` (deletion:
    the image → the baseline; insertion: the blurred image → the image). Ties
    in the saliency are broken by pixel index, so the order is deterministic.
    """
    model, x, classes = prepare(model, inputs, target)
    saliency = _check_saliency(saliency, x)
    if score not in ("probability", "logit"):
        raise ValueError(f"score must be 'probability' or 'logit', got {score!r}")
    batch_size = check_batch_size(batch_size)
    n, pixels = x.shape[0], x.shape[-2] * x.shape[-1]
    steps = _check_steps(steps, pixels)
    start, finish = start.to(x.device, x.dtype), finish.to(x.device, x.dtype)
    counts = torch.round(torch.linspace(0, pixels, steps + 1, dtype=torch.float64)).long()
    fractions = counts.double() / pixels
    # rank[i, p] = position of pixel p in image i's order (0 = most salient)
    order = saliency.flatten(1).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(pixels, device=x.device).expand(n, pixels))
    jobs = [(i, s) for i in range(n) for s in range(steps + 1)]
    scores = torch.empty(n, steps + 1, dtype=torch.float64)
    with torch.no_grad(), attribution_mode(model), tqdm(
            total=len(jobs), desc=desc, disable=not progress, leave=False) as bar:
        for first in range(0, len(jobs), batch_size):
            chunk = jobs[first:first + batch_size]
            images = torch.stack([
                torch.where((rank[i] < counts[s].to(x.device)).view(1, *x.shape[-2:]),
                            finish[i], start[i]) for i, s in chunk])
            logits = model(images)
            rows = torch.tensor([i for i, _ in chunk], device=x.device)
            check_target_range(classes[rows], logits.shape[1])
            values = logits.softmax(dim=1) if score == "probability" else logits
            picked = values.gather(1, classes[rows][:, None])[:, 0].double().cpu()
            for (i, s), value in zip(chunk, picked):
                scores[i, s] = value
            bar.update(len(chunk))
    return Curves(fractions=fractions, scores=scores, auc=area_under_curve(scores, fractions))


def deletion_curve(model: nn.Module, inputs: torch.Tensor, target: Target,
                   saliency: torch.Tensor, steps: int = 32,
                   baseline: Literal["black", "blurred"] | torch.Tensor = "black",
                   blur_sigma: float = 5.0, score: Score = "probability",
                   batch_size: int = 32, progress: bool = True) -> Curves:
    """Deletion: replace the most salient pixels by ``baseline`` first (lower AUC = better).

    ``saliency`` ``(N, H, W)``, one map per image at the image's resolution;
    ``baseline`` black (zeros, the paper's choice), ``"blurred"`` (Gaussian,
    ``blur_sigma`` pixels) or a tensor. ``batch_size`` images per forward pass.
    """
    _, x, _ = prepare(model, inputs, target)
    finish = _check_reference(baseline, x, blur_sigma)
    return perturbation_curve(model, inputs, target, saliency, x, finish, steps, score,
                              batch_size, progress, desc="deletion passes")


def insertion_curve(model: nn.Module, inputs: torch.Tensor, target: Target,
                    saliency: torch.Tensor, steps: int = 32,
                    baseline: Literal["black", "blurred"] | torch.Tensor = "blurred",
                    blur_sigma: float = 5.0, score: Score = "probability",
                    batch_size: int = 32, progress: bool = True) -> Curves:
    """Insertion: start from ``baseline`` (blurred, the paper's choice) and put the most
    salient pixels back first (higher AUC = better). Arguments as :func:`deletion_curve`."""
    _, x, _ = prepare(model, inputs, target)
    start = _check_reference(baseline, x, blur_sigma)
    return perturbation_curve(model, inputs, target, saliency, start, x, steps, score,
                              batch_size, progress, desc="insertion passes")


# --------------------------------------------------------------------------- MoRF and LeRF

Order = Literal["morf", "lerf"]
ORDERS: tuple[str, ...] = ("morf", "lerf")
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(k / 10 for k in range(11))


def cell_order(saliency: torch.Tensor, block: int = 1, tie_seed: int = 0) -> torch.Tensor:
    """Cells of each map from most to least relevant, ``(N, cells)`` indices (MoRF order).

    The map ``(N, H, W)`` is averaged over ``block × block`` cells first. Ties (a CAM's
    zeros, a binary mask) are broken at random — image ``i`` with seed ``tie_seed + i`` —
    never by position, which would remove the top-left corner first. The least
    relevant first (LeRF) order is this order reversed.
    """
    cells = F.avg_pool2d(saliency[:, None].double(), block)[:, 0] if block > 1 else saliency
    flat = cells.flatten(1).double().cpu()
    orders = []
    for i, values in enumerate(flat):
        shuffle = torch.randperm(len(values), generator=torch.Generator().manual_seed(tie_seed + i))
        orders.append(shuffle[values[shuffle].argsort(descending=True, stable=True)])
    return torch.stack(orders)


@dataclass
class RemovalCurves:
    """What :func:`removal_curves` returns.

    ``fractions`` ``(F,)``: share of cells removed at each step (0 … 1); ``scores``: a dict
    ``(fill, order) → (N, F)`` class probabilities; :meth:`auc` integrates one curve per
    image with the trapezoid rule.
    """

    fractions: torch.Tensor
    scores: dict[tuple[str, str], torch.Tensor]

    def auc(self, fill: str, order: str) -> torch.Tensor:
        """Area under each image's curve, ``(N,)`` (MoRF: lower = better; LeRF: higher = better)."""
        return area_under_curve(self.scores[fill, order], self.fractions)


def removal_curves(model: nn.Module, inputs: torch.Tensor, target: Target,
                   saliency: torch.Tensor, fills: tuple[str, ...] = ("black", "blurred", "road"),
                   orders: tuple[str, ...] = ORDERS,
                   fractions: tuple[float, ...] = DEFAULT_FRACTIONS, block: int = 1,
                   blur_sigma: float = 5.0, blurred: torch.Tensor | None = None,
                   noise_seed: int = 0, tie_seed: int = 0, batch_size: int = 32,
                   progress: bool = True) -> RemovalCurves:
    r"""Remove cells in the map's order and record :math:`p_c`: MoRF and LeRF, for every fill.

    **MoRF** (most relevant first) is Petsiuk et al.'s *deletion* and Samek et al.'s
    (2017) pixel flipping: a fast drop (low area) is good. **LeRF** (least relevant
    first) removes the unimportant cells first: the score should stay up (high area).
    LeRF *is* Petsiuk et al.'s **insertion** read backwards: removing the least
    relevant fraction :math:`t` leaves exactly the most relevant :math:`1 - t` in place,
    which is the insertion image at :math:`1 - t` — so the LeRF area equals the insertion
    area with the same fill (their insertion starts from a blurred image: fill
    ``"blurred"``). Fills: :func:`course_lib.evaluation.imputation.fill_removed`.
    ``fractions`` must start at 0 and end at 1; ``block`` the cell size; ``blurred`` the
    images of the blurred fill (default: a Gaussian blur of ``blur_sigma``); the ROAD noise
    of image ``i`` is seeded ``noise_seed + i``, its tie-breaking ``tie_seed + i``.
    Cost: ``N · (1 + len(fills) · (1 + len(orders) · (F − 2)))`` forward passes.
    """
    model, x, classes = prepare(model, inputs, target)
    saliency = _check_saliency(saliency, x)
    batch_size = check_batch_size(batch_size)
    block = check_block(block, *x.shape[-2:])
    unknown = [f for f in fills if f not in FILLS] + [o for o in orders if o not in ORDERS]
    if unknown or not fills or not orders:
        raise ValueError(f"fills must come from {FILLS} and orders from {ORDERS}; got {fills}, "
                         f"{orders}")
    fractions_t = torch.tensor(fractions, dtype=torch.float64)
    if len(fractions_t) < 2 or fractions_t[0] != 0 or fractions_t[-1] != 1 or \
            not (fractions_t.diff() > 0).all():
        raise ValueError(f"fractions must increase from 0 to 1, got {fractions}")
    n, (height, width) = len(x), x.shape[-2:]
    cells = (height // block) * (width // block)
    counts = torch.round(fractions_t * cells).long().tolist()
    order = cell_order(saliency, block, tie_seed)
    if "blurred" in fills:
        blurred = make_baseline(x, "blurred", blur_sigma=blur_sigma) if blurred is None \
            else _check_reference(blurred, x, blur_sigma)
    noise = road_noise(x, noise_seed).to(x.device) if "road" in fills else None
    scores = {(f, o): torch.empty(n, len(counts), dtype=torch.float64) for f in fills
              for o in orders}
    total = n * (1 + len(fills) * (1 + len(orders) * (len(counts) - 2)))
    with attribution_mode(model), tqdm(total=total, desc="removal passes",
                                       disable=not progress, leave=False) as bar:
        for i in range(n):
            # (fill, order, step) → image; the two ends are shared by every order
            jobs: list[tuple[str | None, str | None, int]] = [(None, None, 0)]
            jobs += [(f, None, len(counts) - 1) for f in fills]
            jobs += [(f, o, s) for f in fills for o in orders for s in range(1, len(counts) - 1)]
            images = []
            for f, o, s in jobs:
                if f is None:
                    images.append(x[i])
                    continue
                chosen = order[i, :counts[s]] if o in (None, "morf") else \
                    order[i, cells - counts[s]:]
                removed = torch.zeros(cells, dtype=torch.bool)
                removed[chosen] = True
                removed = removed.view(1, height // block, width // block)
                images.append(fill_removed(
                    x[i:i + 1], removed.to(x.device), f, block,
                    None if blurred is None else blurred[i:i + 1],
                    None if noise is None else noise[i:i + 1])[0])
            values = []
            for first in range(0, len(images), batch_size):
                chunk = torch.stack(images[first:first + batch_size])
                values.append(class_scores(model, chunk, classes[i:i + 1], "probability"))
                bar.update(len(chunk))
            p = torch.cat(values).double().cpu()
            for (f, o, s), value in zip(jobs, p):
                targets = [(f2, o2) for f2 in fills for o2 in orders] if f is None else \
                    [(f, o2) for o2 in orders] if o is None else [(f, o)]
                for key in targets:
                    scores[key][i, s] = value
    return RemovalCurves(fractions=fractions_t, scores=scores)
