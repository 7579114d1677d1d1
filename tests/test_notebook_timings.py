"""Stored outputs come from one uninterrupted run per notebook on a quiet machine.

- Every committed course notebook carries nbclient's cell timestamps (cell metadata
  ``execution``: ``iopub.execute_input`` → ``shell.execute_reply``), as ``make notebooks``
  (``tests/run_notebooks.py --inplace``) writes them. Their sum stays within the time budget
  of ``TIME_BUDGET_S`` (90 s on two idle cores): more means the outputs came from a busy
  machine or the notebook is too slow for a workshop laptop.
- The timestamps show one run from top to bottom: each cell started after the previous one
  replied, with no pause longer than ``MAX_PAUSE_S`` between them, and execution counts
  1, 2, 3, … in cell order. A cell re-run by hand afterwards, or a notebook pieced together
  from several runs, fails.
- ``run_notebooks.py`` refuses to run (and so to save) a notebook on a busy machine: a high
  load average that does not settle, or a calibration much slower than the fastest of the
  run or than the reference. ``--force`` overrides and says what it overrode. These rules are
  tested with a fake load, calibration and clock — never by loading the machine.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import run_notebooks as runner  # noqa: E402

COURSE = sorted(runner.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MAX_PAUSE_S = 30.0    # between one cell's reply and the next cell's start, in one run
CLOCK_SKEW_S = 0.05   # the kernel stamps input and reply on different channels


def timing_problems(notebook) -> list[str]:
    """What is wrong with a notebook's stored timings (empty list: one quiet run)."""
    problems = []
    rows = runner.stored_timings(notebook)
    counts = []
    for k, start, end in rows:
        cell = notebook.cells[k]
        if cell.get("execution_count") is None and not cell.get("outputs"):
            continue  # never executed (an empty cell)
        counts.append(cell.get("execution_count"))
        if start is None or end is None:
            problems.append(f"cell {k} has no stored timing (run it with `make notebooks`)")
    if counts != list(range(1, len(counts) + 1)):
        problems.append(f"execution counts {counts} are not 1, 2, 3, … in cell order")
    timed = [(k, s, e) for k, s, e in rows if s is not None and e is not None]
    total = sum((e - s).total_seconds() for _, s, e in timed)
    if total > runner.TIME_BUDGET_S:
        slowest = sorted(timed, key=lambda r: r[1] - r[2])[:3]
        problems.append(f"cells took {total:.0f} s in all, over the budget of "
                        f"{runner.TIME_BUDGET_S:.0f} s (slowest: "
                        + ", ".join(f"cell {k} {(e - s).total_seconds():.0f} s"
                                    for k, s, e in slowest) + ")")
    for (k0, _, end0), (k1, start1, _) in zip(timed, timed[1:]):
        gap = (start1 - end0).total_seconds()
        if gap < -CLOCK_SKEW_S:
            problems.append(f"cell {k1} started before cell {k0} finished: run out of order")
        elif gap > MAX_PAUSE_S:
            problems.append(f"{gap:.0f} s pause before cell {k1}: not one uninterrupted run")
    return problems


# ----------------------------------------------------------------------------- the guard

@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_stored_outputs_come_from_one_quiet_run(path):
    problems = timing_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}: " + "; ".join(problems) + \
        " — refresh it alone on an idle machine: python tests/run_notebooks.py --inplace " \
        f"notebooks/{path.name}"


# ----------------------------------------------------------------------------- planted breaks

def _timed_notebook(durations, gaps=None, counts=None) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    clock = datetime(2026, 1, 1, tzinfo=timezone.utc)
    gaps = gaps or [0.01] * len(durations)
    for i, (seconds, gap) in enumerate(zip(durations, gaps)):
        cell = nbformat.v4.new_code_cell(f"x = {i}")
        cell.execution_count = (counts or list(range(1, len(durations) + 1)))[i]
        start = clock + timedelta(seconds=gap)
        end = start + timedelta(seconds=seconds)
        cell.metadata["execution"] = {
            "iopub.execute_input": start.isoformat().replace("+00:00", "Z"),
            "shell.execute_reply": end.isoformat().replace("+00:00", "Z")}
        clock = end
        notebook.cells.append(cell)
    return notebook


def test_a_quiet_run_passes():
    assert timing_problems(_timed_notebook([2.0, 30.0, 10.0])) == []


def test_over_the_budget_fails():
    (problem,) = timing_problems(_timed_notebook([2.0, 80.0, 10.0]))
    assert "92 s" in problem and "budget" in problem


def test_a_cell_rerun_later_fails():
    notebook = _timed_notebook([1.0, 1.0, 1.0])
    rerun = notebook.cells[1].metadata["execution"]  # cell 1 run again an hour later
    for key in rerun:
        rerun[key] = (runner._timestamp(rerun[key]) + timedelta(hours=1)).isoformat()
    notebook.cells[1].execution_count = 4
    problems = timing_problems(notebook)
    assert any("out of order" in p for p in problems)
    assert any("execution counts" in p for p in problems)


def test_a_long_pause_fails():
    problems = timing_problems(_timed_notebook([1.0, 1.0], gaps=[0.01, 600.0]))
    assert any("pause" in p for p in problems)


def test_missing_timings_fail():
    notebook = _timed_notebook([1.0, 1.0])
    del notebook.cells[1].metadata["execution"]
    assert any("no stored timing" in p for p in timing_problems(notebook))


def test_nbclient_records_the_timestamps(tmp_path):
    """execute_one keeps nbclient's record_timing on: the metadata the guard reads exists."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(x)")]
    path, saved = tmp_path / "50_tiny.ipynb", tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    result = runner.execute_one(path, save_to=saved, timeout=120)
    executed = nbformat.read(saved, as_version=4)
    assert timing_problems(executed) == []
    assert result["cell_seconds"] == pytest.approx(runner.cell_seconds(executed))


# ----------------------------------------------------------------------------- busy machine

class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _machine(loads, calibrations, **kwargs) -> runner.QuietMachine:
    clock = FakeClock()
    loads, calibrations = iter(loads), iter(calibrations)
    return runner.QuietMachine(load=lambda: next(loads), calibrate=lambda: next(calibrations),
                               cores=2, sleep=clock.sleep, clock=clock, poll_s=5.0,
                               settle_s=60.0, **kwargs)


def test_an_idle_machine_is_quiet():
    machine = _machine([0.2], [0.100])
    assert machine.busy() is None


def test_the_load_of_the_previous_notebook_is_waited_out():
    # 1.8 on 2 cores after a notebook, decaying: quiet once it reaches 0.5 per core
    machine = _machine([1.8, 1.5, 1.2, 0.9], [0.100])
    assert machine.busy() is None
    assert machine.clock() == 15.0  # waited three polls


def test_a_load_that_does_not_settle_is_busy():
    machine = _machine([3.5] * 100, [0.100])
    reason = machine.busy()
    assert reason and "load average 3.50 on 2 cores" in reason and "1.75 per core" in reason


def test_a_slow_calibration_is_busy():
    machine = _machine([0.1] * 3, [0.100, 0.105, 0.300])
    assert machine.busy() is None and machine.busy() is None
    reason = machine.busy()
    assert reason and "3.0×" in reason and "fastest of this run" in reason


def test_a_calibration_slower_than_the_reference_is_busy():
    machine = _machine([0.1], [0.250], reference_s=0.100)
    reason = machine.busy()
    assert reason and "2.5× the reference" in reason


def _fake_run(cell_seconds):
    calls = []

    def run(path, save_to):
        calls.append(path.name)
        if save_to is not None:
            save_to.write_text("executed")
        return {"seconds": cell_seconds + 3, "peak_mb": 1200.0,
                "cell_seconds": cell_seconds}, ""
    return run, calls


def test_refresh_refuses_to_save_on_a_busy_machine(tmp_path):
    path = tmp_path / "01_x.ipynb"
    path.write_text("committed")
    run, calls = _fake_run(20.0)
    lines = []
    summary = runner.refresh([path], inplace=True, guard=_machine([3.5] * 100, [0.1]),
                             force=False, run=run, say=lines.append)
    assert calls == [] and path.read_text() == "committed"
    assert summary["skipped"] and "busy" in lines[0]


def test_refresh_with_force_saves_and_says_what_it_skipped(tmp_path):
    path = tmp_path / "01_x.ipynb"
    path.write_text("committed")
    run, calls = _fake_run(20.0)
    lines = []
    summary = runner.refresh([path], inplace=True, guard=_machine([3.5] * 100, [0.1]),
                             force=True, run=run, say=lines.append)
    assert calls == ["01_x.ipynb"] and path.read_text() == "executed"
    assert summary["forced"] and any(line.startswith("--force") and "load average" in line
                                     for line in lines)


def test_refresh_does_not_save_a_run_over_the_budget(tmp_path):
    path = tmp_path / "01_x.ipynb"
    path.write_text("committed")
    run, _ = _fake_run(runner.TIME_BUDGET_S + 1)
    summary = runner.refresh([path], inplace=True, guard=_machine([0.1], [0.1]),
                             force=False, run=run, say=lambda line: None)
    assert path.read_text() == "committed" and "budget" in summary["skipped"][0][1]


def test_refresh_saves_a_quiet_run(tmp_path):
    paths = [tmp_path / "01_x.ipynb", tmp_path / "02_y.ipynb"]
    for path in paths:
        path.write_text("committed")
    run, calls = _fake_run(20.0)
    summary = runner.refresh(paths, inplace=True, guard=_machine([0.1] * 2, [0.1, 0.1]),
                             force=False, run=run, say=lambda line: None)
    assert calls == ["01_x.ipynb", "02_y.ipynb"]
    assert [p.read_text() for p in paths] == ["executed"] * 2
    assert not summary["skipped"] and not summary["failed"]
