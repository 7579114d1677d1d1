"""One source for each notebook's estimated time: ``metadata["course"]["minutes"]``.

    python tests/course_times.py            # list the minutes and every place that disagrees
    python tests/course_times.py --write    # rewrite the time columns to match the metadata

The estimated time of a notebook (self-study: reading, running, the exercises) is set once,
in its notebook metadata. Everything else repeats it and is checked against it by
``tests/test_times.py``:

- the course map in notebook 00 (a markdown table with one row per notebook and a time
  cell such as ``45 min``);
- a header line of the notebook itself (``**Estimated time:** 45 minutes``, ``(about 15
  minutes)``): every duration in the markdown cells before the first code cell, outside
  tables;
- the course table of ``README.md`` and the self-study table of ``notebooks/WORKSHOP.md``.

``--write`` rewrites the ``N min`` cells of the table rows that link a notebook, in README.md,
WORKSHOP.md and notebook 00's course map; header sentences are prose and are left to their
authors.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
WORKSHOP = NOTEBOOKS / "WORKSHOP.md"
INTRODUCTION = NOTEBOOKS / "00_introduction.ipynb"
DURATION = re.compile(r"(\d+)\s*(?:min\b|mins\b|minutes?\b)")
TABLE_TIME = re.compile(r"^\s*(\d+)\s*min\s*$")
NOTEBOOK_LINK = re.compile(r"\]\((?:\.\./)?(?:notebooks/)?(?:student/)?([0-9][0-9]_[^)#/]*\.ipynb)")


def course_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def minutes(path: Path) -> int | None:
    """The estimated time stored in the notebook's metadata (None if missing)."""
    value = nbformat.read(path, as_version=4).metadata.get("course", {}).get("minutes")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def table_times(text: str) -> list[tuple[str, int, str]]:
    """(notebook file, minutes, line) for each table row that links a notebook and has a
    ``N min`` cell."""
    rows = []
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        linked = NOTEBOOK_LINK.findall(line)
        times = [int(m.group(1)) for cell in line.strip().strip("|").split("|")
                 if (m := TABLE_TIME.match(cell))]
        if linked and times:
            rows.append((linked[0], times[0], line))
    return rows


def course_map_text() -> str:
    notebook = nbformat.read(INTRODUCTION, as_version=4)
    return next((cell.source for cell in notebook.cells if cell.cell_type == "markdown"
                 and 'id="course-map"' in cell.source), "")


def header_durations(path: Path) -> list[tuple[int, str]]:
    """(minutes, line) for every duration in the notebook's header: the markdown cells before
    its first code cell, table rows excluded."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            break
        for line in cell.source.splitlines():
            if line.lstrip().startswith("|"):
                continue
            found += [(int(m.group(1)), line.strip()) for m in DURATION.finditer(line)]
    return found


def default_sources() -> dict[str, str]:
    return {"course map of 00": course_map_text(), "README.md": README.read_text("utf-8"),
            "WORKSHOP.md": WORKSHOP.read_text("utf-8") if WORKSHOP.exists() else ""}


def disagreements(notebooks: list[Path] | None = None,
                  sources: dict[str, str] | None = None) -> list[str]:
    """Every place whose time differs from the metadata, as readable lines."""
    notebooks = course_notebooks() if notebooks is None else notebooks
    sources = default_sources() if sources is None else sources
    known = {p.name: minutes(p) for p in notebooks}
    problems = [f"{name}: no metadata['course']['minutes']" for name, value in known.items()
                if value is None]
    for label, text in sources.items():
        rows = table_times(text)
        listed = {name for name, _, _ in rows}
        for name, value, _ in rows:
            if name in known and known[name] is not None and value != known[name]:
                problems.append(f"{label}: {name} {value} min, metadata {known[name]} min")
        for name in known:
            if name not in listed:
                problems.append(f"{label}: no time for {name}")
    for path in notebooks:
        for value, line in header_durations(path):
            if known[path.name] is not None and value != known[path.name]:
                problems.append(f"{path.name} header: {value} min ({line[:60]}…), metadata "
                                f"{known[path.name]} min")
    return problems


def rewrite_table_times(text: str, known: dict[str, int | None]) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        linked = NOTEBOOK_LINK.findall(line) if line.lstrip().startswith("|") else []
        if linked and known.get(linked[0]) is not None:
            line = re.sub(r"(\|\s*)\d+(\s*min\s*\|)", rf"\g<1>{known[linked[0]]}\g<2>", line,
                          count=1)
        out.append(line)
    return "".join(out)


def write() -> None:
    known = {p.name: minutes(p) for p in course_notebooks()}
    for path in (README, WORKSHOP):
        if path.exists():
            path.write_text(rewrite_table_times(path.read_text("utf-8"), known), "utf-8")
    notebook = nbformat.read(INTRODUCTION, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and 'id="course-map"' in cell.source:
            cell.source = rewrite_table_times(cell.source, known)
    nbformat.write(notebook, INTRODUCTION)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true",
                        help="rewrite the time columns of README, WORKSHOP and the course map")
    args = parser.parse_args()
    if args.write:
        write()
    for path in course_notebooks():
        print(f"{path.name:40s} {minutes(path) or '—'} min")
    problems = disagreements()
    for problem in problems:
        print("DISAGREES:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
