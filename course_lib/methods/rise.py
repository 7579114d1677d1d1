r"""RISE: the score-weighted average of random smooth masks (Petsiuk, Das & Saenko 2018).

"Randomized Input Sampling for Explanation" (BMVC 2018, arXiv:1806.07421). Draw
:math:`N` masks :math:`M_i : \{\text{pixels}\} \to [0, 1]`, show the model the masked
image :math:`x \odot M_i + (1 - M_i) \odot f`, and average the masks weighted by the scores:

.. math:: S_c(u) = \frac{1}{N\,p} \sum_{i=1}^{N} z_c\big(x \odot M_i + (1 - M_i) \odot f\big)\,
          M_i(u) \;\approx\; \frac{\mathbb E[z_c \cdot M(u)]}{\mathbb E[M(u)]},

normalised by the expected mask value :math:`p`: the score expected when pixel :math:`u`
is kept. Each mask, as in the paper and its code: a grid of ``cells`` × ``cells`` binary
cells, each 1 with probability ``p``; upsampled bilinearly to :math:`(\text{cells} + 1)
\cdot C` pixels per side, :math:`C = \lceil H / \text{cells} \rceil` the cell size; then
cropped to :math:`H \times W` at a random shift of 0 to :math:`C - 1` pixels in each
direction, so the cell borders fall anywhere. The bilinear upsampling is scikit-image's
``resize(order=1, mode="reflect")`` (the paper's code), written as two small matrix
products. The paper's "off" value is the dataset mean colour (it multiplies the
normalised image); ``fill=0.5`` is the gray of the course. Cost: ``n_masks`` forward
passes per image, plus one of the photo that checks the target.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, prepare
from course_lib.methods.coalitions import Score, check_count, check_score, photo_scores
from course_lib.methods.forward import class_scores
from course_lib.methods.superpixels import make_fill
from course_lib.model_state import attribution_mode


def check_rise_settings(cells: object, p: object, height: int, width: int) -> None:
    if isinstance(cells, bool) or not isinstance(cells, int) or not 1 <= cells <= min(height,
                                                                                        width):
        raise ValueError(f"cells must be an int from 1 to the image side {min(height, width)}, "
                         f"got {cells!r}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p < 1:
        raise ValueError(f"p (the probability that a cell is kept) must be in (0, 1), got {p!r}")


def bilinear_matrix(cells: int, size: int) -> torch.Tensor:
    """``(size, cells)``: row o holds the weights that bilinear upsampling of ``cells``
    values to ``size`` pixels gives each cell (pixel centres at (o + ½)·cells/size − ½,
    mirrored at the ends like scikit-image's ``mode="reflect"``)."""
    position = (torch.arange(size, dtype=torch.float64) + 0.5) * cells / size - 0.5
    if cells > 1:
        position = position.abs()  # mirror at the first cell's centre
        last = cells - 1
        position = torch.where(position > last, 2 * last - position, position)
    else:
        position = torch.zeros_like(position)
    left = position.floor().long().clamp(0, cells - 1)
    right = (left + 1).clamp(max=cells - 1)
    t = position - left
    matrix = torch.zeros(size, cells, dtype=torch.float64)
    rows = torch.arange(size)
    matrix.index_put_((rows, left), 1 - t, accumulate=True)
    matrix.index_put_((rows, right), t, accumulate=True)
    return matrix


def rise_grids(n_masks: int, height: int, width: int, cells: int = 7, p: float = 0.5,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The random part of RISE's masks: binary grids ``(n, cells, cells)`` (1 with probability
    ``p``) and crop shifts ``(n, 2)`` (rows, columns; 0 to cell size − 1). CPU, ``seed``."""
    check_count(n_masks, "n_masks")
    check_rise_settings(cells, p, height, width)
    generator = torch.Generator().manual_seed(seed)
    grids = (torch.rand(n_masks, cells, cells, generator=generator) < p).double()
    cell_h, cell_w = math.ceil(height / cells), math.ceil(width / cells)
    shifts = torch.stack([torch.randint(0, cell_h, (n_masks,), generator=generator),
                          torch.randint(0, cell_w, (n_masks,), generator=generator)], dim=1)
    return grids, shifts


def upsample_masks(grids: torch.Tensor, shifts: torch.Tensor, height: int, width: int
                   ) -> torch.Tensor:
    """Smooth masks ``(n, H, W)`` from grids and shifts: upsample each grid bilinearly to
    (cells + 1) cell sizes per side and crop ``H × W`` starting at its shift."""
    cells = grids.shape[-1]
    cell_h, cell_w = math.ceil(height / cells), math.ceil(width / cells)
    up_rows = bilinear_matrix(cells, (cells + 1) * cell_h)
    up_cols = bilinear_matrix(cells, (cells + 1) * cell_w)
    rows = up_rows[shifts[:, :1] + torch.arange(height)]  # (n, H, cells): the cropped rows
    cols = up_cols[shifts[:, 1:] + torch.arange(width)]   # (n, W, cells)
    return rows @ grids.double() @ cols.transpose(1, 2)


def rise_masks(n_masks: int, height: int, width: int, cells: int = 7, p: float = 0.5,
               seed: int = 0) -> torch.Tensor:
    """RISE's random masks ``(n_masks, H, W)``, float64 in [0, 1], on the CPU."""
    grids, shifts = rise_grids(n_masks, height, width, cells, p, seed)
    return upsample_masks(grids, shifts, height, width)


def rise(model: nn.Module, inputs: torch.Tensor, target: Target, n_masks: int = 1000,
         cells: int = 7, p: float = 0.5, fill: float | torch.Tensor = 0.5,
         score: Score = "probability", batch_size: int = 16, seed: int = 0,
         progress: bool = True) -> torch.Tensor:
    """RISE map ``(N, H, W)``: Σ_i score_i · M_i / (N p) over ``n_masks`` random masks.

    ``cells`` × ``cells`` grid (the paper's s = 7 for 224-pixel images), each cell kept with
    probability ``p``; masks drawn from ``seed`` alone (the same for every image; chunking
    by ``batch_size`` masked images per forward pass cannot change them). ``fill``: a gray
    level, an image or a batch. ``score``: ``"probability"`` (the softmax, as in the paper)
    or ``"logit"``. The map carries the mean score times each pixel's random coverage
    Σ_i M_i(u) / (N p), pure noise: a score with a large mean and a small spread, like a
    confident logit, needs many more masks (notebook 08 measures it).
    """
    model, x, classes = prepare(model, inputs, target)
    n_masks = check_count(n_masks, "n_masks")
    score = check_score(score)
    batch_size = check_batch_size(batch_size)
    height, width = x.shape[-2:]
    grids, shifts = rise_grids(n_masks, height, width, cells, p, seed)
    fill_images = make_fill(x, fill)
    total = torch.zeros(len(x), height, width, dtype=torch.float64, device=x.device)
    pairs = torch.cartesian_prod(torch.arange(len(x)), torch.arange(n_masks)).view(-1, 2)
    with attribution_mode(model), tqdm(total=len(x) * (n_masks + 1), desc="RISE passes",
                                       disable=not progress, leave=False) as bar:
        photo_scores(model, x, classes, score)  # checks the target classes
        bar.update(len(x))
        for chunk in pairs.split(batch_size):
            image, mask = chunk[:, 0].to(x.device), chunk[:, 1]
            masks = upsample_masks(grids[mask], shifts[mask], height, width).to(x.device)
            soft = masks[:, None].to(x.dtype)
            masked = soft * x[image] + (1 - soft) * fill_images[image]
            scores = class_scores(model, masked, classes[image], score)
            total.index_add_(0, image, scores.double()[:, None, None] * masks)
            bar.update(len(chunk))
    return (total / (n_masks * p)).to(inputs.device, inputs.dtype)
