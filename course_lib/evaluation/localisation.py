r"""Scoring attribution maps against ground-truth evidence masks.

Where the pixels that carry the class evidence are known (the synthetic shapes
of :mod:`course_lib.data.synthetic`), a map can be graded. Both scores here are per
image, ``(N,)`` float tensors; their mean over a data set is the method's score.

* :func:`pointing_game` (Zhang et al. 2016, "Top-down neural attention by
  excitation backprop", arXiv:1608.00507): a **hit** when the map's maximum lies
  on the evidence, i.e. within ``tolerance`` pixels of the mask. Ties are shared
  fairly: if the maximum value is taken by several pixels, the score is the share
  of them that lie on the (dilated) mask — the expected hit under random
  tie-breaking. A constant map therefore scores the mask's area fraction, not 1.

  .. math:: \text{hit}(R, M) = \frac{|\{u : R_u = \max R\} \cap M_\tau|}{|\{u : R_u = \max R\}|}

  with :math:`M_\tau` the mask grown by a disc of radius :math:`\tau` pixels.

* :func:`mass_inside_mask` (the "energy-based pointing game" of Wang et al. 2020,
  Score-CAM, arXiv:1910.01279; "relevance mass accuracy" of Arras et al. 2022):
  the share of the map's mass that falls on the mask,

  .. math:: \mu(R, M) = \frac{\sum_{u \in M} m(R_u)}{\sum_u m(R_u)}

  with :math:`m = |\cdot|` (``mass="absolute"``, the default: large negative
  evidence counts as "looking there" too) or :math:`m = \max(\cdot, 0)`
  (``mass="positive"``: only evidence *for* the class). A map equal to the mask
  scores 1, a map off the mask 0, a uniform map the mask's area fraction
  :math:`|M| / HW`. A map of zero mass carries no information and is scored like
  a uniform one (the area fraction).

* :func:`mask_roc_auc` — threshold-free: every pixel is a sample, the mask's pixels
  the positives, the map's value the score; the area under the ROC curve is the
  probability that a random evidence pixel scores higher than a random background
  pixel (ties count one half), computed from ranks (Mann–Whitney U):

  .. math:: \mathrm{AUC}(R, M) = \frac{\sum_{u \in M} \mathrm{rank}(R_u) - |M|(|M|+1)/2}
                                 {|M|\,(HW - |M|)}

  1 = every evidence pixel above every background pixel, 0.5 = chance (a random or a
  constant map), 0 = the reverse. Unlike the two scores above it uses the whole
  *order* of the map and nothing else: rescaling the map changes nothing.

Maps are ``(N, H, W)``; attributions shaped like the images, ``(N, 3, H, W)``, are
first collapsed with :func:`course_lib.aggregate_channels` using ``aggregate``
(default ``"max_abs"``, the course's convention for magnitude maps). Masks are
boolean ``(N, H, W)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from course_lib.maps import Aggregation, aggregate_channels

Mass = Literal["absolute", "positive"]


def _check_maps_and_masks(maps: object, masks: object, aggregate: Aggregation
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a torch.Tensor, got {type(maps).__name__}")
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a torch.Tensor, got {type(masks).__name__}")
    if masks.dtype != torch.bool:
        raise TypeError(f"masks must be boolean (True = evidence pixel), got dtype {masks.dtype}")
    if masks.ndim != 3:
        hint = " (one mask? add a batch dimension with mask[None])" if masks.ndim == 2 else ""
        raise ValueError(f"masks must be shaped (N, H, W), got {tuple(masks.shape)}{hint}")
    if maps.ndim == 4:
        maps = aggregate_channels(maps, aggregate)
    elif maps.ndim != 3:
        hint = " (one map? add a batch dimension with map[None])" if maps.ndim == 2 else ""
        raise ValueError(f"maps must be shaped (N, H, W) or (N, 3, H, W), got "
                         f"{tuple(maps.shape)}{hint}")
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in "
                         "shape; upsample CAM maps to the image size first (upsample=True)")
    if not maps.is_floating_point():
        raise TypeError(f"maps must be floating point, got dtype {maps.dtype}")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values")
    empty = (~masks.flatten(1).any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"the masks of image(s) {empty[:5]} are empty: nothing to point at")
    return maps.detach(), masks.to(maps.device)


def dilate(masks: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow boolean masks ``(N, H, W)`` by every pixel within Euclidean distance ``radius``."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"tolerance must be a non-negative int (pixels), got {radius!r}")
    if radius == 0:
        return masks
    offsets = torch.arange(-radius, radius + 1, device=masks.device)
    disc = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius ** 2).float()
    grown = F.conv2d(masks[:, None].float(), disc[None, None], padding=radius)
    return grown[:, 0] > 0


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0,
                  aggregate: Aggregation = "max_abs") -> torch.Tensor:
    """Per image: 1 if the map's maximum lies on the mask (within ``tolerance`` pixels), else 0.

    Returns ``(N,)`` floats; ties at the maximum give the share of tied pixels on the
    mask (see the module docstring). Zhang et al. use a 15-pixel tolerance on
    224-pixel images; on 64-pixel images a few pixels is the equivalent.
    """
    maps, masks = _check_maps_and_masks(maps, masks, aggregate)
    target = dilate(masks, tolerance).flatten(1)
    flat = maps.flatten(1)
    at_max = flat == flat.amax(dim=1, keepdim=True)
    return (at_max & target).sum(dim=1).float() / at_max.sum(dim=1).float()


def mass_inside_mask(maps: torch.Tensor, masks: torch.Tensor, mass: Mass = "absolute",
                     aggregate: Aggregation = "max_abs") -> torch.Tensor:
    """Per image: the share of the map's ``mass`` (``"absolute"`` or ``"positive"``) on the mask.

    Returns ``(N,)`` floats in [0, 1]; a map of zero mass scores the mask's area fraction.
    """
    maps, masks = _check_maps_and_masks(maps, masks, aggregate)
    if mass == "absolute":
        weights = maps.abs()
    elif mass == "positive":
        weights = maps.clamp(min=0)
    else:
        raise ValueError(f"unknown mass {mass!r}; choose 'absolute' or 'positive'")
    weights, masks = weights.flatten(1).double(), masks.flatten(1)
    total = weights.sum(dim=1)
    inside = (weights * masks).sum(dim=1)
    fraction = area_fraction(masks)
    return torch.where(total > 0, inside / torch.where(total > 0, total, 1), fraction).float()


def area_fraction(masks: torch.Tensor) -> torch.Tensor:
    """Per image: the share of pixels on the mask, ``(N,)`` — what a uniform or random map scores."""
    return masks.flatten(1).double().mean(dim=1).to(torch.float64)


def mask_roc_auc(maps: torch.Tensor, masks: torch.Tensor,
                 aggregate: Aggregation = "max_abs") -> torch.Tensor:
    """Per image: ROC-AUC of the map's values as a detector of the mask's pixels, ``(N,)``.

    0.5 is chance (a random or a constant map), 1 perfect. Tied values share their
    mean rank, so a constant map scores exactly 0.5. Masks that cover the whole
    image leave no background and are refused.
    """
    maps, masks = _check_maps_and_masks(maps, masks, aggregate)
    full = masks.flatten(1).all(dim=1).nonzero().flatten().tolist()
    if full:
        raise ValueError(f"the masks of image(s) {full[:5]} cover the whole image: no "
                         "background pixels to tell apart")
    values = maps.flatten(1).double().cpu().numpy()
    positive = masks.flatten(1).cpu().numpy()
    rank = rankdata(values, axis=1, method="average")
    n_pos = positive.sum(axis=1).astype(np.float64)
    n_neg = positive.shape[1] - n_pos
    u = (rank * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
    return torch.from_numpy(u / (n_pos * n_neg)).float()
