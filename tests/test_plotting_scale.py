"""Colour bars: a figure that argues about magnitude shows the scale in the map's units."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import course_lib as course


def attribution(seed: int = 0, scale: float = 1e-3) -> torch.Tensor:
    return scale * torch.randn(3, 20, 30, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("draw, signed", [(course.show_abs_map, False),
                                          (course.show_signed_map, True)])
def test_colour_bar_is_in_the_maps_units(draw, signed):
    values = attribution()
    fig, ax = plt.subplots()
    draw(ax, values, colorbar=True)
    assert len(fig.axes) == 2  # the map and its colour bar
    image = ax.images[-1]
    reduced = values.sum(dim=0) if signed else values.abs().amax(dim=0)
    p99 = float(np.percentile(reduced.abs().numpy(), 99))  # written out, not the library's
    low, high = image.get_clim()
    assert high == pytest.approx(p99, rel=1e-6)
    assert low == pytest.approx(-p99 if signed else 0.0, abs=1e-12)
    plt.close(fig)


def test_colour_bar_does_not_change_the_colours():
    values = attribution(1)
    for draw in (course.show_abs_map, course.show_signed_map):
        fig, (plain, barred) = plt.subplots(1, 2)
        draw(plain, values)
        draw(barred, values, colorbar=True)
        colours = [ax.images[-1].to_rgba(ax.images[-1].get_array()) for ax in (plain, barred)]
        np.testing.assert_allclose(colours[0], colours[1], atol=1e-12)
        plt.close(fig)


def test_without_colour_bar_nothing_is_added_and_zero_maps_still_draw():
    fig, axes = plt.subplots(1, 3)
    course.show_abs_map(axes[0], torch.zeros(3, 8, 8), colorbar=True)
    course.show_signed_map(axes[1], torch.zeros(3, 8, 8))
    course.show_overlay(axes[2], torch.rand(3, 8, 8), attribution(2)[:, :8, :8], colorbar=True)
    assert len(fig.axes) == 5
    assert np.isfinite(np.asarray(axes[0].images[-1].get_array())).all()
    plt.close(fig)


def test_grid_gives_every_map_a_colour_bar():
    images = torch.rand(2, 3, 20, 30)
    maps = {"a": torch.randn(2, 3, 20, 30), "b": torch.randn(2, 3, 20, 30)}
    fig = course.plot_grid(images, maps, colorbar=True)
    assert len(fig.axes) == 2 * 3 + 2 * 2
    plt.close(fig)
    fig = course.plot_grid(images, maps, kind="signed")
    assert len(fig.axes) == 2 * 3
    plt.close(fig)
