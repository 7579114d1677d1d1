"""The SmoothGrad explorer: sliders for the noise level σ and the sample count n.

Computing SmoothGrad means n backward passes; redrawing it must feel instant, and it must
fit in a 2 GB Binder machine. Four ideas make that work:

* **A prefix cache.** For every (photo, class, σ) the explorer keeps the individual noisy
  gradients in sample order. Any n is the mean of the first n of them, so moving the n
  slider down, switching the aggregation or returning to a σ seen before costs no backward
  pass. Sample ``s`` is always the same (the noise contract of
  :mod:`course_lib.methods.smoothgrad`: its noise depends only on the seed, ``s`` and σ),
  so a map computed in pieces, or again after it was forgotten, is the same map, and it
  equals ``course.smoothgrad`` with the same seed.
* **A byte budget.** The cache holds at most ``cache_mb`` megabytes (MB = 2**20 bytes) of
  gradients; when it is full the least recently used (photo, class, σ) is forgotten. The
  status line shows the cache's size.
* **Progressive drawing.** A new σ (or a larger n) draws a first map after a first small
  chunk of gradients (``first_chunk``) and refines it each time the number of samples has
  doubled, until n; the progress bar counts the gradients.
* **The newest request wins.** In a Jupyter kernel a slider move starts the computation in
  a background thread and returns at once, so the kernel keeps reading slider moves; a
  newer move supersedes the running computation, which stops at its next chunk (the
  gradients it already has stay cached) without drawing again. Nothing queues. Code that
  moves a slider itself calls :meth:`SmoothGradExplorer.wait` to let the picture finish.
  The background work runs on the explorer's own view of the model (same weights, own
  module flags), so it never changes the state of the model you passed in, even while
  another cell uses it.

Outside a kernel (tests, scripts) everything runs synchronously in the caller. The logic
lives in plain methods (:meth:`~SmoothGradExplorer.show`, :meth:`~SmoothGradExplorer.request`,
:meth:`~SmoothGradExplorer.gradients`), so it can be tested without a browser.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import io
import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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
from course_lib.methods.smoothgrad import (STATISTICS, check_seed, noise_sigma, noisy_gradients,
                                           reduce_samples)
from course_lib.model_state import attribution_mode
from course_lib.teaching.plotting import clip_at_percentile, show_abs_map, show_image

MB = 2 ** 20
DEFAULT_CACHE_MB = 80  # notebook 04's budget: its kernel stays under 1.5 GB
STATISTIC_LABELS = {"SmoothGrad (mean)": "smoothgrad", "SmoothGrad² (mean of squares)":
                    "smoothgrad_sq", "VarGrad (variance)": "vargrad"}
STATISTIC_NAMES = {"smoothgrad": "SmoothGrad", "smoothgrad_sq": "SmoothGrad²",
                   "vargrad": "VarGrad"}


@dataclass(frozen=True)
class View:
    """What the controls select: the map to show."""

    photo: str
    target: int
    noise_percent: int
    n: int
    statistic: str = "smoothgrad"


@dataclass
class Frame:
    """One picture drawn: by which request, from how many samples, how long after the request."""

    request: int
    noise_percent: int
    n_drawn: int
    final: bool
    seconds: float


@dataclass
class Timing:
    """What one request cost. Counts are deterministic; seconds depend on the machine."""

    request: int
    noise_percent: int
    n_samples: int
    new_samples: int        # gradients computed for this request (0 = served from the cache)
    passes: int             # forward/backward passes (chunks) it took
    superseded: bool        # stopped because a newer request arrived
    first_picture_s: float  # from the request to its first picture (nan: nothing drawn)
    compute_s: float        # spent in backward passes
    redraw_s: float         # spent reducing the cached gradients and rendering pictures
    total_s: float          # from the request to its last picture or its end

    @property
    def cache_hit(self) -> bool:
        return self.new_samples == 0 and not self.superseded


class SampleCache:
    """Noisy gradients per (photo, class, σ) in sample order, within a byte budget (LRU)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._chunks: OrderedDict[tuple, list[torch.Tensor]] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(c.numel() * c.element_size() for chunks in self._chunks.values()
                       for c in chunks)

    def keys(self) -> list[tuple]:
        """From the least to the most recently used."""
        with self._lock:
            return list(self._chunks)

    def count(self, key: tuple) -> int:
        with self._lock:
            return sum(len(c) for c in self._chunks.get(key, ()))

    def append(self, key: tuple, gradients: torch.Tensor) -> None:
        """Add the next samples of ``key``; forget least recently used keys to stay in budget."""
        size = gradients.numel() * gradients.element_size()
        with self._lock:
            self._chunks.setdefault(key, []).append(gradients)
            self._chunks.move_to_end(key)
            while self.nbytes > self.budget_bytes:
                oldest = next(iter(self._chunks))
                if oldest == key:  # cannot happen: the explorer checks n_max against the budget
                    raise MemoryError(f"one map needs more than the cache budget ({size} bytes "
                                      "per chunk)")
                del self._chunks[oldest]

    def sums(self, key: tuple, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of the first ``n`` gradients and of their squares; marks ``key`` as used."""
        with self._lock:
            chunks = list(self._chunks[key])
            self._chunks.move_to_end(key)
        total = total_sq = None
        for chunk in chunks:
            part = chunk[:n]
            s, s2 = part.sum(dim=0), part.pow(2).sum(dim=0)
            total = s if total is None else total + s
            total_sq = s2 if total_sq is None else total_sq + s2
            n -= len(part)
            if n <= 0:
                break
        if n > 0:
            raise KeyError(f"only {self.count(key)} samples cached for {key}")
        return total, total_sq

    def gradients(self, key: tuple, n: int) -> torch.Tensor:
        """The first ``n`` gradients ``(n, 3, H, W)`` (a copy)."""
        with self._lock:
            chunks = list(self._chunks[key])
            self._chunks.move_to_end(key)
        return torch.cat(chunks)[:n]


def private_view(model: nn.Module) -> nn.Module:
    """A copy of ``model``'s modules that shares its weights and buffers (no extra memory).

    The copy has its own train/eval flags and its parameters do not require gradients, so
    computing on it never touches the state of ``model``, even from another thread.
    """
    memo: dict[int, object] = {}
    for param in model.parameters():
        memo[id(param)] = nn.Parameter(param.detach(), requires_grad=False)
    for buffer in model.buffers():
        memo[id(buffer)] = buffer
    view = copy.deepcopy(model, memo)
    return view.eval()


@functools.cache
def _malloc_trim() -> object | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, Windows, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the symbols already loaded: the C library's
    except (AttributeError, OSError, TypeError):
        return None


def _release_free_memory() -> None:
    """Give the C heap's free memory back to the system (a no-op without glibc).

    The worker thread allocates from a malloc arena of its own, which cannot reuse what the
    kernel's main thread has freed, and the other way round: without this both would keep the
    high-water mark of a backward pass, and the kernel would hold it twice.
    """
    if (trim := _malloc_trim()) is not None:
        trim(0)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where widget messages arrive between callbacks)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class SmoothGradExplorer:
    """Interactive SmoothGrad on a few photos; display it as the last line of a cell.

    ``photos`` maps names to ``(3, H, W)`` images in [0, 1]. The class picker offers each
    photo's ``top_classes`` most probable classes (named by ``class_names``, by default the
    ImageNet classes). ``batch_size`` noisy images go through the model per pass (the memory
    knob for the backward pass), ``cache_mb`` bounds the cached gradients, ``first_chunk`` is
    the number of gradients behind the first picture of a new σ. ``background`` runs slider
    moves in a worker thread; by default it does so inside a Jupyter kernel only.

    The defaults fit a 2 GB Binder machine (notebook 04): one image per backward pass (about
    80 MB of activations for EfficientNet-Lite0 at 224 × 224) and an 80 MB cache; on a GPU
    raise ``batch_size``.
    """

    def __init__(self, model: nn.Module, photos: Mapping[str, torch.Tensor], n_max: int = 100,
                 noise_max_percent: int = 50, noise_step_percent: int = 5, batch_size: int = 1,
                 seed: int = 0, top_classes: int = 5, percentile: float = 99.0,
                 cache_mb: float = DEFAULT_CACHE_MB, first_chunk: int = 1,
                 background: bool | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not photos:
            raise ValueError("give the explorer at least one photo")
        for name, value in (("n_max", n_max), ("batch_size", batch_size),
                            ("first_chunk", first_chunk)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.model = private_view(model)
        self.n_max, self.seed = n_max, check_seed(seed)
        self.batch_size, self.first_chunk = batch_size, min(first_chunk, batch_size)
        self.percentile = percentile
        self.device = next(self.model.parameters()).device
        self.photos = {name: image.detach().to(self.device) for name, image in photos.items()}
        largest = max(image.numel() * image.element_size() for image in self.photos.values())
        if cache_mb * MB < n_max * largest:
            raise ValueError(f"cache_mb={cache_mb} cannot hold one map of n_max={n_max} "
                             f"samples: it needs at least {n_max * largest / MB:.1f} MB")
        self.cache = SampleCache(int(cache_mb * MB))
        self.background = _in_kernel() if background is None else background
        self.timings: list[Timing] = []
        self.frames: deque[Frame] = deque(maxlen=1000)
        self.shown: View | None = None           # the settings of the picture on screen
        self.shown_map: torch.Tensor | None = None
        self._requests = itertools.count(1)
        self._current = 0                        # the newest request: the only one that draws
        self._lock = threading.RLock()           # guards _current and every drawing
        self._compute = threading.Lock()         # one computation on the model at a time
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        self._mute = False
        with torch.no_grad(), attribution_mode(self.model):
            batch = torch.stack(list(self.photos.values()))
            top = self.model(batch).topk(top_classes, dim=1).indices.tolist()
        if class_names is None:
            from course_lib.models.loaders import imagenet_classes
            class_names = imagenet_classes()
        self.class_choices = {name: [(f"{class_names[c]} ({c})", c) for c in row]
                              for name, row in zip(self.photos, top)}
        self._build_widgets(noise_max_percent, noise_step_percent)

    # ---- the data -----------------------------------------------------------------------
    def _key(self, view: View) -> tuple[str, int, int]:
        return (view.photo, view.target, view.noise_percent)

    def _check(self, view: View) -> None:
        if view.photo not in self.photos:
            raise ValueError(f"unknown photo {view.photo!r}; choose one of {list(self.photos)}")
        if not 1 <= view.n <= self.n_max:
            raise ValueError(f"n must be between 1 and n_max={self.n_max}, got {view.n}")
        if not 0 <= view.noise_percent <= 100:
            raise ValueError(f"noise_percent must be in [0, 100], got {view.noise_percent}")
        if view.statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {view.statistic!r}; choose one of {STATISTICS}")

    def _compute_chunk(self, view: View, samples: range) -> None:
        """Gradients for ``samples`` of ``view`` in one pass, appended to the cache."""
        image = self.photos[view.photo][None]
        with self._compute, torch.enable_grad(), attribution_mode(self.model):
            gradients = noisy_gradients(self.model, image,
                                        torch.tensor([view.target], device=self.device),
                                        noise_sigma(image, view.noise_percent / 100), samples,
                                        self.seed)
        self.cache.append(self._key(view), gradients[0])

    def _fill(self, view: View) -> None:
        """Compute whatever is missing for ``view``, synchronously, in passes of batch_size."""
        key = self._key(view)
        while (have := self.cache.count(key)) < view.n:
            self._compute_chunk(view, range(have, min(have + self.batch_size, view.n)))

    def gradients(self, photo: str, target: int, noise_percent: int, n: int) -> torch.Tensor:
        """The first ``n`` noisy gradients ``(n, 3, H, W)``, computing only what is missing."""
        view = View(photo, int(target), noise_percent, n)
        self._check(view)
        self.wait()
        self._fill(view)
        return self.cache.gradients(self._key(view), n)

    def attribution_map(self, photo: str, target: int, noise_percent: int, n: int,
                        statistic: str = "smoothgrad") -> torch.Tensor:
        """The 2-D map (max |·| over channels) of the chosen statistic over n samples."""
        view = View(photo, int(target), noise_percent, n, statistic)
        self._check(view)
        self.wait()
        self._fill(view)
        return self._map(view, n)

    def _map(self, view: View, n: int) -> torch.Tensor:
        total, total_sq = self.cache.sums(self._key(view), n)
        return aggregate_channels(reduce_samples(total, total_sq, n, view.statistic))

    def render(self, photo: str, attribution: torch.Tensor) -> bytes:
        """PNG of the photo beside its map (grayscale, clipped at the percentile)."""
        scaled, _ = clip_at_percentile(attribution.cpu().numpy(), self.percentile)
        gray = (np.abs(scaled) * 255).round().astype(np.uint8)
        left = (to_display(self.photos[photo]) * 255).round().astype(np.uint8)
        both = np.concatenate([left, np.repeat(gray[..., None], 3, axis=2)], axis=1)
        buffer = io.BytesIO()
        Image.fromarray(both).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    # ---- requests: progressive, superseded by newer ones --------------------------------
    def request(self, photo: str, target: int, noise_percent: int, n: int,
                statistic: str = "smoothgrad") -> int:
        """Ask for a picture; returns the request's number.

        In background mode this returns at once and the picture is drawn by a worker
        thread; a newer request stops it. Otherwise the picture is computed here.
        """
        view = View(photo, int(target), noise_percent, n, statistic)
        self._check(view)
        with self._lock:
            number = next(self._requests)
            self._current = number
            previous = self._worker
            if self.background:
                self._worker = threading.Thread(target=self._work,
                                                args=(view, number, previous, time.perf_counter()),
                                                name=f"explorer request {number}", daemon=True)
                self._worker.start()
        if not self.background:
            self._serve(view, number, time.perf_counter())
        return number

    def _work(self, view: View, number: int, previous: threading.Thread | None,
              start: float) -> None:
        if previous is not None:
            previous.join()  # stops at its next chunk: it is no longer the newest
        if number != self._current:
            return  # superseded before it began: nothing queues
        try:
            _release_free_memory()  # what the main thread freed, before this thread allocates
            self._serve(view, number, start)
        except Exception as error:  # noqa: BLE001 — shown in the status line, raised by wait()
            self._error = error
            self.status.value = f"error: {type(error).__name__}: {error}"
        finally:
            _release_free_memory()  # and what this thread freed, before the main thread works

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the newest request has drawn its picture (background mode)."""
        while True:
            worker = self._worker
            if worker is None or worker is threading.current_thread():
                break
            worker.join(timeout)
            if worker.is_alive() or worker is self._worker:
                break
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _serve(self, view: View, number: int, start: float) -> Timing:
        """Compute the missing gradients chunk by chunk, drawing as they arrive."""
        key = self._key(view)
        have = self.cache.count(key)
        new = passes = 0
        compute_s = redraw_s = 0.0
        first = float("nan")
        drawn = 0
        superseded = False

        def draw(n_drawn: int) -> bool:
            nonlocal redraw_s, first, drawn
            begin = time.perf_counter()
            drawn_ok = self._draw(view, n_drawn, number, start, new_samples=new, passes=passes)
            redraw_s += time.perf_counter() - begin
            if drawn_ok:
                drawn = n_drawn
                if first != first:  # nan: the first picture
                    first = time.perf_counter() - start
            return drawn_ok

        self._set_progress(min(have, view.n), view.n, number)
        if have > 0 and not draw(min(have, view.n)):
            superseded = True
        while not superseded and have < view.n:
            if number != self._current:
                superseded = True
                break
            size = self.first_chunk if have == 0 else self.batch_size
            samples = range(have, min(have + size, view.n))
            begin = time.perf_counter()
            self._compute_chunk(view, samples)
            compute_s += time.perf_counter() - begin
            have, new, passes = have + len(samples), new + len(samples), passes + 1
            self._set_progress(have, view.n, number)
            if (have == view.n or have >= 2 * drawn) and not draw(have):
                superseded = True
        timing = Timing(number, view.noise_percent, view.n, new, passes, superseded, first, compute_s,
                        redraw_s, time.perf_counter() - start)
        self.timings.append(timing)
        return timing

    def _set_progress(self, value: int, maximum: int, number: int) -> None:
        with self._lock:
            if number == self._current:
                self.progress.max = maximum
                self.progress.value = value

    def _draw(self, view: View, n_drawn: int, number: int, start: float, new_samples: int,
              passes: int) -> bool:
        """Render the map of the first ``n_drawn`` samples; show it if still the newest."""
        attribution = self._map(view, n_drawn)
        png = self.render(view.photo, attribution)
        _, white = clip_at_percentile(attribution.cpu().numpy(), self.percentile)
        final = n_drawn == view.n
        with self._lock:
            if number != self._current:
                return False
            self.image.value = png
            self.shown, self.shown_map = view, attribution
            self.frames.append(Frame(number, view.noise_percent, n_drawn, final,
                                     time.perf_counter() - start))
            progress = "" if final else f" (refining: {n_drawn} of {view.n})"
            self.status.value = (
                f"σ = {view.noise_percent} % of the pixel range · n = {view.n}{progress} · "
                f"{STATISTIC_NAMES[view.statistic]} · white ≥ {white:.3g} · "
                f"{new_samples} new gradients in {passes} passes · "
                f"cache {self.cache.nbytes / MB:.0f} of {self.cache.budget_bytes / MB:.0f} MB")
        return True

    def show(self, photo: str, target: int, noise_percent: int, n: int,
             statistic: str = "smoothgrad") -> Timing:
        """Draw this picture now, progressively, in the caller's thread; return its timing.

        Supersedes whatever a background worker was computing.
        """
        view = View(photo, int(target), noise_percent, n, statistic)
        self._check(view)
        with self._lock:
            number = next(self._requests)
            self._current = number
        self.wait()
        return self._serve(view, number, time.perf_counter())

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
        self.n_slider = widgets.IntSlider(value=min(25, self.n_max), min=1, max=self.n_max,
                                          step=1, description="samples n",
                                          continuous_update=False, style=style, layout=layout)
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

    def controls(self) -> View:
        """The settings the widgets show now."""
        return View(self.photo_picker.value, self.class_picker.value, self.noise_slider.value,
                    self.n_slider.value, STATISTIC_LABELS[self.statistic_picker.value])

    def reset(self) -> None:
        """Put every control back to its initial value (first photo, its top class,
        SmoothGrad, σ = 15 %, n = 25) and draw that picture."""
        with self._muted():
            self.photo_picker.value = self.photo_picker.options[0]
            self.class_picker.options = self.class_choices[self.photo_picker.value]
            self.statistic_picker.value = self.statistic_picker.options[0]
            self.noise_slider.value = 15
            self.n_slider.value = min(25, self.n_max)
        self._changed()

    @contextmanager
    def _muted(self) -> Iterator[None]:
        """Change several controls without a request for each."""
        self._mute = True
        try:
            yield
        finally:
            self._mute = False

    def _photo_changed(self, change: dict) -> None:
        if self._mute:
            return
        with self._muted():  # replacing the options resets the class: redraw once, afterwards
            self.class_picker.options = self.class_choices[change["new"]]
        self._changed()

    def _changed(self, change: dict | None = None) -> None:
        if self._mute:
            return
        view = self.controls()
        self.request(view.photo, view.target, view.noise_percent, view.n, view.statistic)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if self.shown is None:  # the first picture, drawn here so the cell ends with it
            view = self.controls()
            self.show(view.photo, view.target, view.noise_percent, view.n, view.statistic)

    # ---- a static figure for readers of the rendered notebook -------------------------
    def grid_figure(self, photo: str, target: int, noise_percents: list[int],
                    ns: list[int], size: float = 2.0) -> Figure:
        """σ down the rows, n across the columns; the photo in the top-left corner.

        Each map is scaled on its own (white at its 99th percentile, as in the explorer);
        the value that maps to white is printed under each panel.
        """
        maps = {(noise, n): self.attribution_map(photo, target, noise, n)
                for noise in noise_percents for n in ns}
        fig, axes = plt.subplots(len(noise_percents), len(ns) + 1,
                                 figsize=(size * (len(ns) + 1), size * len(noise_percents) * 1.1),
                                 squeeze=False)
        for row, noise in enumerate(noise_percents):
            if row == 0:
                show_image(axes[0, 0], self.photos[photo], photo)
            else:
                axes[row, 0].axis("off")
            axes[row, 0].text(-0.1, 0.5, f"σ = {noise} %", transform=axes[row, 0].transAxes,
                              ha="right", va="center")
            for col, n in enumerate(ns, start=1):
                attribution = maps[(noise, n)]
                show_abs_map(axes[row, col], attribution, f"n = {n}" if row == 0 else None,
                             self.percentile)
                _, white = clip_at_percentile(attribution.cpu().numpy(), self.percentile)
                axes[row, col].set_xlabel(f"white ≥ {white:.2g}", fontsize=8)
        fig.tight_layout()
        return fig
