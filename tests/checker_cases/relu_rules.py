"""Checker cases for the exercises of the relu rules notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain.

The DeconvNet and guided-backprop answers are written here from scratch (an autograd
Function swapped in for every ReLU/ReLU6 module), not with ``course_lib``'s rules."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from checker_cases.common import gradient as _gradient
from course_lib import check


class _Rule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, use_input_gate, use_signal_gate, cap):
        ctx.save_for_backward(x)
        ctx.gates, ctx.cap = (use_input_gate, use_signal_gate), cap
        return x.clamp(min=0) if cap is None else x.clamp(0, cap)

    @staticmethod
    def backward(ctx, signal):
        (x,) = ctx.saved_tensors
        use_input_gate, use_signal_gate = ctx.gates
        if ctx.cap is not None:
            signal = signal * (x < ctx.cap)
        if use_input_gate:
            signal = signal * (x > 0)
        if use_signal_gate:
            signal = signal.clamp(min=0)
        return signal, None, None, None


class _Swapped(nn.Module):
    def __init__(self, gates, cap):
        super().__init__()
        self.gates, self.cap = gates, cap

    def forward(self, x):
        return _Rule.apply(x, *self.gates, self.cap)


def _rule_map(model, x, target, gates):
    """(input gate, signal gate): (True, True) guided backprop, (False, True) DeconvNet."""
    places = [(parent, name, child) for parent in model.modules()
              for name, child in parent.named_children() if isinstance(child, (nn.ReLU, nn.ReLU6))]
    try:
        for parent, name, child in places:
            setattr(parent, name, _Swapped(gates, 6.0 if isinstance(child, nn.ReLU6) else None))
        return _gradient(model, x, target)
    finally:
        for parent, name, child in places:
            setattr(parent, name, child)


def _input_correlation(attribution, images, per_image=True):
    if not per_image:
        return torch.corrcoef(torch.stack([attribution.flatten(), images.flatten()]))[0, 1]
    return torch.stack([torch.corrcoef(torch.stack([a.flatten(), x.flatten()]))[0, 1]
                        for a, x in zip(attribution, images)])


@contextmanager
def _eval_and_frozen(model, restore_each=True):
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        if restore_each:
            for m, training in modes:
                m.training = training
        else:
            model.train()
        for p, requires_grad in flags:
            p.requires_grad_(requires_grad)


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "deconvnet": (lambda: check.deconvnet(lambda m, x, t: _rule_map(m, x, t, (False, True))),
                  lambda: check.deconvnet(lambda m, x, t: _rule_map(m, x, t, (True, True))),
                  "differs"),
    "guided_backprop": (lambda: check.guided_backprop(
                            lambda m, x, t: _rule_map(m, x, t, (True, True))),
                        lambda: check.guided_backprop(
                            lambda m, x, t: _rule_map(m, x, t, (False, True))),
                        "equals DeconvNet"),
    "relu_rule_names": (lambda: check.relu_rule_names("DeconvNet", "gradient"),
                        lambda: check.relu_rule_names("gradient", "DeconvNet"), "I(R > 0)"),
    "input_correlation": (lambda: check.input_correlation(_input_correlation),
                          lambda: check.input_correlation(
                              lambda a, x: _input_correlation(a, x, per_image=False)),
                          "one per image"),
    "eval_and_frozen": (lambda: check.eval_and_frozen(_eval_and_frozen),
                        lambda: check.eval_and_frozen(
                            lambda m: _eval_and_frozen(m, restore_each=False)),
                        "own mode"),
}
