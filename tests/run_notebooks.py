"""Execute the course notebooks: refresh stored outputs, check them, measure them.

    python tests/run_notebooks.py --inplace            # re-execute, save outputs (make notebooks)
    python tests/run_notebooks.py --check              # execute without saving (make run-course)
    python tests/run_notebooks.py --check --measure    # also time + peak memory (make measure)
    python tests/run_notebooks.py --inplace notebooks/01_vanilla_gradient.ipynb
    python tests/run_notebooks.py --calibrate          # print this machine's calibration time

Each notebook runs in its own process with a fresh kernel, one notebook at a time, so the
peak resident memory of that kernel (``ru_maxrss`` of the child processes) can be read from
the operating system afterwards. nbclient records every cell's timestamps in its metadata
(``execution``: ``iopub.execute_input`` … ``shell.execute_reply``); the tests read them.

**Quiet machine.** Stored outputs and timings must come from an idle machine: a number a
learner reads must not depend on what else was running. With ``--inplace`` or ``--measure``,
before each notebook the command

1. waits up to ``--settle`` seconds for the 1-minute load average to fall to
   ``--max-load`` per CPU core (the previous notebook raises it for a while), and
2. times a fixed calibration (a NumPy matrix product, best of 3) and compares it with the
   fastest calibration of this run and, if given, with ``--reference-ms`` (a value printed
   by ``--calibrate`` on the same machine when it was idle): more than ``--max-slowdown``
   times slower means something else is competing for the cores.

If either check fails it does not run the notebook. After a run it also refuses to save a
notebook whose cells took longer than the time budget (90 s, ``TIME_BUDGET_S``), since the
test suite would reject those outputs. ``--force`` saves anyway and says which check it
overrode. The exit status is non-zero when a notebook failed or was skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TIME_BUDGET_S = 90.0  # the cells of one notebook, on two idle cores


# ----------------------------------------------------------------------------- stored timings

def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stored_timings(notebook) -> list[tuple[int, datetime | None, datetime | None]]:
    """(cell index, execute_input, execute_reply) for every code cell; None where missing."""
    rows = []
    for k, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        execution = cell.get("metadata", {}).get("execution", {})
        start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
        rows.append((k, _timestamp(start) if start else None, _timestamp(end) if end else None))
    return rows


def cell_seconds(notebook) -> float:
    """The summed run time of the code cells, from their stored timestamps."""
    return sum((end - start).total_seconds() for _, start, end in stored_timings(notebook)
               if start and end)


# ----------------------------------------------------------------------------- quiet machine

def calibration_seconds(size: int = 384, repeats: int = 20) -> float:
    """Best of 3 timings of a fixed matrix-product workload (about 0.1 s on two idle cores)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        b = a
        for _ in range(repeats):
            b = np.tanh(a @ b)  # tanh keeps the values bounded
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class QuietMachine:
    """Decides whether the machine is quiet enough to produce outputs that will be committed.

    Every dependency is a parameter, so the decision can be tested with a fake load, a fake
    calibration and a fake clock.
    """

    max_load: float = 0.5          # 1-minute load average per core
    settle_s: float = 120.0        # how long to wait for the load to fall
    max_slowdown: float = 1.5      # calibration / fastest calibration (or the reference)
    reference_s: float | None = None
    load: Callable[[], float] = field(default=lambda: os.getloadavg()[0])
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    calibrate: Callable[[], float] = calibration_seconds
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    poll_s: float = 5.0
    fastest: float | None = None

    def busy(self) -> str | None:
        """None when the machine is quiet, else why it is not."""
        deadline = self.clock() + self.settle_s
        while True:
            load = self.load()
            if load / self.cores <= self.max_load:
                break
            if self.clock() >= deadline:
                return (f"load average {load:.2f} on {self.cores} cores "
                        f"({load / self.cores:.2f} per core > {self.max_load}) after waiting "
                        f"{self.settle_s:.0f} s")
            self.sleep(self.poll_s)
        seconds = self.calibrate()
        self.fastest = seconds if self.fastest is None else min(self.fastest, seconds)
        for label, reference in (("the reference", self.reference_s),
                                 ("the fastest of this run", self.fastest)):
            if reference and seconds > self.max_slowdown * reference:
                return (f"calibration took {1000 * seconds:.0f} ms, {seconds / reference:.1f}× "
                        f"{label} ({1000 * reference:.0f} ms; limit {self.max_slowdown}×)")
        return None


# ----------------------------------------------------------------------------- running

def execute_one(path: Path, save_to: Path | None = None, timeout: int = 600) -> dict:
    """Run one notebook top to bottom in a fresh kernel; return seconds, peak MB, cell time.

    With ``save_to`` the executed notebook is written there; the parent decides whether it
    replaces the committed one.
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            record_timing=True,  # cell metadata "execution": the timestamps
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save_to is not None:
        nbformat.write(notebook, save_to)
    # ru_maxrss of waited-for children, in KiB on Linux: the kernel was our only child.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, "cell_seconds": cell_seconds(notebook)}


def run_in_child(path: Path, save_to: Path | None) -> tuple[dict | None, str]:
    """Execute one notebook in a child process; (result or None, what it printed)."""
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
    command = [sys.executable, __file__, "--one", str(path), "--check"]
    if save_to is not None:
        command += ["--save-to", str(save_to)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return None, done.stdout[-3000:] + "\n" + done.stderr[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def refresh(paths: Iterable[Path], inplace: bool, guard: QuietMachine | None, force: bool,
            run: Callable[[Path, Path | None], tuple[dict | None, str]] = run_in_child,
            say: Callable[[str], None] = lambda line: print(line, flush=True)) -> dict:
    """Run ``paths`` one at a time; with ``guard``, only on a quiet machine. Returns a summary:
    ``{"rows": [(name, seconds, peak_mb)], "failed": [...], "skipped": [...], "forced": [...]}``.

    With ``inplace`` each notebook is executed into a temporary file, which replaces the
    notebook only when it passed every check (or ``force``).
    """
    summary: dict[str, list] = {"rows": [], "failed": [], "skipped": [], "forced": []}
    scratch = Path(tempfile.mkdtemp(prefix="course-notebooks-"))
    try:
        for path in paths:
            _refresh_one(path, inplace, guard, force, run, say, summary, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return summary


def _refresh_one(path: Path, inplace: bool, guard: QuietMachine | None, force: bool,
                 run: Callable, say: Callable[[str], None], summary: dict,
                 scratch: Path) -> None:
    """Run one notebook for :func:`refresh` and record the outcome in ``summary``."""
    if guard is not None:
        reason = guard.busy()
        if reason and not force:
            say(f"skipping {path.name}: the machine is busy ({reason})")
            summary["skipped"].append((path.name, reason))
            return
        if reason:
            say(f"--force: running {path.name} although the machine is busy ({reason})")
            summary["forced"].append((path.name, reason))
    say(f"running {path.name} ...")
    save_to = scratch / path.name if inplace else None
    result, log = run(path, save_to)
    if result is None:
        summary["failed"].append(path.name)
        say(log)
        return
    summary["rows"].append((path.name, result["seconds"], result["peak_mb"]))
    say(f"  ok in {result['seconds']:.1f} s (cells {result['cell_seconds']:.1f} s), "
        f"kernel peak {result['peak_mb']:.0f} MB")
    if not inplace:
        return
    over = result["cell_seconds"] > TIME_BUDGET_S
    if over and not force:
        reason = (f"its cells took {result['cell_seconds']:.1f} s, over the budget of "
                  f"{TIME_BUDGET_S:.0f} s")
        say(f"  not saved: {reason}")
        summary["skipped"].append((path.name, reason))
        return
    if over:
        say(f"  --force: saved although its cells took {result['cell_seconds']:.1f} s")
        summary["forced"].append((path.name, "over the time budget"))
    if save_to is not None and save_to.exists():
        shutil.copyfile(save_to, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: all in notebooks/)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--inplace", action="store_true", help="save the new outputs")
    mode.add_argument("--check", action="store_true", help="run without saving")
    mode.add_argument("--calibrate", action="store_true",
                      help="print the calibration time of this machine and exit")
    parser.add_argument("--measure", action="store_true", help="print a time/memory table")
    parser.add_argument("--force", action="store_true",
                        help="run and save even on a busy machine or over the time budget "
                             "(says which check it overrode)")
    parser.add_argument("--max-load", type=float, default=0.5,
                        help="highest 1-minute load average per CPU core (default 0.5)")
    parser.add_argument("--settle", type=float, default=120.0,
                        help="seconds to wait for the load to fall (default 120)")
    parser.add_argument("--max-slowdown", type=float, default=1.5,
                        help="highest calibration time relative to the fastest (default 1.5)")
    parser.add_argument("--reference-ms", type=float, default=None,
                        help="this machine's calibration time when idle (from --calibrate)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--save-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:  # child process: run exactly one notebook, report as JSON
        print(json.dumps(execute_one(args.notebooks[0].resolve(), args.save_to)))
        return 0
    if args.calibrate:
        print(f"calibration: {1000 * calibration_seconds():.0f} ms "
              f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
        return 0

    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    guard = None
    if args.inplace or args.measure:
        guard = QuietMachine(max_load=args.max_load, settle_s=args.settle,
                             max_slowdown=args.max_slowdown,
                             reference_s=args.reference_ms / 1000 if args.reference_ms else None)
    summary = refresh(paths, args.inplace, guard, args.force)
    rows = summary["rows"]
    if args.measure and rows:
        print("\n| notebook | time (s) | peak kernel memory (MB) |\n|---|---:|---:|")
        for name, seconds, peak in rows:
            print(f"| {name} | {seconds:.1f} | {peak:.0f} |")
        print(f"| **total** | {sum(r[1] for r in rows):.1f} | max {max(r[2] for r in rows):.0f} |")
    for name, reason in summary["forced"]:
        print(f"FORCED {name}: {reason}")
    for name, reason in summary["skipped"]:
        print(f"SKIPPED {name}: {reason} (rerun on an idle machine, or --force)")
    if summary["failed"]:
        print("FAILED:", ", ".join(summary["failed"]))
    return 1 if summary["failed"] or summary["skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
