r"""Coalitions of superpixels and their scores: the one experiment LIME and SHAP repeat.

A coalition :math:`z \in \{0, 1\}^M` keeps the superpixels with :math:`z_k = 1` and fills
the rest (:mod:`course_lib.methods.superpixels`). Its **value** is the class score of that
image, :math:`v(z) = z_c(x_{[z]})`: one forward pass per coalition and image. The masked
images are built for a whole chunk at once by indexing (``z[segments]``), and every
forward pass goes through :func:`course_lib.methods.forward.class_scores`.

The score of the full coalition (every superpixel on) is the score of the photo itself.
It comes from one forward pass of the unchanged batch, which also checks the target
classes against the model's output size, and is never computed twice.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.forward import class_scores
from course_lib.methods.superpixels import Fill, check_segments, make_fill
from course_lib.model_state import attribution_mode

Score = Literal["logit", "probability"]

MAX_EXACT_PLAYERS = 16  # 2^16 = 65,536 forward passes per image


def check_score(score: object) -> str:
    """``"logit"`` (:math:`z_c`) or ``"probability"`` (the softmax :math:`p_c`)."""
    if score not in ("logit", "probability"):
        raise ValueError(f"unknown score {score!r}; choose 'logit' or 'probability'")
    return str(score)


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """A sample or mask count: an ``int`` of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_coalitions(coalitions: object, n_players: int) -> torch.Tensor:
    """Coalitions given by the caller: a 0/1 (or bool) tensor ``(K, M)`` → bool, on the CPU."""
    if not isinstance(coalitions, torch.Tensor):
        raise TypeError("coalitions must be a 0/1 torch.Tensor (K, M), got "
                        f"{type(coalitions).__name__}")
    if coalitions.ndim != 2 or coalitions.shape[1] != n_players or len(coalitions) == 0:
        raise ValueError(f"coalitions must have shape (K, M) with M = {n_players} superpixels "
                         f"and K ≥ 1, got {tuple(coalitions.shape)}")
    if not ((coalitions == 0) | (coalitions == 1)).all():
        raise ValueError("coalitions must hold only 0 (superpixel off) and 1 (on)")
    return coalitions.detach().cpu().bool()


def all_coalitions(n_players: int) -> torch.Tensor:
    """Every coalition of ``n_players`` players, ``(2^M, M)`` bool: row ``b`` is the binary
    number ``b`` (player ``k`` is bit ``k``), so row 0 is empty and the last row is full."""
    check_count(n_players, "n_players")
    if n_players > MAX_EXACT_PLAYERS:
        raise ValueError(f"{n_players} players have 2^{n_players} coalitions; enumerate at "
                         f"most {MAX_EXACT_PLAYERS}")
    bits = torch.arange(2 ** n_players)[:, None] >> torch.arange(n_players)
    return (bits & 1).bool()


def photo_scores(model: nn.Module, x: torch.Tensor, classes: torch.Tensor, score: str
                 ) -> torch.Tensor:
    """Scores of the unchanged images ``(N,)``, one forward pass; checks the target range.

    Call inside :func:`course_lib.model_state.attribution_mode`.
    """
    with torch.inference_mode():
        logits = model(x)
    check_target_range(classes, logits.shape[1])
    if score == "probability":
        logits = logits.softmax(dim=1)
    return logits.gather(1, classes[:, None])[:, 0].clone()


def masked_images(x: torch.Tensor, fill: torch.Tensor, segments: torch.Tensor,
                  coalitions: torch.Tensor) -> torch.Tensor:
    """One image per row: ``x[i]`` where ``coalitions[i]`` keeps the superpixel, ``fill[i]``
    elsewhere. All arguments have one row per output image: ``(B, 3, H, W)``, ``(B, 3, H, W)``,
    ``(B, H, W)``, ``(B, M)`` bool."""
    keep = coalitions.gather(1, segments.flatten(1)).view(len(x), 1, *x.shape[-2:])
    return torch.where(keep, x, fill)


def score_coalitions(model: nn.Module, x: torch.Tensor, fill: torch.Tensor,
                     segments: torch.Tensor, classes: torch.Tensor, coalitions: torch.Tensor,
                     full: torch.Tensor, score: str, batch_size: int, bar: tqdm
                     ) -> torch.Tensor:
    """Values ``(N, K)`` of the coalitions ``(K, M)`` (shared by every image).

    Full coalitions take the photo's score ``full`` ``(N,)``; the others are evaluated
    ``batch_size`` images per forward pass, image after image. Arguments checked, on the
    model's device; call inside :func:`course_lib.model_state.attribution_mode`.
    """
    n, k = len(x), len(coalitions)
    coalitions = coalitions.to(x.device)
    values = torch.empty(n, k, dtype=full.dtype, device=x.device)
    is_full = coalitions.all(dim=1)
    values[:, is_full] = full[:, None]
    todo = (~is_full).nonzero()[:, 0]
    pairs = torch.cartesian_prod(torch.arange(n, device=x.device), todo).view(-1, 2)
    for chunk in pairs.split(batch_size):
        image, sample = chunk[:, 0], chunk[:, 1]
        batch = masked_images(x[image], fill[image], segments[image], coalitions[sample])
        values[image, sample] = class_scores(model, batch, classes[image], score)
        bar.update(len(chunk))
    return values


def coalition_scores(model: nn.Module, inputs: torch.Tensor, target: Target,
                     segments: torch.Tensor, coalitions: torch.Tensor, fill: Fill = 0.5,
                     score: Score = "logit", batch_size: int = 16, progress: bool = True
                     ) -> torch.Tensor:
    """The value :math:`v(z) = z_c(x_{[z]})` of every coalition for every image, ``(N, K)``.

    ``segments``: labels ``(H, W)`` or ``(N, H, W)``; ``coalitions``: 0/1 ``(K, M)``, one
    row per coalition, shared by all images; ``fill``: a gray level, an image, a batch of
    images, or ``"mean"`` (each superpixel's mean colour). A full coalition costs no pass
    beyond the one forward pass of the unchanged batch.
    """
    model, x, classes = prepare(model, inputs, target)
    segments, n_players = check_segments(segments, x)
    coalitions = check_coalitions(coalitions, n_players)
    score = check_score(score)
    batch_size = check_batch_size(batch_size)
    fill_images = make_fill(x, fill, segments, n_players)
    passes = len(x) * (1 + int((~coalitions.all(dim=1)).sum()))
    with attribution_mode(model), tqdm(total=passes, desc="coalition passes",
                                       disable=not progress, leave=False) as bar:
        full = photo_scores(model, x, classes, score)
        bar.update(len(x))
        values = score_coalitions(model, x, fill_images, segments, classes, coalitions, full,
                                  score, batch_size, bar)
    return values.to(inputs.device)
