"""Channel aggregation, map comparison and the plotting conventions."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import course_lib as course  # noqa: E402
from course_lib.teaching.plotting import clip_at_percentile  # noqa: E402


def test_aggregate_channels():
    a = torch.tensor([[[1.0]], [[-3.0]], [[2.0]]])
    assert course.aggregate_channels(a, "max_abs").item() == 3.0
    assert course.aggregate_channels(a, "sum").item() == 0.0
    assert course.aggregate_channels(a, "abs_sum").item() == 6.0
    assert course.aggregate_channels(torch.zeros(4, 3, 5, 6)).shape == (4, 5, 6)
    with pytest.raises(ValueError, match="unknown aggregation"):
        course.aggregate_channels(a, "mean")
    with pytest.raises(ValueError, match="3, H, W"):
        course.aggregate_channels(torch.zeros(5, 6))


def test_rank_correlation():
    torch.manual_seed(0)
    a = torch.rand(8, 8)
    assert course.rank_correlation(a, a) == pytest.approx(1.0)
    assert course.rank_correlation(a, 2 * a + 1) == pytest.approx(1.0)
    assert course.rank_correlation(a, torch.exp(20 * a)) == pytest.approx(1.0)  # ranks only
    b = torch.tensor([1.0, 2.0, 3.0, 4.0])  # Spearman by hand: rank differences 0, 0, 1, 1
    assert course.rank_correlation(b, torch.tensor([10.0, 20.0, 40.0, 30.0])) == \
        pytest.approx(1 - 6 * 2 / (4 * (4 ** 2 - 1)))
    assert course.rank_correlation(a, -a) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        course.rank_correlation(a, a[:4])


def test_clip_at_percentile():
    values = np.concatenate([np.linspace(0, 1, 99), [100.0]])
    scaled, scale = clip_at_percentile(values, 98)
    # the 98th percentile of 100 sorted values sits at index 97.02: 97/98 + 0.02 · (1 − 97/98)
    assert scale == pytest.approx(97 / 98 + 0.02 / 98) and scaled.max() == 1.0
    signed, _ = clip_at_percentile(-values, 98)
    np.testing.assert_allclose(signed, -scaled)  # negative values keep their sign
    zeros, scale = clip_at_percentile(np.zeros((4, 4)))
    assert scale == 0.0 and not np.isnan(zeros).any() and (zeros == 0).all()


def test_signed_map_is_centred_at_zero():
    fig, ax = plt.subplots()
    course.show_signed_map(ax, torch.tensor([[1.0, -0.2], [0.1, 0.0]]))
    low, high = ax.images[0].get_clim()
    assert low == -high and ax.images[0].get_cmap().name == "RdBu_r"
    plt.close(fig)


def test_signed_map_keeps_the_sign_of_the_channel_sum():
    """Channel sums −2, +1, 0.5, 0 per pixel; the 99th percentile of |sum| is 1.97 by numpy's
    linear interpolation: the drawn values are sum / 1.97, clipped to [−1, 1]."""
    attribution = torch.zeros(3, 2, 2)
    attribution[:, 0, 0] = torch.tensor([-1.0, -1.0, 0.0])   # sum −2
    attribution[:, 0, 1] = torch.tensor([3.0, -2.0, 0.0])    # sum +1 (max |·| is 3)
    attribution[:, 1, 0] = torch.tensor([0.5, 0.0, 0.0])     # sum 0.5
    fig, ax = plt.subplots()
    course.show_signed_map(ax, attribution)
    drawn = np.asarray(ax.images[0].get_array())
    scale = 1 + 0.97 * (2 - 1)  # 99th percentile of [0, 0.5, 1, 2]: between the top two
    np.testing.assert_allclose(drawn, [[-1.0, 1 / scale], [0.5 / scale, 0.0]], rtol=1e-6)
    plt.close(fig)


def test_abs_map_is_grayscale_from_zero():
    fig, ax = plt.subplots()
    course.show_abs_map(ax, torch.randn(3, 6, 6))
    assert ax.images[0].get_clim() == (0, 1) and ax.images[0].get_cmap().name == "gray"
    assert ax.images[0].get_array().min() >= 0
    plt.close(fig)


@pytest.mark.parametrize("kind", ["abs", "signed", "overlay"])
def test_plot_grid(kind):
    images = torch.rand(2, 3, 8, 8)
    fig = course.plot_grid(images, {"a": torch.randn(2, 3, 8, 8), "b": torch.randn(2, 8, 8)},
                           kind=kind, row_titles=["x", "y"])
    assert len(fig.axes) == 6 and fig.axes[1].get_title() == "a"
    plt.close(fig)


def test_plot_grid_refuses_mismatched_maps():
    with pytest.raises(ValueError, match="1 maps for 2 images"):
        course.plot_grid(torch.rand(2, 3, 8, 8), {"a": torch.randn(1, 3, 8, 8)})
    with pytest.raises(ValueError, match="unknown kind"):
        course.plot_grid(torch.rand(1, 3, 8, 8), {"a": torch.randn(1, 3, 8, 8)}, kind="jet")
    plt.close("all")
