"""Generate the student edition: notebooks/student/NN_*.ipynb without the worked solutions.

    python tests/make_student_edition.py              # all notebooks → notebooks/student/ (make student)
    python tests/make_student_edition.py --out DIR    # somewhere else (the sync test does this)

Every cell tagged ``solution`` in a course notebook is replaced, one exercise at a time:

* the solution's markdown becomes one short note ("your answer here", the checker to call,
  a link to the worked solution in the full notebook);
* its code becomes one stub cell built from the ``student`` field of the first solution code
  cell's metadata, ``{"hint": ..., "stub": ..., "check": ...}``: a comment with the hint, then
  ``stub`` (the names the learner is asked to write, each raising ``NotImplementedError``
  with the hint, or a ``None`` answer to fill in), then ``check`` (the ``course.check``
  call on exactly those names). Run as shipped, the stub cell therefore prints the
  checker's ✗ instead of stopping the notebook; the worked solution ends with the same
  call and prints ✓. (Without ``stub`` the cell is a bare ``raise NotImplementedError``;
  ``tests/exercises.py`` lists the rules a stub and its check must keep.)

All other cells are copied unchanged, *with* their stored outputs, so the student edition also
reads well before it is run; stub and note cells have no outputs. A short banner after the
title says what this edition is. Relative links are rewritten so they still resolve from
``notebooks/student/``: links to another course notebook stay inside the student edition,
anything else gets a ``../`` prefix. The output is a pure function of the input notebooks, so
regenerating gives byte-identical files (the test suite checks that the committed edition is
in sync). The folder is excluded from ``pytest --nbval`` by ``norecursedirs`` in
``pyproject.toml``: its stubs raise by design.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"  # stub and note cells of the student edition carry this tag
# Exercise statements: "### Exercise 2 — …", "**Exercise 2 (…).**", "**2.** …"
EXERCISE = re.compile(r"(?:^|\n)\s*(?:#+\s*Exercise\s+(\d+)|\*\*Exercise\s+(\d+)|\*\*(\d+)\.\*\*)")
# Markdown links and images [text](target "title"), and HTML href/src attributes.
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))|((?:href|src)=\")([^\"]+)(\")")
COURSE_NOTEBOOK = re.compile(r"^[0-9][0-9]_[^/]*\.ipynb$")
GENERIC_HINT = "write your solution here"


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered course notebooks, in order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def exercise_number(source: str) -> int | None:
    match = EXERCISE.search(source)
    return int(next(g for g in match.groups() if g)) if match else None


def solution_blocks(cells: list) -> list[tuple[int | None, list[int]]]:
    """Consecutive runs of solution cells, each with the number of the exercise before it."""
    blocks: list[tuple[int | None, list[int]]] = []
    number = None
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and not is_solution(cell):
            number = exercise_number(cell.source) or number
        if is_solution(cell):
            if blocks and blocks[-1][1][-1] == i - 1:
                blocks[-1][1].append(i)
            else:
                blocks.append((number, [i]))
    return blocks


def rewrite_links(source: str) -> str:
    """Make relative links resolve from notebooks/student/ (see the module docstring)."""
    def fix(target: str) -> str:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return target  # a URL, an in-page anchor or an absolute path
        if COURSE_NOTEBOOK.match(target.split("#", 1)[0]):
            return target  # another course notebook: its student edition sits next to this one
        return "../" + target

    def replace(match: re.Match) -> str:
        if match.group(1) is not None:
            return match.group(1) + fix(match.group(2)) + match.group(3)
        return match.group(4) + fix(match.group(5)) + match.group(6)

    return LINK.sub(replace, source)


def block_metadata(cells: list, indices: list[int]) -> dict:
    """The merged ``student`` metadata of a solution block (hint, check)."""
    merged: dict = {}
    for i in indices:
        merged.update(cells[i].metadata.get("student", {}))
    return merged


def note_cell(number: int | None, notebook_name: str, check: str | None,
              has_code: bool, cell_id: str, has_stub: bool = False) -> nbformat.NotebookNode:
    label = f"Exercise {number}" if number else "This exercise"
    if has_stub:
        lines = [f"**{label} — your answer.** Write your code in the cell below, and your "
                 "observations here. The cell's last line runs the checker: it prints ✗ with "
                 "an explanation until your answer is right, then ✓."]
    else:
        lines = [f"**{label} — your answer.** "
                 + ("Write your code in the cell below (it raises `NotImplementedError` until "
                    "you do), and your observations here." if has_code else
                    "Write your answer here (double-click to edit).")]
    if check and not has_stub:
        lines.append(f"Check your code with `{check}`.")
    lines.append(f"The worked solution is in the [full notebook](../{notebook_name}).")
    cell = nbformat.v4.new_markdown_cell(" ".join(lines))
    cell.id = cell_id
    cell.metadata = {"tags": [EXERCISE_TAG]}
    return cell


def stub_cell(number: int | None, hint: str, check: str | None, stub: str | None,
              cell_id: str) -> nbformat.NotebookNode:
    label = f"Exercise {number}" if number else "Exercise"
    if stub:
        wrapped = textwrap.wrap(f"{label}: {hint}", width=92)
        lines = [f"# {line}" for line in wrapped]
        lines += ["# Replace each `raise NotImplementedError` (or `None`) below with your answer;",
                  "# the last line checks it.", stub.rstrip()]
        if check:
            lines += ["", check]
    else:
        message = f"{label}: {hint}" + (f"; then check it with {check}" if check else "")
        lines = [f"# {label}: your code here (replace the `raise`)."]
        if check:
            lines.append(f"# Check it with: {check}")
        lines.append(f"raise NotImplementedError({message!r})")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.id = cell_id
    cell.metadata = {"tags": [EXERCISE_TAG]}
    return cell


def banner_cell(notebook_name: str, checked_stubs: bool = False) -> nbformat.NotebookNode:
    """The note after the title. ``checked_stubs``: every exercise's stub ends with its check
    (the stubs then print ✗ instead of raising)."""
    if checked_stubs:
        what = ("each names what to write, with a hint, and ends with the `course.check` call "
                "that tells you whether your answer is right: it prints ✗ until it is, and the "
                "notebook runs on. ")
    else:
        what = ("each raises `NotImplementedError` with a hint until you write your code, and "
                "names the `course.check` function that tells you whether your answer is "
                "right. ")
    cell = nbformat.v4.new_markdown_cell(
        "> **Student edition.** The worked solutions of the exercises are replaced by stubs: "
        + what + f"Everything else is the [full notebook](../{notebook_name}), outputs "
        "included. This file is regenerated by `make student`: save your work under a new "
        "name.")
    cell.id = "student-edition"
    cell.metadata = {"tags": [EXERCISE_TAG]}
    return cell


def student_notebook(notebook: nbformat.NotebookNode,
                     notebook_name: str) -> nbformat.NotebookNode:
    """The student edition of one notebook (a new object; the input is not changed)."""
    cells = notebook.cells
    replacements: dict[int, list] = {}
    blocks = solution_blocks(cells)
    checked_stubs = bool(blocks) and all(
        block_metadata(cells, indices).get("stub") and block_metadata(cells, indices).get("check")
        for _, indices in blocks)
    for number, indices in blocks:
        meta = block_metadata(cells, indices)
        check = meta.get("check")
        has_code = any(cells[i].cell_type == "code" for i in indices)
        has_stub = has_code and bool(meta.get("stub")) and bool(check)
        first = cells[indices[0]]
        new = []
        if any(cells[i].cell_type == "markdown" for i in indices) or not has_code:
            new.append(note_cell(number, notebook_name, check, has_code, f"{first.id}-note",
                                 has_stub))
        if has_code:
            first_code = next(cells[i] for i in indices if cells[i].cell_type == "code")
            new.append(stub_cell(number, meta.get("hint", GENERIC_HINT), check,
                                  meta.get("stub"), first_code.id))
        replacements[indices[0]] = new
        for i in indices[1:]:
            replacements[i] = []
    out_cells = []
    for i, cell in enumerate(cells):
        if i in replacements:
            out_cells.extend(replacements[i])
            continue
        cell = nbformat.from_dict(cell)  # a deep copy
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source)
        out_cells.append(cell)
        if i == 0:
            out_cells.append(banner_cell(notebook_name, checked_stubs))
    result = nbformat.from_dict({**notebook, "cells": out_cells})
    nbformat.validate(result)
    return result


def generate(out: Path = STUDENT, sources: list[Path] | None = None) -> list[Path]:
    """Write the student edition of every course notebook into ``out``; return the paths."""
    sources = course_notebooks() if sources is None else sources
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        notebook = nbformat.read(path, as_version=4)
        target = out / path.name
        text = nbformat.writes(student_notebook(notebook, path.name)) + "\n"
        target.write_text(text, encoding="utf-8")
        written.append(target)
    for stale in set(out.glob("[0-9][0-9]_*.ipynb")) - set(written):
        stale.unlink()  # a course notebook that was renamed or removed
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=STUDENT, help="output folder")
    args = parser.parse_args()
    for path in generate(args.out):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
