"""Exercise checkers, solution tags and the student edition (notebooks/student/).

- every checker of ``course.check`` accepts a correct solution and rejects a typical mistake with
  an explanation that names it;
- the worked solutions of the course notebooks are tagged ``solution``, exercise statements not;
- the committed student edition is exactly what ``make student`` generates from the notebooks;
- each stub cell is the hint, the stub and the check call of its exercise;
- run as shipped, every stub cell prints the checker's ✗ and raises nothing: by default the
  setup cell(s) and every stub cell of each student notebook run in one fresh kernel (fast);
  with ``COURSE_STUDENT_RUN=all`` (CI sets it) each student notebook runs top to bottom, so a
  later cell that needs a name only the worked solution defined fails too. The time limit per
  notebook (``COURSE_STUDENT_TIMEOUT``, 600 s) is nbclient's own timeout, not an assert;
- ``pytest --nbval notebooks`` does not collect the student edition.

The rules for the exercise metadata itself (hint, stub, check) are in ``tests/exercises.py``
and ``tests/test_exercises.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from course_lib import check

sys.path.insert(0, str(Path(__file__).parent))
import exercises  # noqa: E402
import make_student_edition as student  # noqa: E402
from checker_cases import ALL_CASES as CHECKERS  # noqa: E402
from test_exercises import synthetic_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = student.course_notebooks()
# "all": every student notebook top to bottom; anything else: setup + stub cells only
STUDENT_RUN = os.environ.get("COURSE_STUDENT_RUN", "stubs")
# seconds per student notebook, enforced by nbclient (wall clock: a busy machine is slow)
STUDENT_TIMEOUT = float(os.environ.get("COURSE_STUDENT_TIMEOUT", "600"))


# ----------------------------------------------------------------------------- the checkers

def _run(call) -> tuple[bool, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        verdict = call()
    return verdict, out.getvalue()


def test_every_checker_is_tested():
    assert set(CHECKERS) == set(check.__all__)


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_checker_accepts_the_solution(name):
    verdict, printed = _run(CHECKERS[name][0])
    assert verdict is True, printed
    assert printed.startswith("✓"), printed


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_checker_rejects_a_mistake_and_says_why(name):
    _, wrong, explanation = CHECKERS[name]
    verdict, printed = _run(wrong)
    assert verdict is False, printed
    assert printed.startswith("✗") and explanation in printed, printed


def test_checker_reports_a_stub_instead_of_crashing():
    def stub(model, inputs, target):
        raise NotImplementedError("Exercise 1: not yet")

    verdict, printed = _run(lambda: check.vanilla_gradient(stub))
    assert verdict is False and "not written yet" in printed, printed


def test_checker_explains_shape_sign_and_scale():
    expected = torch.arange(1.0, 25.0).view(2, 3, 2, 2)
    messages = {}
    for label, got in (("shape", expected.sum(dim=1)), ("sign", -expected),
                       ("scale", 2.5 * expected)):
        with pytest.raises(check.Mismatch) as caught:
            check.compare(got, expected)
        messages[label] = str(caught.value)
    assert "colour channels" in messages["shape"]
    assert "wrong sign" in messages["sign"]
    assert "2.5 ×" in messages["scale"]


def test_checkers_leave_the_random_state_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    _run(CHECKERS["smoothgrad"][0])
    assert torch.equal(state, torch.get_rng_state())


# ----------------------------------------------------------------------------- the tags

def _solution_blocks(path):
    notebook = nbformat.read(path, as_version=4)
    return notebook, student.solution_blocks(notebook.cells)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_solutions_are_tagged(path):
    notebook, blocks = _solution_blocks(path)
    cells = notebook.cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("**Solution"):
            assert student.is_solution(cell), f"cell {i} is a worked solution but not tagged"
        if student.is_solution(cell) and cell.cell_type == "markdown":
            assert student.exercise_number(cell.source) is None, \
                f"cell {i} states an exercise but is tagged solution"
    statements = sorted({n for i, cell in enumerate(cells) if cell.cell_type == "markdown"
                         and not student.is_solution(cell)
                         and (n := student.exercise_number(cell.source))})
    assert [number for number, _ in blocks] == statements, \
        "each exercise needs exactly one tagged worked solution right after it"
    for number, indices in blocks:
        assert cells[indices[0]].source.lstrip().startswith("**Solution"), \
            f"exercise {number}: a solution starts with a '**Solution.**' cell"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_hints_name_real_checkers(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        hint = cell.metadata.get("student", {})
        for name in re.findall(r"course\.check\.(\w+)\(", hint.get("check", "")):
            assert name in check.__all__, f"{path.name}: no checker course.check.{name}"


# ----------------------------------------------------------------------------- the edition

def test_student_edition_is_in_sync(tmp_path):
    generated = student.generate(tmp_path)
    committed = sorted(student.STUDENT.glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in generated] == [p.name for p in committed], \
        "notebooks/student/ is out of date: run `make student`"
    stale = [p.name for p in generated
             if p.read_bytes() != (student.STUDENT / p.name).read_bytes()]
    assert not stale, f"out of date: {stale}; run `make student`"


def test_generation_is_deterministic(tmp_path):
    first = [p.read_bytes() for p in student.generate(tmp_path / "a", SOURCES[:2])]
    second = [p.read_bytes() for p in student.generate(tmp_path / "b", SOURCES[:2])]
    assert first == second


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_student_notebook_hides_solutions_and_keeps_the_rest(path):
    source = nbformat.read(path, as_version=4)
    edition = nbformat.read(student.STUDENT / path.name, as_version=4)
    nbformat.validate(edition)
    assert not any(student.is_solution(cell) for cell in edition.cells)
    assert not any(cell.source.lstrip().startswith("**Solution") for cell in edition.cells)
    kept = [cell for cell in source.cells if not student.is_solution(cell)]
    copied = [cell for cell in edition.cells
              if student.EXERCISE_TAG not in cell.metadata.get("tags", [])]
    assert len(kept) == len(copied)
    for original, copy in zip(kept, copied):
        if original.cell_type == "code":  # code and outputs unchanged; markdown: links only
            assert (copy.source, copy.outputs) == (original.source, original.outputs)
    stubs = [cell for cell in edition.cells if cell.cell_type == "code"
             and student.EXERCISE_TAG in cell.metadata.get("tags", [])]
    expected = [number for number, indices in student.solution_blocks(source.cells)
                if any(source.cells[i].cell_type == "code" for i in indices)]
    assert len(stubs) == len(expected)
    blocks = [(number, indices) for number, indices in student.solution_blocks(source.cells)
              if any(source.cells[i].cell_type == "code" for i in indices)]
    for (number, indices), stub in zip(blocks, stubs):
        assert not stub.get("outputs") and stub.execution_count is None
        meta = student.block_metadata(source.cells, indices)
        if meta.get("stub") and meta.get("check"):  # hint comment, stub, check call
            assert stub.source.startswith(f"# Exercise {number}: ")
            assert meta["stub"].rstrip() in stub.source
            assert stub.source.rstrip().endswith(meta["check"])
        else:  # not migrated yet: a bare raise
            with pytest.raises(NotImplementedError, match=f"^Exercise {number}: "):
                exec(compile(stub.source, f"{path.name} stub", "exec"), {})


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_student_notebook_stubs_print_a_cross(path):
    """Run as shipped, every stub prints ✗ and nothing raises (see the module docstring)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    problems = exercises.run_student_edition(student.STUDENT / path.name,
                                             whole=STUDENT_RUN == "all",
                                             timeout_s=STUDENT_TIMEOUT)
    assert not problems, f"student/{path.name}:\n  " + "\n  ".join(problems)


def _synthetic_edition(tmp_path, **changes) -> Path:
    folder = tmp_path / "student"
    folder.mkdir()
    path = folder / "50_synthetic.ipynb"
    edition = student.student_notebook(synthetic_notebook(**changes), path.name)
    path.write_text(nbformat.writes(edition) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("whole", [False, True], ids=["stubs", "all"])
def test_a_synthetic_student_notebook_prints_crosses(tmp_path, whole):
    assert exercises.run_student_edition(_synthetic_edition(tmp_path), whole, 300) == []


def test_a_stub_that_already_passes_is_caught(tmp_path):
    """Plant a stub whose checker is satisfied before any work is done."""
    path = _synthetic_edition(tmp_path, stub="def my_gradient(model, inputs, target):\n"
                                            "    return course.vanilla_gradient(model, inputs, "
                                            "target)\n")
    (problem,) = exercises.run_student_edition(path, whole=False, timeout_s=300)
    assert "instead of ✗" in problem and "✓" in problem


def test_a_stub_that_raises_is_caught(tmp_path):
    """A stub without ``student.stub`` is a bare raise: it stops the notebook."""
    path = _synthetic_edition(tmp_path, stub="")
    (problem,) = exercises.run_student_edition(path, whole=True, timeout_s=300)
    assert "raised NotImplementedError" in problem


def test_the_time_limit_is_the_tools_own(tmp_path):
    """A notebook that runs too long is stopped by nbclient, not measured afterwards."""
    from nbclient.exceptions import CellTimeoutError

    path = _synthetic_edition(tmp_path, body="import time\ntime.sleep(30)")
    with pytest.raises(CellTimeoutError):
        exercises.run_student_edition(path, whole=True, timeout_s=3)


def test_nbval_does_not_collect_the_student_edition():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval",
                           "--nbval-current-env", "notebooks"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    assert collected == {f"notebooks/{p.name}" for p in SOURCES}
