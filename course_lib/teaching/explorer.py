"""The SmoothGrad explorer: sliders for the noise level σ and the sample count n.

Computing SmoothGrad means n backward passes; redrawing it must feel instant. The
explorer therefore keeps, for every (photo, class, σ) it has seen, the individual
noisy gradients in the order they were drawn. Any n is then a *prefix*: the mean
of the first n cached gradients — no new backward pass. Only a σ never seen
before (or an n larger than what is cached) computes gradients, in fixed chunks
from a generator seeded by (seed, σ), so the same settings always give the same map.

All logic lives in plain methods (:meth:`SmoothGradExplorer.show`), which the
widgets call; they can be tested and used without a browser.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from course_lib.data.images import to_display
from course_lib.maps import aggregate_channels
from course_lib.model_state import attribution_mode
from course_lib.models.loaders import imagenet_classes
from course_lib.teaching.plotting import clip_at_percentile, show_abs_map, show_image
from course_lib.methods.smoothgrad import STATISTICS, noise_sigma, noisy_gradients

STATISTIC_LABELS = {"SmoothGrad (mean)": "smoothgrad", "SmoothGrad² (mean of squares)":
                    "smoothgrad_sq", "VarGrad (variance)": "vargrad"}


@dataclass
class Timing:
    """What one call of :meth:`SmoothGradExplorer.show` cost."""

    noise_percent: int
    n_samples: int
    new_samples: int      # gradients computed by this call (0 = served from the cache)
    compute_s: float      # time spent on backward passes
    redraw_s: float       # time to reduce the cached gradients and render the picture

    @property
    def cache_hit(self) -> bool:
        return self.new_samples == 0


class SmoothGradExplorer:
    """Interactive SmoothGrad on a few photos; display it as the last line of a cell.

    ``photos`` maps names to ``(3, H, W)`` images in [0, 1]. The class picker offers
    each photo's ``top_classes`` most probable classes.
    """

    def __init__(self, model: nn.Module, photos: Mapping[str, torch.Tensor], n_max: int = 100,
                 noise_max_percent: int = 50, noise_step_percent: int = 5, batch_size: int = 10,
                 seed: int = 0, top_classes: int = 5, percentile: float = 99.0) -> None:
        if not photos:
            raise ValueError("give the explorer at least one photo")
        self.model, self.n_max, self.seed = model, n_max, seed
        self.batch_size, self.percentile = batch_size, percentile
        self.device = next(model.parameters()).device
        self.photos = {name: image.to(self.device) for name, image in photos.items()}
        # (photo, class, σ %) → (gradients drawn so far, the generator that drew them)
        self._cache: dict[tuple[str, int, int], tuple[torch.Tensor, torch.Generator]] = {}
        self.timings: list[Timing] = []
        with torch.no_grad(), attribution_mode(model):
            batch = torch.stack(list(self.photos.values()))
            top = model(batch).topk(top_classes, dim=1).indices.tolist()
        self.class_choices = {name: [(f"{imagenet_classes()[c]} ({c})", c) for c in row]
                              for name, row in zip(self.photos, top)}
        self._build_widgets(noise_max_percent, noise_step_percent)

    # ---- the logic --------------------------------------------------------------------
    def gradients(self, photo: str, target: int, noise_percent: int, n: int) -> torch.Tensor:
        """The first ``n`` noisy gradients ``(n, 3, H, W)``, computing only what is missing."""
        key = (photo, target, noise_percent)
        if key not in self._cache:
            generator = torch.Generator(self.device).manual_seed(self.seed * 1000 + noise_percent)
            self._cache[key] = (torch.empty(0, *self.photos[photo].shape, device=self.device),
                                generator)
        cached, generator = self._cache[key]
        if n > len(cached):
            # Whole chunks from a per-σ generator that carries on where it stopped:
            # the k-th sample is the same whichever way the sliders moved.
            wanted = self.batch_size * math.ceil((n - len(cached)) / self.batch_size)
            image = self.photos[photo][None]
            self.progress.max, self.progress.value = wanted, 0
            chunks = []
            with attribution_mode(self.model):
                for chunk in noisy_gradients(self.model, image,
                                             torch.tensor([target], device=self.device),
                                             noise_sigma(image, noise_percent / 100), wanted,
                                             self.batch_size, generator):
                    chunks.append(chunk[0])
                    self.progress.value += chunk.shape[1]
            cached = torch.cat([cached, *chunks])
            self._cache[key] = (cached, generator)
        return cached[:n]

    def attribution_map(self, photo: str, target: int, noise_percent: int, n: int,
                        statistic: str = "smoothgrad") -> torch.Tensor:
        """The 2-D map (max |·| over channels) of the chosen statistic over n samples."""
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r}; choose one of {STATISTICS}")
        g = self.gradients(photo, target, noise_percent, n)
        mean = g.mean(dim=0)
        result = {"smoothgrad": mean, "smoothgrad_sq": g.pow(2).mean(dim=0),
                  "vargrad": g.pow(2).mean(dim=0) - mean.pow(2)}[statistic]
        return aggregate_channels(result)

    def render(self, photo: str, attribution: torch.Tensor) -> bytes:
        """PNG of the photo beside its map (grayscale, clipped at the percentile)."""
        scaled, _ = clip_at_percentile(attribution.cpu().numpy(), self.percentile)
        gray = (np.abs(scaled) * 255).round().astype(np.uint8)
        left = (to_display(self.photos[photo]) * 255).round().astype(np.uint8)
        both = np.concatenate([left, np.repeat(gray[..., None], 3, axis=2)], axis=1)
        buffer = io.BytesIO()
        Image.fromarray(both).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    def show(self, photo: str, target: int, noise_percent: int, n: int,
             statistic: str = "smoothgrad") -> Timing:
        """Compute what is missing, redraw the picture, and record the timing."""
        start = time.perf_counter()
        key = (photo, target, noise_percent)
        before = len(self._cache[key][0]) if key in self._cache else 0
        self.gradients(photo, target, noise_percent, n)
        computed = time.perf_counter()
        self.image.value = self.render(photo, self.attribution_map(photo, target, noise_percent,
                                                                   n, statistic))
        done = time.perf_counter()
        new = len(self._cache[key][0]) - before
        timing = Timing(noise_percent, n, new, computed - start, done - computed)
        self.timings.append(timing)
        source = "computed" if new else "from cache"
        self.status.value = (f"σ = {noise_percent} % of the pixel range · n = {n} · "
                             f"{new} new gradients ({source}) · compute {timing.compute_s:.2f} s"
                             f" · redraw {timing.redraw_s * 1000:.0f} ms")
        return timing

    # ---- the widgets ------------------------------------------------------------------
    def _build_widgets(self, noise_max: int, noise_step: int) -> None:
        first = next(iter(self.photos))
        style = {"description_width": "110px"}
        layout = widgets.Layout(width="420px")
        self.photo_picker = widgets.Dropdown(options=list(self.photos), value=first,
                                             description="photo", style=style, layout=layout)
        self.class_picker = widgets.Dropdown(options=self.class_choices[first],
                                             description="class", style=style, layout=layout)
        self.statistic_picker = widgets.Dropdown(options=list(STATISTIC_LABELS),
                                                 description="aggregation", style=style,
                                                 layout=layout)
        self.noise_slider = widgets.IntSlider(value=15, min=0, max=noise_max, step=noise_step,
                                              description="noise σ (%)", continuous_update=False,
                                              style=style, layout=layout)
        self.n_slider = widgets.IntSlider(value=25, min=1, max=self.n_max, step=1,
                                          description="samples n", continuous_update=False,
                                          style=style, layout=layout)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="gradients",
                                            style=style, layout=layout)
        self.status = widgets.Label()
        self.image = widgets.Image(format="png")
        self.photo_picker.observe(self._photo_changed, names="value")
        for control in (self.class_picker, self.statistic_picker, self.noise_slider,
                        self.n_slider):
            control.observe(self._changed, names="value")
        self.widget = widgets.VBox([self.photo_picker, self.class_picker, self.statistic_picker,
                                    self.noise_slider, self.n_slider, self.progress,
                                    self.image, self.status])

    def _photo_changed(self, change: dict) -> None:
        # Replacing the options resets the class; redraw once, afterwards.
        self.class_picker.unobserve(self._changed, names="value")
        self.class_picker.options = self.class_choices[change["new"]]
        self.class_picker.observe(self._changed, names="value")
        self._changed()

    def _changed(self, change: dict | None = None) -> None:
        self.show(self.photo_picker.value, self.class_picker.value, self.noise_slider.value,
                  self.n_slider.value, STATISTIC_LABELS[self.statistic_picker.value])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if not self.timings:
            self._changed()
        display(self.widget)

    # ---- a static figure for readers of the rendered notebook -------------------------
    def grid_figure(self, photo: str, target: int, noise_percents: list[int],
                    ns: list[int], size: float = 2.0) -> Figure:
        """σ down the rows, n across the columns; the photo in the top-left corner."""
        fig, axes = plt.subplots(len(noise_percents), len(ns) + 1,
                                 figsize=(size * (len(ns) + 1), size * len(noise_percents)),
                                 squeeze=False)
        for row, noise in enumerate(noise_percents):
            if row == 0:
                show_image(axes[0, 0], self.photos[photo], photo)
            else:
                axes[row, 0].axis("off")
            axes[row, 0].text(-0.1, 0.5, f"σ = {noise} %", transform=axes[row, 0].transAxes,
                              ha="right", va="center")
            for col, n in enumerate(ns, start=1):
                show_abs_map(axes[row, col], self.attribution_map(photo, target, noise, n),
                             f"n = {n}" if row == 0 else None, self.percentile)
        fig.tight_layout()
        return fig
