"""Checker cases for the exercises of the vanilla gradient notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

from checker_cases.common import gradient as _gradient
from course_lib import check

# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "vanilla_gradient": (lambda: check.vanilla_gradient(_gradient),
                         lambda: check.vanilla_gradient(lambda m, x, t: _gradient(m, x, t).abs()),
                         "differs"),
    "gradient_x_input": (lambda: check.gradient_x_input(lambda m, x, t: x * _gradient(m, x, t)),
                         lambda: check.gradient_x_input(_gradient), "differs"),
    "runner_up_gradient": (
        lambda: check.runner_up_gradient(
            lambda m, x: _gradient(m, x, m(x).topk(2, dim=1).indices[:, 1])),
        lambda: check.runner_up_gradient(lambda m, x: _gradient(m, x, m(x).argmax(dim=1))),
        "most* likely class"),
    "probability_gradient": (
        lambda: check.probability_gradient(
            lambda m, x, t: _gradient(m, x, t, score=lambda z: z.softmax(dim=1))),
        lambda: check.probability_gradient(_gradient), "softmax"),
}
