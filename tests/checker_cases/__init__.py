"""Checker cases, one module per notebook: each defines ``CASES``, name → (call with the
right answer, call with a typical mistake, words the explanation must contain).
``ALL_CASES`` merges them; every ``course.check`` checker must have exactly one case."""

from __future__ import annotations

import importlib
import pkgutil

ALL_CASES: dict = {}
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "common":
        _cases = importlib.import_module(f"{__name__}.{_module.name}").CASES
        _twice = set(_cases) & set(ALL_CASES)
        assert not _twice, f"checker cases defined twice: {sorted(_twice)}"
        ALL_CASES.update(_cases)
