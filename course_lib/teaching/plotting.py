"""One plotting style for the whole course.

* images as they are;
* **absolute** maps (how much) in grayscale, black = 0, white = the 99th
  percentile and above (a few extreme pixels would otherwise turn the rest black);
* **signed** maps (which direction) in a diverging colormap centred at zero:
  red raises the class score, blue lowers it, white is zero;
* **overlays** of a map on the photo;
* **grids** of images (rows) × methods (columns).

A figure that argues about *how large* values are needs its scale: ``colorbar=True``
adds a colour bar in the map's own units (the top is the clipping percentile; the
arrow says that larger values are drawn in the end colour).

Functions draw on a Matplotlib ``Axes`` or return a ``Figure``; notebooks end
the cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_lib.data.images import to_display
from course_lib.maps import aggregate_channels

MapKind = Literal["abs", "signed", "overlay"]
ABS_CMAP, SIGNED_CMAP, OVERLAY_CMAP = "gray", "RdBu_r", "inferno"
STYLE = {
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "figure.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 10,
    "image.interpolation": "antialiased",  # no moiré when a 224-pixel map is drawn smaller
}


def set_style() -> None:
    """Apply the course's Matplotlib settings (called by :func:`course_lib.setup`)."""
    plt.rcParams.update(STYLE)


def _as_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    return to_display(image) if isinstance(image, torch.Tensor) else np.asarray(image)


def _as_map(attribution: torch.Tensor | np.ndarray, how: str) -> np.ndarray:
    values = torch.as_tensor(attribution).detach().float().cpu()
    if values.ndim == 3:
        values = aggregate_channels(values, how)
    if values.ndim != 2:
        raise ValueError(f"expected a map (H, W) or attribution (3, H, W), got {tuple(values.shape)}")
    return values.numpy()


def clip_at_percentile(values: np.ndarray, percentile: float = 99.0) -> tuple[np.ndarray, float]:
    """Scale ``|values|`` so the given percentile maps to 1, clip above; returns (scaled, scale).

    An all-zero map stays all zero (no division by zero, no NaN).
    """
    scale = float(np.percentile(np.abs(values), percentile))
    if scale == 0.0:
        scale = float(np.abs(values).max())
    if scale == 0.0:
        return np.zeros_like(values), 0.0
    return np.clip(values / scale, -1.0, 1.0), scale


def _draw(ax: Axes, scaled: np.ndarray, scale: float, cmap: str, signed: bool,
          colorbar: bool, alpha: float | None = None) -> None:
    """``scaled`` in [0, 1] (or [-1, 1] if signed); with a colour bar, in units of ``scale``."""
    unit = scale if colorbar and scale > 0 else 1.0
    low = -unit if signed else 0.0
    image = ax.imshow(scaled * unit, cmap=cmap, vmin=low, vmax=unit, alpha=alpha)
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03,
                                 extend="both" if signed else "max")
        bar.ax.tick_params(labelsize=8)
        bar.ax.yaxis.get_offset_text().set_fontsize(8)


def _bare(ax: Axes, title: str | None) -> Axes:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def show_image(ax: Axes, image: torch.Tensor | np.ndarray, title: str | None = None) -> Axes:
    """Draw a photo (tensor ``(3, H, W)`` in [0, 1] or array ``(H, W, 3)``)."""
    ax.imshow(_as_image(image))
    return _bare(ax, title)


def show_abs_map(ax: Axes, attribution: torch.Tensor | np.ndarray, title: str | None = None,
                 percentile: float = 99.0, colorbar: bool = False) -> Axes:
    """Grayscale magnitude: ``max_abs`` over channels, clipped at ``percentile``."""
    scaled, scale = clip_at_percentile(np.abs(_as_map(attribution, "max_abs")), percentile)
    _draw(ax, scaled, scale, ABS_CMAP, False, colorbar)
    return _bare(ax, title)


def show_signed_map(ax: Axes, attribution: torch.Tensor | np.ndarray, title: str | None = None,
                    percentile: float = 99.0, colorbar: bool = False) -> Axes:
    """Diverging map centred at zero: channel ``sum``, symmetric clip at ``percentile`` of |·|."""
    scaled, scale = clip_at_percentile(_as_map(attribution, "sum"), percentile)
    _draw(ax, scaled, scale, SIGNED_CMAP, True, colorbar)
    return _bare(ax, title)


def show_overlay(ax: Axes, image: torch.Tensor | np.ndarray, attribution: torch.Tensor | np.ndarray,
                 title: str | None = None, alpha: float = 0.5, percentile: float = 99.0,
                 colorbar: bool = False) -> Axes:
    """The photo, dimmed, under a semi-transparent magnitude map."""
    ax.imshow(_as_image(image))
    scaled, scale = clip_at_percentile(np.abs(_as_map(attribution, "max_abs")), percentile)
    _draw(ax, scaled, scale, OVERLAY_CMAP, False, colorbar, alpha=alpha)
    return _bare(ax, title)


def plot_grid(images: torch.Tensor, maps: Mapping[str, torch.Tensor], kind: MapKind = "abs",
              row_titles: Sequence[str] | None = None, percentile: float = 99.0,
              size: float = 2.2, colorbar: bool = False) -> Figure:
    """Images down the rows, one column per method (plus the photo on the left).

    ``colorbar=True`` gives every map its colour bar (each map has its own scale).
    """
    n = len(images)
    for name, values in maps.items():
        if len(values) != n:
            raise ValueError(f"{name!r} has {len(values)} maps for {n} images")
    fig, axes = plt.subplots(n, len(maps) + 1, figsize=(size * (len(maps) + 1), size * n),
                             squeeze=False)
    for row, image in enumerate(images):
        show_image(axes[row, 0], image, row_titles[row] if row_titles else None)
        for col, (name, values) in enumerate(maps.items(), start=1):
            title = name if row == 0 else None
            if kind == "abs":
                show_abs_map(axes[row, col], values[row], title, percentile, colorbar)
            elif kind == "signed":
                show_signed_map(axes[row, col], values[row], title, percentile, colorbar)
            elif kind == "overlay":
                show_overlay(axes[row, col], image, values[row], title, percentile=percentile,
                             colorbar=colorbar)
            else:
                raise ValueError(f"unknown kind {kind!r}; choose 'abs', 'signed' or 'overlay'")
    fig.tight_layout()
    return fig
