"""Exercise checkers, solution tags and the student edition (notebooks/student/).

- every checker of ``course.check`` accepts a correct solution and rejects a typical mistake with
  an explanation that names it;
- the worked solutions of the course notebooks are tagged ``solution``, exercise statements not;
- the committed student edition is exactly what ``make student`` generates from the notebooks;
- its stubs raise ``NotImplementedError`` naming the exercise, and the notebooks run up to
  their first stub (notebook 00 by default, every one with
  ``COURSE_STUDENT_RUN=all``: the cells before the first stub are the course notebook's own,
  which ``make test`` already runs under nbval);
- ``pytest --nbval notebooks`` does not collect the student edition.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

import course_lib
from course_lib import check

sys.path.insert(0, str(Path(__file__).parent))
import make_student_edition as student  # noqa: E402
from checker_cases import ALL_CASES as CHECKERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = student.course_notebooks()
STUDENT_RUN = os.environ.get("COURSE_STUDENT_RUN", "00")
# seconds per notebook to reach its first stub (wall clock: a busy 2-core machine is slow)
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
    for number, stub in zip(expected, stubs):
        assert not stub.get("outputs") and stub.execution_count is None
        if _calls_its_checker(stub):  # prints the checker's ✗ and runs on
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(stub.source, f"{path.name} stub", "exec"), {"course": course_lib})
            assert printed.getvalue().startswith("✗"), printed.getvalue()
            continue
        with pytest.raises(NotImplementedError, match=f"^Exercise {number}: "):
            exec(compile(stub.source, f"{path.name} stub", "exec"), {})


def _calls_its_checker(stub) -> bool:
    return stub.source.rstrip().splitlines()[-1].startswith("course.check.")


def _first_stub(notebook) -> int:
    return next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
                and student.EXERCISE_TAG in cell.metadata.get("tags", []))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_student_notebook_runs_up_to_its_first_stub(path):
    if STUDENT_RUN != "all" and path.name[:2] not in STUDENT_RUN.split(","):
        pytest.skip("set COURSE_STUDENT_RUN=all to run every student notebook")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(student.STUDENT / path.name, as_version=4)
    stop = _first_stub(notebook)
    notebook.cells = notebook.cells[:stop + 1]
    client = NotebookClient(notebook, timeout=int(STUDENT_TIMEOUT), kernel_name="python3",
                            resources={"metadata": {"path": str(student.STUDENT)}})
    os.environ.setdefault("TQDM_DISABLE", "1")
    start = time.perf_counter()
    if _calls_its_checker(notebook.cells[stop]):  # the stub prints ✗ and the notebook runs on
        client.execute()
        printed = "".join(output.get("text", "") for output in notebook.cells[stop].outputs)
        assert "✗" in printed, printed
        assert time.perf_counter() - start < STUDENT_TIMEOUT
        return
    with pytest.raises(CellExecutionError) as caught:
        client.execute()
    seconds = time.perf_counter() - start
    assert caught.value.ename == "NotImplementedError", caught.value
    assert "Exercise" in caught.value.evalue
    failed = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
              and any(o.output_type == "error" for o in cell.get("outputs", []))]
    assert failed == [stop], f"cells {failed} raised; only the stub (cell {stop}) should"
    assert seconds < STUDENT_TIMEOUT, f"{path.name} took {seconds:.0f} s to reach its first stub"


def test_nbval_does_not_collect_the_student_edition():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval",
                           "--nbval-current-env", "notebooks"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    assert collected == {f"notebooks/{p.name}" for p in SOURCES}
