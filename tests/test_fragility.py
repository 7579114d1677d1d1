"""The top-k attack of Ghorbani et al. and its parts (course_lib.evaluation.fragility), on tiny models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course_lib as course
from course_lib.evaluation.fragility import (SoftplusReLU, fast_grouped_conv_double_backward,
                                  random_sign_noise, softplus_relus, top_k_attack,
                                  top_k_intersection, top_k_mass, top_k_mask)


def tiny_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.ReLU6(),
        nn.Conv2d(8, 16, 1), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3)).eval()


def images(n: int = 2, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_surrogate_swaps_and_restores_modules() -> None:
    model = tiny_net()
    before = list(model)
    with softplus_relus(model, beta=5.0):
        inside = [type(m) for m in model]
    assert inside.count(SoftplusReLU) == 3
    assert all(a is b for a, b in zip(before, model, strict=True))
    with pytest.raises(RuntimeError, match="boom"), softplus_relus(model, beta=5.0):
        raise RuntimeError("boom")
    assert all(a is b for a, b in zip(before, model, strict=True))


def test_surrogate_approximates_relu_for_large_beta() -> None:
    x = torch.linspace(-10, 12, 1001)
    assert torch.allclose(SoftplusReLU(200.0)(x), torch.relu(x), atol=4e-3)
    assert torch.allclose(SoftplusReLU(200.0, cap=6.0)(x), F.relu6(x), atol=4e-3)
    assert (SoftplusReLU(1.0)(x) - torch.relu(x)).abs().max() > 0.5  # small beta: smooth
    model, x = tiny_net(), images()
    with torch.no_grad():
        exact = model(x)
        with softplus_relus(model, beta=1000.0):
            smooth = model(x)
    torch.testing.assert_close(smooth, exact, atol=1e-3, rtol=0)


def test_relu_network_has_no_second_order_signal_but_surrogate_has() -> None:
    model, x = tiny_net(), images(1)
    mask = top_k_mask(torch.rand(1, 16, 16), 20)
    for smooth in (False, True):
        leaf = x.clone().requires_grad_(True)
        if smooth:
            with softplus_relus(model, beta=10.0):
                mass = top_k_mass(model, leaf, torch.tensor([0]), mask)
        else:
            mass = top_k_mass(model, leaf, torch.tensor([0]), mask)
        (grad,) = torch.autograd.grad(mass.sum(), leaf)
        # ReLU nets: the map is piecewise constant in x, so its derivative is exactly zero
        assert (grad.abs().max() > 0) == smooth


def test_fast_grouped_conv_gives_the_same_first_and_second_derivatives() -> None:
    torch.manual_seed(0)
    weight = torch.randn(6, 1, 5, 5, dtype=torch.float64)
    x = torch.rand(1, 6, 11, 9, dtype=torch.float64)

    def second_order(fast: bool) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = x.clone().requires_grad_(True)
        ctx = fast_grouped_conv_double_backward() if fast else torch.enable_grad()
        with ctx:
            out = F.conv2d(F.softplus(leaf), weight, None, 2, 2, 1, 6)
        (g,) = torch.autograd.grad(out.pow(2).sum(), leaf, create_graph=True)
        (h,) = torch.autograd.grad(g.pow(2).sum(), leaf)
        return g.detach(), h

    for a, b in zip(second_order(False), second_order(True)):
        torch.testing.assert_close(a, b)


def test_top_k_intersection_known_values() -> None:
    a = torch.arange(16.0).view(1, 4, 4)
    assert top_k_intersection(a, a, 5).item() == 1.0
    assert top_k_intersection(a, -a, 5).item() == 0.0  # top-5 vs bottom-5: disjoint
    b = a.clone()
    b[0, 3, 3] = -1.0  # the largest pixel drops out of b's top 4
    assert top_k_intersection(a, b, 4).item() == pytest.approx(0.75)
    batch = top_k_intersection(torch.stack([a[0], a[0]]), torch.stack([a[0], -a[0]]), 3)
    assert batch.tolist() == [1.0, 0.0]
    assert top_k_intersection(a[0], a[0], 16).item() == 1.0  # (H, W) maps work too
    with pytest.raises(ValueError, match="k must be"):
        top_k_intersection(a, a, 17)
    with pytest.raises(ValueError, match="differ in shape"):
        top_k_intersection(a, a[:, :2], 2)
    with pytest.raises(ValueError, match="aggregate_channels"):
        top_k_intersection(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), 2)


@pytest.fixture(scope="module")
def attacked():
    model, x = tiny_net(), images()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modules = list(model.modules())
    flags = [p.requires_grad for p in model.parameters()]
    result = top_k_attack(model, x, k=20, epsilon=0.1, step_size=0.02, iterations=8, beta=5.0,
                          progress=False)
    return model, x, result, state, modules, flags


def test_attack_respects_the_budget_and_the_label(attacked) -> None:
    model, x, result, *_ = attacked
    assert result.images.shape == x.shape
    assert (result.images - x).abs().max() <= 0.1 + 1e-6
    assert result.images.min() >= 0 and result.images.max() <= 1
    with torch.no_grad():
        assert torch.equal(model(result.images).argmax(1), model(x).argmax(1))
    assert torch.equal(result.label, model(x).argmax(1))
    assert result.intersection.shape == result.label_kept.shape == (2, 9)
    assert (result.intersection[:, 0] == 1).all()
    kept = result.label_kept.gather(1, result.best_iteration[:, None])
    assert kept.all()


def test_attack_moves_the_map_more_than_random_noise(attacked) -> None:
    model, x, result, *_ = attacked
    gradient = lambda images: course.vanilla_gradient(model, images, result.label)  # noqa: E731
    original = course.aggregate_channels(gradient(x), "abs_sum")
    attacked_map = course.aggregate_channels(gradient(result.images), "abs_sum")
    noisy_map = course.aggregate_channels(gradient(random_sign_noise(x, 0.1)), "abs_sum")
    attack = top_k_intersection(original, attacked_map, 20)
    noise = top_k_intersection(original, noisy_map, 20)
    torch.testing.assert_close(attack, result.final_intersection)
    assert (attack < noise - 0.2).all(), (attack, noise)


def test_attack_leaves_the_model_as_found(attacked) -> None:
    model, _, _, state, modules, flags = attacked
    assert all(a is b for a, b in zip(modules, model.modules(), strict=True))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags
    trained = tiny_net().train()
    top_k_attack(trained, images(1), k=10, iterations=1, progress=False)
    assert all(m.training for m in trained.modules())


def test_random_sign_noise() -> None:
    x = images()
    noisy = random_sign_noise(x, 0.05, seed=3)
    assert torch.equal(noisy, random_sign_noise(x, 0.05, seed=3))
    assert (noisy - x).abs().max() <= 0.05 + 1e-7
    assert noisy.min() >= 0 and noisy.max() <= 1
    inside = (x > 0.05) & (x < 0.95)  # away from the clipping: exactly ±ε
    assert torch.allclose((noisy - x).abs()[inside], torch.tensor(0.05))


def test_bad_arguments_refused() -> None:
    model, x = tiny_net(), images(1)
    with pytest.raises(ValueError, match="epsilon"):
        top_k_attack(model, x, epsilon=8, progress=False)
    with pytest.raises(ValueError, match="iterations"):
        top_k_attack(model, x, iterations=0, progress=False)
    with pytest.raises(ValueError, match="beta"):
        with softplus_relus(model, beta=0):
            pass
    with pytest.raises(TypeError, match="no nn.ReLU"):
        with softplus_relus(nn.Linear(2, 2)):
            pass


def test_surrogate_keeps_lite0_predictions(lite0, photos) -> None:
    with torch.no_grad():
        exact = lite0(photos).softmax(dim=1)
        with softplus_relus(lite0, beta=10.0):
            smooth = lite0(photos).softmax(dim=1)
    assert torch.equal(exact.argmax(1), smooth.argmax(1))
    assert (exact - smooth).abs().max() < 0.1
    assert all(type(m).__name__ != "SoftplusReLU" for m in lite0.modules())


def test_fold_batchnorm_keeps_the_function() -> None:
    import copy

    from course_lib.evaluation.fragility import fold_batchnorm
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, groups=4), nn.BatchNorm2d(4)).eval()
    for bn in (model[1], model[4]):
        with torch.no_grad():
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_(-1, 1)
    x = torch.rand(2, 3, 9, 9)
    folded = fold_batchnorm(copy.deepcopy(model))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 0
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
