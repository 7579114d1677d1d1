"""The SmoothGrad explorer, headless: its cache, its budget, progressive drawing, superseding.

Outside a kernel ipywidgets fires observers synchronously when a value is set, so slider moves
can be made from code. Most tests use a tiny CNN on 32 × 32 images (fast); one uses the
course's EfficientNet-Lite0. Background mode (a worker thread per request, as in a live
kernel) is tested with a model whose forward pass can be held at a gate, so that a newer
request arrives while an older one is computing — deterministically, with no sleeps.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

import course_lib as course
from course_lib.teaching.checkers.common import TinyNet, tiny_images
from course_lib.teaching.explorer import MB, SmoothGradExplorer

NAMES = [f"class {i}" for i in range(5)]
GRADIENT_BYTES = 3 * 32 * 32 * 4  # one float32 gradient of a 32 × 32 image


class Gated(nn.Module):
    """TinyNet whose forward pass first calls ``Gated.gate`` (a class attribute, so the
    explorer's private copy of the model shares it)."""

    gate = None

    def __init__(self) -> None:
        super().__init__()
        self.net = TinyNet()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if Gated.gate is not None:
            Gated.gate()
        return self.net(x)


@pytest.fixture
def photos32() -> dict[str, torch.Tensor]:
    images = tiny_images(2, 32, seed=5)
    return {"a": images[0], "b": 0.2 + 0.5 * images[1]}  # b spans about [0.2, 0.7]


def make(photos, model=None, **kwargs) -> SmoothGradExplorer:
    kwargs = {"class_names": NAMES, "batch_size": 4, "background": False, **kwargs}
    return SmoothGradExplorer(model or TinyNet(), photos, **kwargs)


def reference_map(model, image, target, noise_percent, n, statistic="smoothgrad"):
    """The same map from course.smoothgrad, computed in one go."""
    values = course.smoothgrad(model, image[None], target, noise_level=noise_percent / 100,
                               n_samples=n, statistic=statistic, batch_size=8, seed=0,
                               progress=False)
    return course.aggregate_channels(values[0])


# ---- the cache: prefixes, same samples whatever the path -----------------------------------

def test_slider_moves_change_the_picture(photos32):
    explorer = make(photos32)
    explorer.show("a", explorer.class_picker.value, 15, 8)
    first = explorer.image.value
    explorer.noise_slider.value = 30
    assert explorer.timings[-1].noise_percent == 30 and explorer.image.value != first
    after_noise = explorer.image.value
    explorer.n_slider.value = 3
    assert explorer.timings[-1].n_samples == 3 and explorer.image.value != after_noise
    assert bytes(explorer.image.value).startswith(b"\x89PNG")


def test_n_is_a_prefix_served_from_the_cache(photos32):
    explorer = make(photos32)
    target = explorer.class_picker.value
    computed = explorer.show("a", target, 20, 8)   # chunks of 2 (first), 4, 2
    assert (computed.new_samples, computed.passes, computed.cache_hit) == (8, 3, False)
    cached = explorer.show("a", target, 20, 5)
    assert (cached.new_samples, cached.passes, cached.cache_hit) == (0, 0, True)
    more = explorer.show("a", target, 20, 10)      # exactly the 2 missing samples
    assert (more.new_samples, more.passes) == (2, 1)
    g = explorer.gradients("a", target, 20, 10)
    torch.testing.assert_close(explorer.attribution_map("a", target, 20, 5),
                               g[:5].mean(dim=0).abs().amax(dim=0))


def test_every_prefix_is_the_mean_of_exactly_n_samples(photos32):
    """n samples for every n, also where n ends inside a cached chunk (chunks of 1, 4, 3)."""
    explorer = make(photos32)
    target = explorer.class_picker.value
    explorer.show("a", target, 20, 8)
    g = explorer.gradients("a", target, 20, 8)
    for n in range(1, 9):
        mean = g[:n].mean(dim=0)
        torch.testing.assert_close(explorer.attribution_map("a", target, 20, n),
                                   mean.abs().amax(dim=0))
        torch.testing.assert_close(explorer.attribution_map("a", target, 20, n, "vargrad"),
                                   (g[:n] - mean).pow(2).mean(dim=0).abs().amax(dim=0))


@pytest.mark.parametrize("statistic", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_maps_equal_course_smoothgrad(photos32, statistic):
    """The cached samples are SmoothGrad's: same seed, same noise, any statistic."""
    model = TinyNet()
    explorer = make(photos32, model)
    for photo in ("a", "b"):
        target = explorer.class_choices[photo][1][1]
        torch.testing.assert_close(
            explorer.attribution_map(photo, target, 25, 9, statistic),
            reference_map(model, photos32[photo], target, 25, 9, statistic))


def test_statistics_of_the_cached_samples(photos32):
    explorer = make(photos32)
    target = explorer.class_picker.value
    g = explorer.gradients("a", target, 15, 6)
    mean, mean_sq = g.mean(0), g.pow(2).mean(0)
    for statistic, expected in (("smoothgrad", mean), ("smoothgrad_sq", mean_sq),
                                ("vargrad", mean_sq - mean.pow(2))):
        torch.testing.assert_close(explorer.attribution_map("a", target, 15, 6, statistic),
                                   expected.abs().amax(dim=0), rtol=1e-4, atol=1e-9)


def test_same_settings_same_map_whatever_the_path(photos32):
    model = TinyNet()
    one, two = make(photos32, model), make(photos32, model, batch_size=3)
    target = one.class_picker.value
    one.show("a", target, 10, 3)
    one.show("a", target, 10, 9)
    two.show("a", target, 10, 9)
    torch.testing.assert_close(one.gradients("a", target, 10, 9),
                               two.gradients("a", target, 10, 9))


# ---- the byte budget ------------------------------------------------------------------------

def test_sweep_stays_within_the_budget_and_recomputes_the_same_map(photos32):
    budget_mb = 5 * 100 * GRADIENT_BYTES / MB   # room for five (photo, class, σ) at n = 100
    explorer = make(photos32, cache_mb=budget_mb, batch_size=10)
    first_maps = {}
    for photo in ("a", "b"):
        target = explorer.class_choices[photo][0][1]
        for noise in range(0, 51, 5):
            explorer.show(photo, target, noise, 100)
            assert explorer.cache.nbytes <= explorer.cache.budget_bytes
            first_maps[photo, noise] = explorer.shown_map.clone()
            assert f"of {budget_mb:.0f} MB" in explorer.status.value
    assert len(explorer.cache.keys()) == 5
    target = explorer.class_choices["a"][0][1]
    again = explorer.show("a", target, 0, 100)      # forgotten long ago: computed again
    assert again.new_samples == 100
    torch.testing.assert_close(explorer.shown_map, first_maps["a", 0], rtol=0, atol=0)
    assert explorer.cache.nbytes <= explorer.cache.budget_bytes


def test_least_recently_used_is_forgotten_first(photos32):
    explorer = make(photos32, cache_mb=2 * 100 * GRADIENT_BYTES / MB, n_max=100)
    target = explorer.class_picker.value
    explorer.show("a", target, 10, 100)
    explorer.show("a", target, 20, 100)
    assert explorer.show("a", target, 10, 50).cache_hit  # σ = 10 % is now the most recent
    explorer.show("a", target, 30, 100)                 # room for two: σ = 20 % goes
    assert [key[2] for key in explorer.cache.keys()] == [10, 30]


def test_a_budget_that_cannot_hold_one_map_is_refused(photos32):
    with pytest.raises(ValueError, match="cannot hold one map"):
        make(photos32, cache_mb=0.5)


# ---- progressive drawing ----------------------------------------------------------------------

def test_a_new_sigma_is_drawn_progressively(photos32):
    explorer = make(photos32, batch_size=4, first_chunk=2)
    target = explorer.class_picker.value
    timing = explorer.show("a", target, 35, 50)
    frames = [f.n_drawn for f in explorer.frames]
    assert frames == [2, 6, 14, 30, 50]         # after the first chunk, then at each doubling
    assert [f.final for f in explorer.frames] == [False] * 4 + [True]
    assert all(a.seconds <= b.seconds for a, b in zip(explorer.frames, list(explorer.frames)[1:]))
    assert (timing.new_samples, timing.passes) == (50, 13)
    assert (explorer.progress.value, explorer.progress.max) == (50, 50)
    assert "n = 50 ·" in explorer.status.value and "refining" not in explorer.status.value


def test_more_samples_first_show_the_cached_prefix(photos32):
    explorer = make(photos32, batch_size=4)
    target = explorer.class_picker.value
    explorer.show("a", target, 35, 10)
    explorer.frames.clear()
    explorer.show("a", target, 35, 30)
    assert [f.n_drawn for f in explorer.frames] == [10, 22, 30]


def test_the_final_progressive_map_equals_the_non_progressive_one(photos32):
    model = TinyNet()
    explorer = make(photos32, model, batch_size=3, first_chunk=1)
    target = explorer.class_choices["b"][2][1]
    explorer.show("b", target, 40, 37, "vargrad")
    expected = reference_map(model, photos32["b"], target, 40, 37, "vargrad")
    torch.testing.assert_close(explorer.shown_map, expected, rtol=1e-4, atol=1e-9)
    fresh = make(photos32, model, batch_size=37)          # one pass, nothing progressive
    torch.testing.assert_close(fresh.attribution_map("b", target, 40, 37, "vargrad"),
                               explorer.shown_map, rtol=1e-4, atol=1e-9)


# ---- background mode: the newest request wins --------------------------------------------------

class Gate:
    """Holds the ``block_at``-th forward pass until released; raises on ``fail_at``."""

    def __init__(self, block_at: int | None = None, fail_at: int | None = None) -> None:
        self.calls, self.block_at, self.fail_at = 0, block_at, fail_at
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the model failed")
        if self.calls == self.block_at:
            self.entered.set()
            assert self.release.wait(timeout=60), "the test never released the gate"


@pytest.fixture
def gated():
    yield Gated()
    Gated.gate = None


def test_a_newer_request_supersedes_the_running_one(photos32, gated):
    explorer = make(photos32, gated, background=True, batch_size=2, first_chunk=2)
    target = explorer.class_picker.value
    # Hold the third pass of the first request: after it no picture is due (6 < 2 · 4), so
    # only the check between passes can stop the request.
    Gated.gate = gate = Gate(block_at=3)
    first = explorer.request("a", target, 10, 20)
    assert gate.entered.wait(timeout=60)
    second = explorer.request("a", target, 20, 20)  # arrives while the first computes …
    third = explorer.request("a", target, 30, 4)    # … and is itself superseded at once
    gate.release.set()
    explorer.wait()
    assert [(f.request, f.n_drawn) for f in explorer.frames] == [
        (first, 2), (first, 4), (third, 2), (third, 4)]
    assert explorer.cache.count(("a", target, 10)) == 6   # stopped after the pass in flight
    assert explorer.cache.count(("a", target, 20)) == 0   # never started: nothing queued
    assert [(t.noise_percent, t.new_samples, t.superseded) for t in explorer.timings] == [
        (10, 6, True), (30, 4, False)]
    assert explorer.shown.noise_percent == 30 and first < second < third
    assert explorer.image.value == explorer.render("a", explorer.shown_map)
    torch.testing.assert_close(explorer.shown_map,
                               reference_map(gated, photos32["a"], target, 30, 4))


def test_a_superseded_request_draws_nothing_more(photos32, gated):
    explorer = make(photos32, gated, background=True, batch_size=2, first_chunk=2)
    target = explorer.class_picker.value
    Gated.gate = gate = Gate(block_at=2)   # after this pass a picture would be due (4 = 2 · 2)
    first = explorer.request("a", target, 10, 20)
    assert gate.entered.wait(timeout=60)
    newest = explorer.request("a", target, 30, 2)
    gate.release.set()
    explorer.wait()
    assert [(f.request, f.n_drawn) for f in explorer.frames] == [(first, 2), (newest, 2)]
    assert explorer.cache.count(("a", target, 10)) == 4


def test_the_model_is_untouched_while_the_worker_computes(photos32, gated):
    gated.train()                            # a learner's model, mid-training
    explorer = make(photos32, gated, background=True)
    Gated.gate = gate = Gate(block_at=1)
    explorer.request("a", explorer.class_picker.value, 10, 4)
    assert gate.entered.wait(timeout=60)     # the worker is inside a forward pass now
    try:
        assert all(m.training for m in gated.modules())
        assert all(p.requires_grad for p in gated.parameters())
    finally:
        gate.release.set()
        explorer.wait()


def test_background_request_draws_the_same_as_synchronous(photos32, gated):
    sync = make(photos32, gated)
    background = make(photos32, gated, background=True)
    target = sync.class_picker.value
    sync.show("b", target, 45, 13)
    background.noise_slider.value = 45      # as a user would: the callback returns at once
    background.photo_picker.value = "b"
    background.n_slider.value = 13
    background.class_picker.value = target
    background.wait()
    assert background.shown == sync.shown
    torch.testing.assert_close(background.shown_map, sync.shown_map, rtol=1e-5, atol=1e-9)


def test_an_error_in_the_worker_is_shown_and_raised_by_wait(photos32, gated):
    explorer = make(photos32, gated, background=True)
    Gated.gate = Gate(fail_at=1)
    explorer.request("a", explorer.class_picker.value, 5, 3)
    with pytest.raises(RuntimeError, match="the model failed"):
        explorer.wait()
    assert explorer.status.value.startswith("error: RuntimeError")


# ---- widgets, model state, the real model -------------------------------------------------------

def test_the_model_is_left_as_found(photos32):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
    model.train()                               # a learner's model in the middle of training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    explorer = make(photos32, model, background=True)
    explorer.noise_slider.value = 40
    explorer.wait()
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN untouched
    assert explorer.timings[-1].new_samples == 25


def test_photo_picker_and_reset(photos32):
    explorer = make(photos32)
    explorer.statistic_picker.value = "VarGrad (variance)"
    explorer.photo_picker.value = "b"
    assert explorer.class_picker.options == tuple(explorer.class_choices["b"])
    assert explorer.shown.photo == "b" and explorer.shown.statistic == "vargrad"
    explorer.noise_slider.value, explorer.n_slider.value = 40, 7
    explorer.reset()
    assert explorer.controls() == explorer.shown
    assert (explorer.shown.photo, explorer.shown.statistic, explorer.shown.noise_percent,
            explorer.shown.n) == ("a", "smoothgrad", 15, 25)
    assert explorer.shown.target == explorer.class_choices["a"][0][1]


def test_grid_figure_prints_each_panels_scale(photos32):
    explorer = make(photos32)
    fig = explorer.grid_figure("a", explorer.class_picker.value, [0, 10], [1, 4])
    assert len(fig.axes) == 6
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert len(labels) == 4 and all(label.startswith("white ≥ ") for label in labels)
    __import__("matplotlib.pyplot").pyplot.close(fig)


def test_on_efficientnet_lite0(lite0, photos):
    explorer = SmoothGradExplorer(lite0, {"chelsea": photos[0], "coffee": photos[1]},
                                  batch_size=2, background=False)
    assert explorer.class_choices["coffee"][0][1] == 967    # espresso on top
    target = explorer.class_choices["chelsea"][0][1]
    explorer.show("chelsea", target, 15, 3)
    expected = course.smoothgrad(lite0, photos[:1], target, noise_level=0.15, n_samples=3,
                                 batch_size=3, seed=0, progress=False)
    torch.testing.assert_close(explorer.shown_map, course.aggregate_channels(expected[0]),
                               rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    assert np.isfinite(explorer.timings[-1].first_picture_s)
