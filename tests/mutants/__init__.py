"""The mutation catalogue: plausible "wrong map" bugs that the unit tests must catch.

One module per topic (``tests/mutants/smoothgrad.py``, ...), each defining ``MUTANTS``, a
list of :class:`Mutant`. A mutant replaces one exact snippet of one file of ``course_lib``
(the snippet must occur exactly once) and names the test files that should kill it.
"""

from __future__ import annotations

from typing import NamedTuple


class Mutant(NamedTuple):
    """One planted bug: in ``path`` replace ``old`` (exactly one occurrence) by ``new``."""

    path: str          # relative to the repository root, e.g. "course_lib/methods/smoothgrad.py"
    old: str           # the exact source snippet to replace
    new: str           # what to put there instead
    why: str           # the bug in words: "σ not scaled by each image's pixel range"
    tests: tuple[str, ...]  # pytest arguments that must fail, e.g. ("tests/test_smoothgrad.py",)
