r"""What to put where pixels were removed: black, blurred, or ROAD's noisy linear imputation.

Every deletion-style test removes the pixels a map ranks first and watches the class
score. "Removed" has to mean *replaced by something*, and the replacement matters:

* ``"black"`` — zeros (Petsiuk et al. 2018's deletion). Many black dots, or a black
  hole in the shape of the removed region, are images the network never saw, and the
  **shape** of the hole can itself carry the class (a black cross is still a cross).
* ``"blurred"`` — the pixel of a Gaussian-blurred copy (Petsiuk et al.'s insertion
  start): same colours, no detail; less out of distribution, the shape still shows.
* ``"road"`` — **noisy linear imputation** (Rong et al. 2022, "A consistent and
  efficient evaluation strategy for attribution methods", ICML, arXiv:2202.00449,
  "ROAD"): each removed pixel takes the weighted mean of its 8 neighbours, direct
  neighbours weighted :math:`1/6`, diagonal ones :math:`1/12`, *all removed pixels at
  once*: for the set :math:`U` of removed pixels solve the sparse linear system

  .. math:: \Big(\sum_{v \in \mathcal N(u)} w_{uv}\Big)\, x_u
            - \sum_{v \in \mathcal N(u) \cap U} w_{uv}\, x_v
            = \sum_{v \in \mathcal N(u) \setminus U} w_{uv}\, x_v
            \qquad \forall u \in U

  (neighbours outside the image are left out), then add Gaussian noise
  :math:`\mathcal N(0, \sigma^2)` to the imputed values, :math:`\sigma = 0.01` as in the
  paper (here in pixel units of [0, 1] images). The hole is filled with a smooth
  continuation of its surroundings, so its outline no longer shows where it was —
  Rong et al.'s cure for *class leakage through the mask shape*.

**Cells.** Large images make the system large (50 176 unknowns for a 224 × 224 image
with everything removed). With ``block = b > 1`` the removal works on ``b × b``
cells: the imputation is solved on the image averaged over the cells, and every
removed pixel takes its cell's imputed value (plus its own noise). ``block = 1`` is
ROAD exactly. The benchmark removes 2 × 2 cells of the 64-pixel synthetic images
and 4 × 4 cells of the 224-pixel photos, for all three fills alike.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sparse
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import spsolve

from course_lib.methods.integrated_gradients import make_baseline

Fill = Literal["black", "blurred", "road"]
FILLS: tuple[str, ...] = ("black", "blurred", "road")
ROAD_NOISE = 0.01
# (row offset, column offset) → weight: direct neighbours 1/6, diagonal neighbours 1/12
NEIGHBOUR_WEIGHTS: tuple[tuple[tuple[int, int], float], ...] = (
    ((-1, -1), 1 / 12), ((-1, 0), 1 / 6), ((-1, 1), 1 / 12), ((0, -1), 1 / 6),
    ((0, 1), 1 / 6), ((1, -1), 1 / 12), ((1, 0), 1 / 6), ((1, 1), 1 / 12))


def linear_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """ROAD's linear imputation of one image, without noise.

    ``image`` ``(C, H, W)`` floats, ``removed`` ``(H, W)`` bool. Returns a copy with every
    removed pixel solved from the system in the module docstring. If *every* pixel is
    removed there is nothing to interpolate from; each channel's mean is used.
    """
    channels, height, width = image.shape
    if removed.shape != (height, width):
        raise ValueError(f"removed has shape {removed.shape}, expected {(height, width)}")
    flat = image.reshape(channels, -1).astype(np.float64)
    out = flat.copy()
    unknown = removed.reshape(-1)
    index = np.flatnonzero(unknown)
    n = len(index)
    if n == 0:
        return out.reshape(image.shape)
    if n == unknown.size:
        out[:] = flat.mean(axis=1, keepdims=True)
        return out.reshape(image.shape)
    variable = np.full(unknown.size, -1, dtype=np.int64)
    variable[index] = np.arange(n)
    row, col = np.divmod(index, width)
    diagonal = np.zeros(n)
    right_side = np.zeros((n, channels))
    rows, cols, values = [np.arange(n)], [np.arange(n)], []
    for (dr, dc), weight in NEIGHBOUR_WEIGHTS:
        r, c = row + dr, col + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        who = np.flatnonzero(inside)
        neighbour = r[inside] * width + c[inside]
        diagonal[who] += weight
        is_unknown = unknown[neighbour]
        rows.append(who[is_unknown])
        cols.append(variable[neighbour[is_unknown]])
        values.append(np.full(int(is_unknown.sum()), -weight))
        # each unknown pixel meets each offset once, so plain indexing adds correctly
        right_side[who[~is_unknown]] += weight * flat[:, neighbour[~is_unknown]].T
    matrix = sparse.csc_matrix((np.concatenate([diagonal, *values]),
                                (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    solution = spsolve(matrix, right_side)
    out[:, index] = np.asarray(solution).reshape(n, channels).T
    return out.reshape(image.shape)


def check_block(block: object, height: int, width: int) -> int:
    """``block`` must be a positive int that divides the image's height and width."""
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a positive int, got {block!r}")
    if height % block or width % block:
        raise ValueError(f"block {block} does not divide the image size {height} × {width}")
    return block


def road_noise(inputs: torch.Tensor, seed: int = 0, sigma: float = ROAD_NOISE) -> torch.Tensor:
    """The noise field added to imputed pixels, ``(N, 3, H, W)``; image ``i`` uses seed ``seed + i``.

    One fixed field per image: the same removed pixels always get the same noise, so
    a removal game is a deterministic function of the removed set.
    """
    fields = [torch.randn(inputs.shape[1:], generator=torch.Generator().manual_seed(seed + i),
                          dtype=torch.float64) for i in range(len(inputs))]
    return (sigma * torch.stack(fields)).to(inputs.dtype)


def fill_removed(inputs: torch.Tensor, removed: torch.Tensor, fill: Fill,
                 block: int = 1, blurred: torch.Tensor | None = None,
                 noise: torch.Tensor | None = None, blur_sigma: float = 5.0) -> torch.Tensor:
    """Images with the removed cells replaced by ``fill``.

    ``inputs`` ``(N, 3, H, W)``; ``removed`` boolean ``(N, H/block, W/block)``, one entry per
    cell; ``fill`` ``"black"``, ``"blurred"`` (``blurred`` images, or a Gaussian blur of
    ``blur_sigma`` pixels) or ``"road"`` (noisy linear imputation on the cells; ``noise``
    the field to add, default :func:`road_noise` with seed 0). Kept pixels are unchanged.
    """
    n, _, height, width = inputs.shape
    block = check_block(block, height, width)
    if removed.dtype != torch.bool or tuple(removed.shape) != (n, height // block,
                                                               width // block):
        raise ValueError(f"removed must be boolean (N, H/block, W/block) = "
                         f"{(n, height // block, width // block)}, got {removed.dtype} "
                         f"{tuple(removed.shape)}")
    pixels = removed.repeat_interleave(block, 1).repeat_interleave(block, 2)[:, None]
    if fill == "black":
        return torch.where(pixels, torch.zeros((), dtype=inputs.dtype), inputs)
    if fill == "blurred":
        if blurred is None:
            blurred = make_baseline(inputs, "blurred", blur_sigma=blur_sigma)
        return torch.where(pixels, blurred.to(inputs.dtype), inputs)
    if fill != "road":
        raise ValueError(f"unknown fill {fill!r}; choose one of {FILLS}")
    cells = F.avg_pool2d(inputs.double(), block) if block > 1 else inputs.double()
    imputed = np.stack([linear_imputation(image, mask) for image, mask in
                        zip(cells.cpu().numpy(), removed.cpu().numpy())])
    imputed = torch.from_numpy(imputed)
    if block > 1:
        imputed = imputed.repeat_interleave(block, 2).repeat_interleave(block, 3)
    if noise is None:
        noise = road_noise(inputs)
    values = imputed.to(inputs.dtype) + noise.to(inputs.dtype)
    return torch.where(pixels, values.to(inputs.device), inputs)
