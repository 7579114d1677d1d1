r"""Superpixels: the parts of an image that LIME, KernelSHAP and exact Shapley values switch off.

A segmentation gives every pixel :math:`u` a label :math:`\ell(u) \in \{0, \dots, M-1\}`.
The :math:`M` superpixels are the *players*: a coalition :math:`z \in \{0, 1\}^M` keeps the
superpixels with :math:`z_k = 1` and replaces the others by an "off" value, the **fill**:

.. math:: x_{[z]}(u) = z_{\ell(u)}\, x(u) + \big(1 - z_{\ell(u)}\big)\, f(u).

SLIC (Achanta et al. 2012) clusters pixels by colour and position into about
``n_segments`` compact regions (scikit-image's ``slic``; the count it returns varies
around the request). Every fill is a guess of what "absent" looks like, and every guess
is an image the network never saw in training: gray (0.5) assumes that a flat
mid-gray patch carries no evidence, a blurred copy that edges and texture are the
evidence, the superpixel's mean colour (the default of the ``lime`` package) that its
colour alone is not.

Conventions shared by the superpixel methods (Captum's for ``feature_mask``): a batch of
segmentations plays one game with :math:`M` = the largest label + 1 players; a label that
does not occur in an image is a player without pixels (it changes nothing, and its value
is painted nowhere).
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.checks import check_inputs

Fill = float | torch.Tensor | str


def superpixels(inputs: torch.Tensor, n_segments: int = 50, compactness: float = 10.0
                ) -> torch.Tensor:
    """SLIC superpixels of each image: labels ``(N, H, W)``, ``int64``, numbered 0, 1, …

    Each image is rescaled to [0, 1] by its own minimum and maximum first, so the
    segmentation does not depend on the pixel range. ``n_segments`` is a request: SLIC
    returns roughly that many (count them with ``labels.amax() + 1``). Deterministic.
    """
    from skimage.segmentation import slic  # imported on first use (scikit-image is large)

    inputs = check_inputs(inputs)
    if isinstance(n_segments, bool) or not isinstance(n_segments, (int, np.integer)) \
            or n_segments < 1:
        raise ValueError(f"n_segments must be a positive int, got {n_segments!r}")
    if isinstance(compactness, bool) or not isinstance(compactness, (int, float)) \
            or compactness <= 0:
        raise ValueError(f"compactness must be a positive number, got {compactness!r}")
    labels = []
    for image in inputs.detach().cpu().double():
        low, high = image.min(), image.max()
        scaled = (image - low) / (high - low) if high > low else torch.zeros_like(image)
        segments = slic(scaled.permute(1, 2, 0).numpy(), n_segments=int(n_segments),
                        compactness=float(compactness), start_label=0, channel_axis=-1)
        _, consecutive = np.unique(segments, return_inverse=True)  # no gaps in the labels
        labels.append(torch.from_numpy(consecutive.reshape(segments.shape).astype(np.int64)))
    return torch.stack(labels).to(inputs.device)


def grid_segments(height: int, width: int, rows: int, cols: int) -> torch.Tensor:
    """A ``rows`` × ``cols`` grid of rectangles as labels ``(H, W)``, numbered row by row.

    Cells are as equal as integer sizes allow (``torch.linspace`` boundaries), so the count
    is exactly ``rows * cols``: handy for exact Shapley values and for tests.
    """
    for name, value, limit in (("rows", rows, height), ("cols", cols, width)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ValueError(f"{name} must be an int from 1 to {limit}, got {value!r}")
    row_of = torch.arange(height) * rows // height
    col_of = torch.arange(width) * cols // width
    return row_of[:, None] * cols + col_of[None, :]


def check_segments(segments: object, inputs: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Labels for every image, ``(N, H, W)`` int64 on the inputs' device, and the player count M.

    Accepts one segmentation ``(H, W)`` for the whole batch or one per image ``(N, H, W)``.
    """
    if not isinstance(segments, torch.Tensor):
        raise TypeError("segments must be an integer torch.Tensor of labels (H, W) or "
                        f"(N, H, W), got {type(segments).__name__}; make one with "
                        "course_lib.superpixels(inputs)")
    if segments.is_floating_point() or segments.is_complex() or segments.dtype == torch.bool:
        raise TypeError(f"segments must hold integer labels, got dtype {segments.dtype}")
    n, _, height, width = inputs.shape
    if segments.ndim == 2:
        segments = segments.expand(n, height, width)
    if segments.shape != (n, height, width):
        raise ValueError(f"segments has shape {tuple(segments.shape)}; it must be (H, W) = "
                         f"{(height, width)} or (N, H, W) = {(n, height, width)}")
    if segments.min() < 0:
        raise ValueError(f"segments must be labels 0, 1, …, M − 1; found {int(segments.min())}")
    return segments.to(inputs.device, torch.int64), int(segments.max()) + 1


def paint(values: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Per-superpixel values ``(N, M)`` → per-pixel map ``(N, H, W)``: each pixel gets the
    value of its superpixel (one gather, no loop)."""
    n, height, width = segments.shape
    return values.to(segments.device).gather(1, segments.reshape(n, -1)).view(n, height, width)


def superpixel_means(inputs: torch.Tensor, segments: torch.Tensor, n_players: int
                     ) -> torch.Tensor:
    """Every pixel replaced by the mean colour of its superpixel, ``(N, 3, H, W)``."""
    n, channels = inputs.shape[:2]
    flat = segments.reshape(n, 1, -1).expand(n, channels, -1)
    sums = torch.zeros(n, channels, n_players, dtype=inputs.dtype, device=inputs.device)
    sums.scatter_add_(2, flat, inputs.reshape(n, channels, -1))
    counts = torch.zeros(n, 1, n_players, dtype=inputs.dtype, device=inputs.device)
    counts.scatter_add_(2, flat[:, :1], torch.ones_like(inputs[:, :1]).reshape(n, 1, -1))
    means = sums / counts.clamp(min=1)
    return means.gather(2, flat).view_as(inputs)


def make_fill(inputs: torch.Tensor, fill: Fill, segments: torch.Tensor | None = None,
              n_players: int = 0) -> torch.Tensor:
    """The "off" image for every input, ``(N, 3, H, W)``.

    ``fill`` is a gray level (a number), an image ``(3, H, W)`` or a batch ``(N, 3, H, W)``
    (e.g. a blurred copy), or ``"mean"``: each superpixel's own mean colour.
    """
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"unknown fill {fill!r}: give a gray level, an image tensor or "
                             "'mean' (each superpixel's mean colour)")
        if segments is None:
            raise ValueError("fill='mean' needs superpixels; give a gray level or an image")
        return superpixel_means(inputs, segments, n_players)
    if isinstance(fill, bool) or not isinstance(fill, (int, float, torch.Tensor)):
        raise TypeError("fill must be a number, an image tensor or 'mean', got "
                        f"{type(fill).__name__}")
    value = torch.as_tensor(fill, dtype=inputs.dtype, device=inputs.device)
    if value.ndim not in (0, 3, 4) or (value.ndim > 0 and value.shape[-3:] != inputs.shape[1:]) \
            or (value.ndim == 4 and len(value) != len(inputs)):
        raise ValueError(f"fill has shape {tuple(value.shape)}; it must be a number, one "
                         f"image {tuple(inputs.shape[1:])} or the batch {tuple(inputs.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError("fill contains NaN or infinite values")
    return value.expand_as(inputs)
