"""Every exercise stub of the student edition that calls its checker is rejected by it.

A stub built from a solution's ``student`` metadata (``stub`` + ``check``) defines the names
the exercise asks for — functions that raise ``NotImplementedError``, answers set to ``None``
— and then calls the checker. Run as shipped, the cell must print ``✗`` (and the checker
return ``False``) without raising: a checker that accepts the untouched stub checks nothing.
Each stub cell runs on its own, with only ``course`` imported, so it must not depend on
anything else in the notebook.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import nbformat
import pytest

import course_lib as course

sys.path.insert(0, str(Path(__file__).parent))
import make_student_edition as student  # noqa: E402


def stub_cells() -> list[tuple[str, int, str]]:
    cells = []
    for path in student.course_notebooks():
        notebook = nbformat.read(path, as_version=4)
        for number, indices in student.solution_blocks(notebook.cells):
            meta = student.block_metadata(notebook.cells, indices)
            if meta.get("stub") and meta.get("check"):
                cells.append((path.name, number, meta["stub"] + "\n\n" + meta["check"]))
    return cells


STUBS = stub_cells()


@pytest.mark.parametrize("name, number, source", STUBS,
                         ids=[f"{name[:2]}-exercise-{number}" for name, number, _ in STUBS])
def test_the_untouched_stub_is_rejected(name, number, source):
    out = io.StringIO()
    namespace = {"course": course}
    *body, last = source.rstrip().split("\n")
    with contextlib.redirect_stdout(out):
        exec(compile("\n".join(body), f"{name} stub {number}", "exec"), namespace)
        verdict = eval(compile(last, f"{name} check {number}", "eval"), namespace)
    assert verdict is False, out.getvalue()
    assert out.getvalue().startswith("✗"), out.getvalue()


def test_stubs_of_the_first_notebooks_follow_the_scheme():
    """Every exercise of notebooks 00–03 has a stub that calls its checker."""
    numbered = {(name[:2], number) for name, number, _ in STUBS}
    for prefix, count in (("00", 4), ("01", 4), ("02", 4), ("03", 4)):
        assert {(prefix, n) for n in range(1, count + 1)} <= numbered, prefix
