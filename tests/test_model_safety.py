"""Every method leaves the model exactly as it found it — also when it fails halfway."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

import course_lib as course
from course_lib.methods.relu_rules import relu_backward_rule

from conftest import ALL_METHODS, RULE_METHODS

METHODS = list(ALL_METHODS)


def snapshot(model: nn.Module) -> dict:
    """Everything a method could disturb."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "modules": [(name, id(m), type(m)) for name, m in model.named_modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                   len(m._backward_pre_hooks)) for m in model.modules()],
    }


def assert_unchanged(before: dict, model: nn.Module) -> None:
    after = snapshot(model)
    for key in ("requires_grad", "training", "modules", "hooks"):
        assert after[key] == before[key], f"{key} changed"
    for name, value in before["state"].items():
        assert torch.equal(after["state"][name], value), f"{name} changed"
    for old, new in zip(before["grads"], after["grads"]):
        assert (old is None and new is None) or torch.equal(old, new)


def unusual_state(model: nn.Module) -> nn.Module:
    """A deep copy in a state a method might 'normalise': train mode with frozen (eval-mode)
    BatchNorm layers, as when fine-tuning; mixed requires_grad; a user's own forward hook;
    and a .grad left over from training."""
    model = copy.deepcopy(model).train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    params = list(model.parameters())
    params[0].requires_grad_(False)
    params[-1].grad = torch.ones_like(params[-1])
    list(model.modules())[3].register_forward_hook(lambda *args: None)
    return model


@pytest.mark.parametrize("method", METHODS)
def test_model_left_as_found(method, any_model, photos):
    model = unusual_state(any_model)
    before = snapshot(model)
    ALL_METHODS[method](model, photos[:2], [1, 2])
    assert_unchanged(before, model)


@pytest.mark.parametrize("method", METHODS)
def test_model_left_as_found_after_exception(method, any_model, photos):
    """An error raised in the middle of the forward pass must not leave rules or flags behind."""
    model = unusual_state(any_model)
    middle = [m for m in model.modules() if isinstance(m, nn.Conv2d)][10]

    def explode(*args):
        raise RuntimeError("injected failure")

    handle = middle.register_forward_hook(explode)
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="injected failure"):
        ALL_METHODS[method](model, photos[:2], [1, 2])
    assert_unchanged(before, model)
    handle.remove()


@pytest.mark.parametrize("method", METHODS)
def test_results_do_not_depend_on_train_mode(method, lite0, photos):
    """Attribution runs in eval mode: a model left in train mode gives the same map."""
    in_train_mode = copy.deepcopy(lite0).train()
    run = ALL_METHODS[method]
    torch.testing.assert_close(run(in_train_mode, photos[:1], 3), run(lite0, photos[:1], 3))


def test_inplace_relu_model_works_and_matches_out_of_place(photos):
    torch.manual_seed(0)
    inplace = torchvision.models.resnet18(weights=None).eval()
    out_of_place = copy.deepcopy(inplace)
    for module in out_of_place.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    assert any(getattr(m, "inplace", False) for m in inplace.modules())
    for method in RULE_METHODS:
        torch.testing.assert_close(ALL_METHODS[method](inplace, photos[:2], [0, 1]),
                                   ALL_METHODS[method](out_of_place, photos[:2], [0, 1]))


class FunctionalReLUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU()  # a module exists, but forward also calls a function
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        return self.fc(self.act(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", RULE_METHODS)
def test_functional_relu_is_refused_and_model_restored(method):
    model = FunctionalReLUNet()
    before = snapshot(model)
    with pytest.raises(TypeError, match="torch.relu"):
        ALL_METHODS[method](model, torch.rand(2, 3, 8, 8), [0, 1])
    assert_unchanged(before, model)


def test_model_without_relu_modules_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Flatten(), nn.LazyLinear(5))
    model(torch.rand(1, 3, 8, 8))
    with pytest.raises(TypeError, match="no nn.ReLU"):
        course.guided_backprop(model, torch.rand(1, 3, 8, 8), 0)


def test_vanilla_gradient_needs_no_relu_modules():
    """Plain gradients work on any differentiable model, functional ReLU included."""
    model = FunctionalReLUNet()
    assert course.vanilla_gradient(model, torch.rand(2, 3, 8, 8), [0, 4]).shape == (2, 3, 8, 8)


def test_relu_modules_restored_by_identity(lite0):
    originals = [m for m in lite0.modules() if isinstance(m, nn.ReLU6)]
    with relu_backward_rule(lite0, "guided"):
        assert not any(isinstance(m, nn.ReLU6) for m in lite0.modules())
    assert [m for m in lite0.modules() if isinstance(m, nn.ReLU6)] == originals


def test_shared_relu_module_is_swapped_everywhere_and_restored():
    shared = nn.ReLU()
    model = nn.Sequential(nn.Linear(2, 2), shared, nn.Linear(2, 2), shared)
    with relu_backward_rule(model, "deconvnet"):
        assert type(model[1]).__name__ == type(model[3]).__name__ == "RuleReLU"
    assert model[1] is shared and model[3] is shared


@pytest.mark.parametrize("method", METHODS)
def test_result_on_inputs_device_and_inputs_untouched(method, lite0, photos):
    x = photos[:1].clone()
    attribution = ALL_METHODS[method](lite0, x, 0)
    assert attribution.device == x.device and torch.isfinite(attribution).all()
    assert torch.equal(x, photos[:1]) and not x.requires_grad
