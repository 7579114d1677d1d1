"""One source for times: each notebook's ``metadata["course"]["minutes"]``.

The course map of notebook 00, each notebook's header line, the README course table and the
self-study table of the workshop guide must state the same time (the rules, and a ``--write``
that rewrites the tables from the metadata: ``tests/course_times.py``). The workshop's live
plan is checked for what it promises: consecutive time slots from 0:00 that end by 3:00,
every notebook either taught live or assigned, and only checkers that exist.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import course_times as times  # noqa: E402

COURSE = times.course_notebooks()
SLOT = re.compile(r"^\|\s*(\d+):(\d\d)\s*[–-]\s*(\d+):(\d\d)\s*\|(.*)$")
WORKSHOP_HOURS = 3


def _only(problems: list[str], prefix: str) -> list[str]:
    return [p for p in problems if p.startswith(prefix)]


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_every_notebook_has_its_minutes(path):
    value = times.minutes(path)
    assert value is not None and value > 0, \
        f"{path.name}: set metadata['course'] = {{'minutes': N}}, the notebook's estimated time"


@pytest.mark.parametrize("label", ["course map of 00", "README.md", "WORKSHOP.md"])
def test_tables_agree_with_the_metadata(label):
    problems = _only(times.disagreements(), label)
    assert not problems, "\n".join(problems) + "\n(python tests/course_times.py --write)"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_header_agrees_with_the_metadata(path):
    problems = _only(times.disagreements(notebooks=[path], sources={}), f"{path.name} header")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- the workshop

def workshop_slots() -> list[tuple[int, int, str]]:
    """(start, end) in minutes and the rest of the row, for each row of the live plan."""
    slots = []
    for line in times.WORKSHOP.read_text("utf-8").splitlines():
        if (m := SLOT.match(line.strip())):
            h0, m0, h1, m1, rest = m.groups()
            slots.append((60 * int(h0) + int(m0), 60 * int(h1) + int(m1), rest))
    return slots


def test_the_live_plan_fits_three_hours():
    slots = workshop_slots()
    assert slots, "WORKSHOP.md has no plan table with rows like | 0:00–0:10 | …"
    assert slots[0][0] == 0, "the plan starts at 0:00"
    for (start0, end0, _), (start1, _, row) in zip(slots, slots[1:]):
        assert start1 == end0, f"a gap or an overlap before the slot starting at {row[:40]}"
    assert all(end > start for start, end, _ in slots)
    assert slots[-1][1] <= 60 * WORKSHOP_HOURS, \
        f"the plan ends at {slots[-1][1] // 60}:{slots[-1][1] % 60:02d}"


def test_every_notebook_is_taught_or_assigned():
    text = times.WORKSHOP.read_text("utf-8")
    linked = set(times.NOTEBOOK_LINK.findall(text))
    missing = [p.name for p in COURSE if p.name not in linked]
    assert not missing, f"WORKSHOP.md neither teaches nor assigns {missing}"


def test_the_workshop_names_real_checkers():
    from course_lib import check

    named = set(re.findall(r"course\.check\.(\w+)", times.WORKSHOP.read_text("utf-8")))
    assert named, "the workshop guide names no checker"
    unknown = sorted(named - set(check.__all__) - {"name"})
    assert not unknown, f"WORKSHOP.md names checkers that do not exist: {unknown}"


# ----------------------------------------------------------------------------- planted breaks

def _notebook(tmp_path, name, minutes_value, header) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["course"] = {"minutes": minutes_value}
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {name}\n\n{header}"),
                      nbformat.v4.new_code_cell("x = 1"),
                      nbformat.v4.new_markdown_cell("Training takes about 2 minutes.")]
    path = tmp_path / name
    nbformat.write(notebook, path)
    return path


def test_a_disagreement_is_reported_in_each_place(tmp_path):
    first = _notebook(tmp_path, "01_a.ipynb", 45, "**Estimated time:** 45 minutes.")
    second = _notebook(tmp_path, "02_b.ipynb", 30, "**Time:** about 40 minutes.")
    table = ("| # | notebook | time |\n|---|---|---|\n"
             "| 01 | [a](01_a.ipynb) | 45 min |\n| 02 | [b](notebooks/02_b.ipynb) | 35 min |\n")
    problems = times.disagreements([first, second], {"README.md": table})
    assert problems == ["README.md: 02_b.ipynb 35 min, metadata 30 min",
                        "02_b.ipynb header: 40 min (**Time:** about 40 minutes.…), "
                        "metadata 30 min"]
    missing = times.disagreements([first, second], {"WORKSHOP.md": table.splitlines()[2]})
    assert missing == ["WORKSHOP.md: no time for 02_b.ipynb",
                       "02_b.ipynb header: 40 min (**Time:** about 40 minutes.…), "
                       "metadata 30 min"]
    fixed = times.rewrite_table_times(table, {"01_a.ipynb": 45, "02_b.ipynb": 30})
    assert "| 30 min |" in fixed and "| 45 min |" in fixed and "35 min" not in fixed


def test_missing_minutes_are_reported(tmp_path):
    path = _notebook(tmp_path, "01_a.ipynb", None, "No time here.")
    assert times.disagreements([path], {}) == ["01_a.ipynb: no metadata['course']['minutes']"]
