r"""Checkers for the exercises: is my answer right, and if not, what is wrong with it?

Each checker runs your function (or takes your number) and the course's reference on a few
small, fast cases — a tiny random network on small images, never the big model — prints ``✓``
or a ``✗`` with an explanation (shape, sign, scale, largest error and where), and returns
``True`` or ``False``::

    course.check.vanilla_gradient(my_gradient)      # my_gradient(model, inputs, target)

The checkers never touch your model or your random-number state (they build their own tiny
models inside :func:`torch.random.fork_rng`). If your function raises, the checker reports the
exception instead of crashing.

The checkers of one notebook live in one module of :mod:`course_lib.teaching.checkers`
(``introduction``, ``vanilla_gradient``, ``relu_rules``, ``grad_cam``, ``smoothgrad``,
``integrated_gradients``, ``relevance``, ``occlusion``, ``perturbation``, ``evaluation``, …);
this module gathers every public function defined there under one name, ``course.check``.
Each exercise names its checker in its hint.
"""

import importlib
import inspect
import pkgutil

from course_lib.teaching import checkers as _package
from course_lib.teaching.checkers.common import Mismatch, compare  # noqa: F401 (helpers)


def _gather() -> list[str]:
    """Import every checker module and bring its public functions into this namespace."""
    names = []
    for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda i: i.name):
        if info.name == "common" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_package.__name__}.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_"):
                if name in globals() and globals()[name] is not function:
                    raise ImportError(f"two checker modules define {name!r}")
                globals()[name] = function
                names.append(name)
    return sorted(names)


__all__ = _gather()  # the checkers; Mismatch and compare are helpers
