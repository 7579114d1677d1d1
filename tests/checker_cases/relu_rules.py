"""Checker cases for the exercises of the relu rules notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn

import course_lib as course
from checker_cases.common import gradient as _gradient
from course_lib import check


@contextmanager
def _swapped_relus(model, rule, restore_on_error=True):
    """Notebook 02's swap, with a switch for the classic bug (no `finally`)."""
    from course_lib.methods.relu_rules import RuleReLU
    places = [(parent, name, child) for parent in model.modules()
              for name, child in parent.named_children()
              if isinstance(child, (nn.ReLU, nn.ReLU6))]
    for parent, name, child in places:
        setattr(parent, name, RuleReLU(rule, 6.0 if isinstance(child, nn.ReLU6) else None))
    if restore_on_error:
        try:
            yield model
        finally:
            for parent, name, child in places:
                setattr(parent, name, child)
    else:
        yield model
        for parent, name, child in places:
            setattr(parent, name, child)



def _with_rule(model, x, target, rule):
    with _swapped_relus(model, rule):
        return _gradient(model, x, target)



# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "deconvnet": (lambda: check.deconvnet(lambda m, x, t: course.deconvnet(m, x, t)),
                  lambda: check.deconvnet(lambda m, x, t: course.guided_backprop(m, x, t)),
                  "differs"),
    "guided_backprop": (lambda: check.guided_backprop(
                            lambda m, x, t: _with_rule(m, x, t, "guided")),
                        lambda: check.guided_backprop(
                            lambda m, x, t: _with_rule(m, x, t, "deconvnet")),
                        "equals DeconvNet"),
    "relu_rule_names": (lambda: check.relu_rule_names("DeconvNet", "gradient"),
                        lambda: check.relu_rule_names("gradient", "DeconvNet"), "I(R > 0)"),
    "swap_restores_model": (lambda: check.swap_restores_model(_swapped_relus),
                            lambda: check.swap_restores_model(
                                lambda m, r: _swapped_relus(m, r, restore_on_error=False)),
                            "finally"),
}
