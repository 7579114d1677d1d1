"""SmoothGrad, SmoothGrad², VarGrad against Captum's NoiseTunnel, and the explorer's logic.

Convention mapping: Captum's ``stdevs`` is an absolute σ; ours is a fraction of each
image's pixel range. The test images are given range exactly [0, 1] (one pixel set to
0, one to 1), so ``stdevs = noise_level``. ``Saliency`` is called with ``abs=False``.
Both draw the noise in the same order (image-major within each chunk of samples), so
with ``torch.manual_seed(s)`` for Captum and ``seed=s`` for us the noise is identical
when ``nt_samples_batch_size = batch_size // N``.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import NoiseTunnel, Saliency

import course_lib as course
from course_lib.teaching.explorer import SmoothGradExplorer
from test_against_captum import TARGETS


@pytest.fixture(scope="module")
def unit_range_photos(photos) -> torch.Tensor:
    x = photos.clone()
    x[:, 0, 0, 0], x[:, 0, 0, 1] = 0.0, 1.0
    return x


@pytest.mark.parametrize("statistic", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_matches_captum_noise_tunnel(any_model, unit_range_photos, statistic):
    x = unit_range_photos
    ours = course.smoothgrad(any_model, x, TARGETS, noise_level=0.2, n_samples=5,
                             statistic=statistic, batch_size=6, seed=7, progress=False)
    torch.manual_seed(7)
    theirs = NoiseTunnel(Saliency(any_model)).attribute(
        x, nt_type=statistic, nt_samples=5, nt_samples_batch_size=2, stdevs=0.2,
        target=TARGETS, abs=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


def test_zero_noise_is_the_vanilla_gradient(lite0, photos):
    torch.testing.assert_close(
        course.smoothgrad(lite0, photos, TARGETS, noise_level=0.0, n_samples=3, progress=False),
        course.vanilla_gradient(lite0, photos, TARGETS))


def test_seeded_and_independent_of_batch_size(lite0, photos):
    a = course.smoothgrad(lite0, photos[:1], 5, n_samples=4, batch_size=4, progress=False)
    b = course.smoothgrad(lite0, photos[:1], 5, n_samples=4, batch_size=4, progress=False)
    c = course.smoothgrad(lite0, photos[:1], 5, n_samples=4, batch_size=4, seed=1,
                          progress=False)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_global_random_state_untouched(lite0, photos):
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    course.smoothgrad(lite0, photos[:1], 5, n_samples=2, progress=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"noise_level": 15}, ValueError, r"fraction of the pixel range"),
    ({"noise_level": -0.1}, ValueError, r"in \[0, 1\]"),
    ({"noise_level": "high"}, TypeError, "noise_level must be a number"),
    ({"n_samples": 0}, ValueError, "n_samples must be at least 1"),
    ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
    ({"statistic": "median"}, ValueError, "unknown statistic"),
    ({"batch_size": 0}, ValueError, "batch_size"),
])
def test_bad_arguments(lite0, photos, kwargs, error, match):
    with pytest.raises(error, match=match):
        course.smoothgrad(lite0, photos[:1], 5, progress=False, **kwargs)


# ---- the explorer, headless: ipywidgets fires observers synchronously outside a kernel ----

@pytest.fixture
def explorer(lite0, photos) -> SmoothGradExplorer:
    return SmoothGradExplorer(lite0, {"chelsea": photos[0], "coffee": photos[1]}, batch_size=4)


def test_explorer_slider_moves_change_the_picture(explorer):
    explorer.show("chelsea", explorer.class_picker.value, 15, 8)
    first = explorer.image.value
    explorer.noise_slider.value = 30
    assert explorer.timings[-1].noise_percent == 30 and explorer.image.value != first
    after_noise = explorer.image.value
    explorer.n_slider.value = 3
    assert explorer.timings[-1].n_samples == 3 and explorer.image.value != after_noise
    assert bytes(explorer.image.value).startswith(b"\x89PNG")


def test_explorer_n_is_a_prefix_served_from_the_cache(explorer):
    target = explorer.class_picker.value
    computed = explorer.show("chelsea", target, 20, 8)
    assert computed.new_samples == 8 and not computed.cache_hit
    cached = explorer.show("chelsea", target, 20, 5)
    assert cached.new_samples == 0 and cached.cache_hit
    more = explorer.show("chelsea", target, 20, 10)  # 2 more needed → one whole chunk of 4
    assert more.new_samples == 4
    explorer.show("chelsea", target, 20, 9)
    assert "from cache" in explorer.status.value
    gradients = explorer.gradients("chelsea", target, 20, 10)
    torch.testing.assert_close(explorer.attribution_map("chelsea", target, 20, 5),
                               course.aggregate_channels(gradients[:5].mean(dim=0)))


def test_explorer_cache_matches_smoothgrad(explorer, photos):
    """The cached samples are SmoothGrad's: same seed stream, same noise."""
    target = explorer.class_picker.value
    gradients = explorer.gradients("chelsea", target, 15, 8)
    reference = course.smoothgrad(explorer.model, photos[:1], target, noise_level=0.15,
                                  n_samples=8, batch_size=4, seed=15, progress=False)
    torch.testing.assert_close(gradients.mean(dim=0), reference[0])


def test_explorer_same_settings_same_map_whatever_the_path(lite0, photos):
    one = SmoothGradExplorer(lite0, {"cat": photos[0]}, batch_size=4)
    two = SmoothGradExplorer(lite0, {"cat": photos[0]}, batch_size=4)
    target = one.class_picker.value
    one.gradients("cat", target, 10, 3)
    one.gradients("cat", target, 10, 9)
    torch.testing.assert_close(one.gradients("cat", target, 10, 9),
                               two.gradients("cat", target, 10, 9))


def test_explorer_statistics_and_timing_bookkeeping(explorer):
    target = explorer.class_picker.value
    explorer.n_slider.value = 4  # σ = 15 % (the default), 4 samples: computed
    assert explorer.timings[-1].new_samples == 4
    explorer.statistic_picker.value = "VarGrad (variance)"
    timing = explorer.timings[-1]
    assert timing.cache_hit and timing.compute_s >= 0 and timing.redraw_s > 0
    assert "n = 4" in explorer.status.value and "from cache" in explorer.status.value
    g = explorer.gradients("chelsea", target, 15, 4)
    var = course.aggregate_channels(g.pow(2).mean(0) - g.mean(0).pow(2))
    torch.testing.assert_close(explorer.attribution_map("chelsea", target, 15, 4, "vargrad"), var)


def test_explorer_photo_picker_updates_classes(explorer):
    explorer.photo_picker.value = "coffee"
    assert [c for _, c in explorer.class_picker.options][0] == 967  # espresso on top
    assert explorer.timings[-1].noise_percent == explorer.noise_slider.value


def test_explorer_grid_figure(explorer):
    fig = explorer.grid_figure("chelsea", explorer.class_picker.value, [0, 10], [1, 4])
    assert len(fig.axes) == 6
    __import__("matplotlib.pyplot").pyplot.close(fig)
