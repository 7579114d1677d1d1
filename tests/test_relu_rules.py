"""The three backward rules on tiny hand-checked examples."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.methods.relu_rules import RuleReLU, relu_backward_rule

X = torch.tensor([-2.0, -0.5, 0.5, 2.0, 7.0])
SIGNAL = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0])


def backward_through(module: nn.Module) -> torch.Tensor:
    x = X.clone().requires_grad_(True)
    module(x).backward(SIGNAL)
    return x.grad


@pytest.mark.parametrize("rule, expected", [
    ("gradient", [0.0, 0.0, -1.0, 1.0, 1.0]),   # signal · I(x > 0)
    ("deconvnet", [1.0, 0.0, 0.0, 1.0, 1.0]),   # signal · I(signal > 0)
    ("guided", [0.0, 0.0, 0.0, 1.0, 1.0]),      # both
])
def test_relu_rules(rule, expected):
    assert backward_through(RuleReLU(rule)).tolist() == expected


@pytest.mark.parametrize("rule, expected", [
    ("gradient", [0.0, 0.0, -1.0, 1.0, 0.0]),   # ReLU6: also I(x < 6)
    ("deconvnet", [1.0, 0.0, 0.0, 1.0, 0.0]),
    ("guided", [0.0, 0.0, 0.0, 1.0, 0.0]),
])
def test_relu6_rules_keep_the_cap_gradient(rule, expected):
    assert backward_through(RuleReLU(rule, cap=6.0)).tolist() == expected


@pytest.mark.parametrize("module, cap", [(nn.ReLU(), None), (nn.ReLU6(), 6.0)])
def test_forward_unchanged_and_gradient_rule_is_autograd(module, cap):
    for rule in ("gradient", "deconvnet", "guided"):
        assert torch.equal(RuleReLU(rule, cap)(X), module(X))
    assert torch.equal(backward_through(RuleReLU("gradient", cap)), backward_through(module))


def test_gradient_rule_on_a_whole_model_is_plain_autograd(lite0, photos):
    x = photos[:1].clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(lite0(x)[0, 5], x)
    with relu_backward_rule(lite0, "gradient"):
        (swapped,) = torch.autograd.grad(lite0(x)[0, 5], x)
    torch.testing.assert_close(swapped, plain)


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown rule"):
        RuleReLU("lrp")
    with pytest.raises(ValueError, match="unknown rule"):
        with relu_backward_rule(nn.Sequential(nn.ReLU()), "lrp"):
            pass
