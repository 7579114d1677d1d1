"""Execute the course notebooks: refresh stored outputs, check them, measure them.

    python tests/run_notebooks.py --inplace            # re-execute, save outputs (make notebooks)
    python tests/run_notebooks.py --check              # execute without saving (make run-course)
    python tests/run_notebooks.py --check --measure    # also time + peak memory (make measure)
    python tests/run_notebooks.py --inplace notebooks/01_vanilla_gradient.ipynb

Each notebook runs in its own process with a fresh kernel, so the peak resident
memory of that kernel can be read from the operating system afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def execute_one(path: Path, inplace: bool) -> dict[str, float]:
    """Run one notebook top to bottom in a fresh kernel; return seconds and peak kernel MB."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if inplace:
        nbformat.write(notebook, path)
    # ru_maxrss of waited-for children, in KiB on Linux: the kernel was our only child.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: all in notebooks/)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--inplace", action="store_true", help="save the new outputs")
    mode.add_argument("--check", action="store_true", help="run without saving")
    parser.add_argument("--measure", action="store_true", help="print a time/memory table")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:  # child process: run exactly one notebook, report as JSON
        print(json.dumps(execute_one(args.notebooks[0].resolve(), args.inplace)))
        return 0

    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
    rows, failed = [], []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", str(path),
                               "--inplace" if args.inplace else "--check"],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            failed.append(path.name)
            print(done.stdout[-3000:], done.stderr[-6000:], sep="\n")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((path.name, result["seconds"], result["peak_mb"]))
        print(f"  ok in {result['seconds']:.1f} s, kernel peak {result['peak_mb']:.0f} MB",
              flush=True)
    if args.measure and rows:
        print("\n| notebook | time (s) | peak kernel memory (MB) |\n|---|---:|---:|")
        for name, seconds, peak in rows:
            print(f"| {name} | {seconds:.1f} | {peak:.0f} |")
        print(f"| **total** | {sum(r[1] for r in rows):.1f} | max {max(r[2] for r in rows):.0f} |")
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
