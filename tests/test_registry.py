"""The method registry of the benchmark (course_lib.evaluation.registry).

Every registered method gives a 2-D map per image; its per-image result does not depend
on the chunk it is computed in; the shared SmoothGrad computation equals three calls of
``course.smoothgrad``; the differentiable maps of the top-k attack equal the maps the
benchmark measures; a new method joins with one line.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import course_lib as course
from course_lib.evaluation import differentiable as diff
from course_lib.evaluation import registry
from course_lib.evaluation.registry import Method, Setup, to_map
from course_lib.methods.cam import grad_cam_plus_plus_weights


@pytest.fixture(scope="module")
def setup() -> Setup:
    return Setup(name="small_cnn", model=course.load_small_cnn(), cam_layer="features.relu4",
                 sg_samples=3, ig_steps=3, occlusion_patch=32, occlusion_stride=32,
                 batch_size=8, image_size=64, attack_samples=3)


@pytest.fixture(scope="module")
def shapes():
    images, labels, masks = course.make_shapes(3, seed=7)
    return images, labels


def test_every_method_gives_one_map_per_image(setup, shapes):
    images, labels = shapes
    for method in registry.METHODS:
        maps = to_map(method, method.attribute(setup, images, labels))
        assert maps.shape == (3, 64, 64), method.name
        assert torch.isfinite(maps).all(), method.name
        forward, backward = method.passes(setup)
        assert forward >= 0 and backward >= 0


def test_results_do_not_depend_on_the_chunk(setup, shapes):
    images, labels = shapes
    for method in registry.METHODS:
        together = to_map(method, method.attribute(setup, images, labels))
        alone = to_map(method, method.attribute(setup, images[1:2], labels[1:2]))
        torch.testing.assert_close(together[1:2], alone, rtol=1e-4, atol=1e-6,
                                   msg=method.name)


@pytest.mark.parametrize("statistic", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_shared_smoothgrad_equals_the_course_function(setup, shapes, statistic):
    images, labels = shapes
    shared = registry.smoothgrad_statistics(setup.model, images[:1], labels[:1], 0.15, 5, 4)
    alone = course.smoothgrad(setup.model, images[:1], labels[:1], noise_level=0.15,
                              n_samples=5, statistic=statistic, batch_size=4, progress=False)
    assert torch.equal(shared[statistic], alone)


def test_the_cache_sees_a_changed_model(setup, shapes):
    images, labels = shapes
    method = registry.get("SmoothGrad")
    first = method.attribute(setup, images[:1], labels[:1])
    changed = dataclasses.replace(setup, model=course.load_small_cnn())
    with torch.no_grad():
        changed.model.classifier.weight.mul_(-1)
    second = method.attribute(changed, images[:1], labels[:1])
    assert not torch.allclose(first, second)


def differentiable_inputs(shapes):
    images, labels = shapes
    return images[:2].clone().requires_grad_(True), labels[:2]


@pytest.mark.parametrize("name", ["vanilla gradient", "gradient × input", "Grad-CAM",
                                  "Grad-CAM++", "Integrated Gradients"])
def test_differentiable_maps_equal_the_measured_maps(setup, shapes, name):
    method = registry.get(name)
    x, t = differentiable_inputs(shapes)
    setup_k = dataclasses.replace(setup, ig_steps=setup.attack_samples)
    got = method.differentiable(setup_k, setup.model, x, t)
    expected = to_map(method, method.attribute(setup_k, x.detach(), t))
    torch.testing.assert_close(got.detach(), expected, rtol=1e-4, atol=1e-5)
    (gradient,) = torch.autograd.grad(got.sum(), x)          # the graph is there
    assert torch.isfinite(gradient).all()


def test_smoothgrad_family_without_noise_is_the_gradient(setup, shapes):
    x, t = differentiable_inputs(shapes)
    gradient = course.vanilla_gradient(setup.model, x.detach(), t)
    for statistic, expected in (("smoothgrad", gradient.abs().amax(dim=1)),
                                ("smoothgrad_sq", gradient.pow(2).amax(dim=1)),
                                ("vargrad", torch.zeros(2, 64, 64))):
        got = diff.smoothgrad_map(setup.model, x, t, statistic, noise_level=0.0, n_samples=2)
        torch.testing.assert_close(got.detach(), expected, rtol=1e-4, atol=1e-6)


def test_plus_plus_weights_equal_the_course_ones():
    generator = torch.Generator().manual_seed(0)
    activation = torch.rand(2, 4, 3, 3, generator=generator)
    gradient = torch.randn(2, 4, 3, 3, generator=generator)
    torch.testing.assert_close(diff.plus_plus_weights(activation, gradient),
                               grad_cam_plus_plus_weights(activation, gradient))


def test_controls_and_attackable_methods():
    controls = {m.name for m in registry.METHODS if m.control}
    assert controls == {"random map", "colourfulness"}
    attackable = {m.name for m in registry.METHODS if m.differentiable is not None}
    assert {"DeconvNet", "guided backprop", "Guided Grad-CAM", "occlusion"}.isdisjoint(attackable)
    assert "vanilla gradient" in attackable


def test_random_map_depends_on_the_image_only(shapes):
    images, _ = shapes
    first, again = registry.random_map(images), registry.random_map(images[1:])
    torch.testing.assert_close(first[1:], again)
    assert not torch.equal(first[0], first[1])


def test_a_new_method_joins_with_one_line(setup, shapes, monkeypatch):
    monkeypatch.setattr(registry, "METHODS", list(registry.METHODS))
    registry.register(Method("input itself", "control", lambda s, x, t: x))
    assert registry.method_names()[-1] == "input itself"
    images, labels = shapes
    assert to_map(registry.get("input itself"),
                  registry.get("input itself").attribute(setup, images, labels)).shape == (3, 64, 64)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Method("input itself", "control", lambda s, x, t: x))


def test_every_method_of_the_course_is_registered():
    # notebooks 01–08: each method joins the benchmark once (names as the tables print them)
    expected = {"vanilla gradient", "gradient × input", "DeconvNet", "guided backprop",
                "Grad-CAM", "Grad-CAM++", "Guided Grad-CAM", "SmoothGrad", "SmoothGrad²",
                "VarGrad", "Integrated Gradients", "Expected Gradients", "LRP (CMP)",
                "DeepLIFT", "occlusion", "LIME", "KernelSHAP", "RISE"}
    assert set(registry.method_names(include_controls=False)) == expected
    assert len(registry.method_names()) == len(set(registry.method_names()))
