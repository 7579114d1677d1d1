"""Checker cases for the exercises of the introduction notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

from course_lib import check

# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "attribution_size": (lambda: check.attribution_size(602_112, 200_704),
                         lambda: check.attribution_size(602_112, 602_112),
                         "one number per pixel"),
}
