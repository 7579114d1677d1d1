"""Is every exercise honestly checked? The rules, shared by the tests and usable as a report.

    python tests/exercises.py                  # every course notebook
    python tests/exercises.py notebooks/03_*   # some

An exercise is a markdown statement (``### Exercise N — …`` or ``**Exercise N (…).**``)
followed by its worked solution: consecutive cells tagged ``solution``, the first a markdown
cell starting ``**Solution.**``. :func:`exercise_problems` checks, for every exercise:

1. the solution has a code cell, and the first one carries ``student = {"hint", "stub",
   "check"}`` in its metadata;
2. ``hint`` is specific: at least a short sentence, not the generic placeholder, not shared
   with another exercise of the notebook;
3. ``check`` is one call ``course.check.<name>(...)`` of an existing checker, whose free
   names are only names that ``stub`` defines (plus ``course`` and builtins), at least one;
4. ``stub`` parses; its functions only ``raise NotImplementedError("Exercise N: …")`` and its
   answer variables are ``None``;
5. the names the check uses are not defined by the notebook's own (non-solution) code: a
   checker that passes before the exercise is done is a defect;
6. the worked solution defines every name of the stub and ends with the same check call, and
   the stored output of that cell shows ✓ (and no ✗).

Executing the student edition (``tests/test_student_edition.py``) adds the last rule: run as
shipped, every stub cell prints ✗ and raises nothing.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
import make_student_edition as student  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIN_HINT_CHARS = 25
BUILTINS = set(dir(builtins))


@dataclass
class Exercise:
    number: int | None
    cells: list[int]          # indices of the solution block
    code: list[int]           # its code cells
    meta: dict                # the ``student`` metadata of its first code cell


def exercises(notebook: nbformat.NotebookNode) -> list[Exercise]:
    found = []
    for number, indices in student.solution_blocks(notebook.cells):
        code = [i for i in indices if notebook.cells[i].cell_type == "code"]
        meta = dict(notebook.cells[code[0]].metadata.get("student", {})) if code else {}
        found.append(Exercise(number, indices, code, meta))
    return found


def _source(text: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in text.splitlines())


def bound_names(tree: ast.AST) -> set[str]:
    """Names a piece of code binds at its top level (defs, classes, assignments, imports)."""
    names: set[str] = set()

    def targets(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.If, ast.Try,
                               ast.While)):
            if isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
            for item in getattr(node, "items", []):
                if item.optional_vars is not None:
                    targets(item.optional_vars)
            for block in ("body", "orelse", "finalbody"):
                names |= bound_names(ast.Module(body=getattr(node, block, []) or [],
                                                type_ignores=[]))
            for handler in getattr(node, "handlers", []):
                names |= bound_names(ast.Module(body=handler.body, type_ignores=[]))
    return names


def free_names(expression: ast.AST) -> set[str]:
    """Names an expression reads that it does not bind itself (lambda arguments,
    comprehension variables)."""
    local: set[str] = set()
    for node in ast.walk(expression):
        if isinstance(node, ast.Lambda):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                        *filter(None, [args.vararg, args.kwarg])]:
                local.add(arg.arg)
        elif isinstance(node, ast.comprehension):
            local |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return {node.id for node in ast.walk(expression)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)} - local


def _checker_name(call: ast.AST) -> str | None:
    """``name`` for an expression ``course.check.name(...)``, else None."""
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
        owner = call.func.value
        if isinstance(owner, ast.Attribute) and owner.attr == "check" \
                and isinstance(owner.value, ast.Name) and owner.value.id == "course":
            return call.func.attr
    return None


def _stub_shape(tree: ast.Module, number: int | None) -> list[str]:
    """What is wrong with the statements of a stub (see rule 4 of the module docstring)."""
    problems = []
    prefix = f"Exercise {number}:" if number else "Exercise"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]  # a docstring
            raise_ok = len(body) == 1 and isinstance(body[0], ast.Raise) and \
                isinstance(body[0].exc, ast.Call) and \
                getattr(body[0].exc.func, "id", "") == "NotImplementedError" and \
                body[0].exc.args and isinstance(body[0].exc.args[0], ast.Constant) and \
                str(body[0].exc.args[0].value).startswith(prefix)
            if not raise_ok:
                problems.append(f"stub function {node.name}() must only raise "
                                f"NotImplementedError(\"{prefix} …\")")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            value = node.value
            if not (isinstance(value, ast.Constant) and value.value is None):
                problems.append(f"stub line {node.lineno}: an answer variable starts as None")
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
            problems.append(f"stub line {node.lineno}: only functions that raise, answers set "
                            "to None and imports belong in a stub")
    return problems


def exercise_problems(path: Path, checkers: set[str] | None = None) -> list[str]:
    """Every violation of rules 1–6 in one course notebook, as readable lines."""
    if checkers is None:
        from course_lib import check  # noqa: PLC0415 (only when asked)
        checkers = set(check.__all__)
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    body_names: set[str] = set()
    for cell in cells:
        if cell.cell_type == "code" and not student.is_solution(cell):
            try:
                body_names |= bound_names(ast.parse(_source(cell.source)))
            except SyntaxError:
                pass
    problems: list[str] = []
    hints: dict[str, int | None] = {}
    for exercise in exercises(notebook):
        label = f"exercise {exercise.number}"

        def fail(message: str) -> None:
            problems.append(f"{label}: {message}")

        if not exercise.code:
            fail("the worked solution has no code cell, so nothing can be checked "
                 "(a prose answer needs a checked choice or number)")
            continue
        meta = exercise.meta
        missing = [key for key in ("hint", "stub", "check") if not str(meta.get(key, "")).strip()]
        if missing:
            fail(f"the first solution code cell has no student {', '.join(missing)}")
        hint = str(meta.get("hint", "")).strip()
        if hint:
            if len(hint) < MIN_HINT_CHARS or hint.lower() == student.GENERIC_HINT:
                fail(f"the hint {hint!r} is not specific")
            if hint in hints:
                fail(f"the same hint as exercise {hints[hint]}")
            hints[hint] = exercise.number
        check_text = str(meta.get("check", "")).strip()
        stub_text = str(meta.get("stub", ""))
        check_tree = stub_tree = None
        if check_text:
            try:
                check_tree = ast.parse(check_text, mode="eval").body
            except SyntaxError as err:
                fail(f"the check does not parse: {err}")
        if check_tree is not None:
            name = _checker_name(check_tree)
            if name is None:
                fail(f"the check {check_text!r} is not one call course.check.<name>(...)")
            elif name not in checkers:
                fail(f"course.check has no checker {name!r}")
            used = free_names(check_tree) - {"course"} - BUILTINS
            if not used:
                fail(f"the check {check_text!r} takes no name at all: it cannot see the "
                     "learner's answer")
            if used & body_names:
                fail(f"the check uses {sorted(used & body_names)}, which the notebook itself "
                     "defines: it can pass before the exercise is done")
        if stub_text.strip():
            try:
                stub_tree = ast.parse(stub_text)
            except SyntaxError as err:
                fail(f"the stub does not parse: {err}")
        stub_names = set()
        if stub_tree is not None:
            for problem in _stub_shape(stub_tree, exercise.number):
                fail(problem)
            stub_names = bound_names(stub_tree)
            if check_tree is not None:
                if used - stub_names:
                    fail(f"the check uses {sorted(used - stub_names)}, which the stub does not "
                         "define")
                if not used & stub_names:
                    fail("the check uses no name of the stub: it cannot see the learner's "
                         "answer")
        solution_names: set[str] = set()
        with_check = None
        for i in exercise.code:
            try:
                tree = ast.parse(_source(cells[i].source))
            except SyntaxError:
                continue
            solution_names |= bound_names(tree)
            for node in tree.body:
                if check_tree is not None and isinstance(node, ast.Expr) \
                        and ast.dump(node.value) == ast.dump(check_tree):
                    with_check = i
        if stub_names - solution_names:
            fail(f"the worked solution does not define {sorted(stub_names - solution_names)}")
        if check_tree is None:
            continue
        if with_check is None:
            fail(f"the worked solution does not call {check_text}")
        else:
            from truth import output_text  # noqa: PLC0415 (a sibling module)
            shown = output_text(cells[with_check])
            if not re.search(r"^✓", shown, re.M) or re.search(r"^✗", shown, re.M):
                fail(f"the stored output of cell {with_check} does not show ✓ from the check")
    return problems


# ----------------------------------------------------------------------------- the student run

def setup_cells(notebook: nbformat.NotebookNode) -> list[int]:
    """The code cells up to and including the first that imports ``course_lib``."""
    indices = []
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or student.EXERCISE_TAG in cell.metadata.get("tags", []):
            continue
        indices.append(i)
        if re.search(r"^\s*(?:import course_lib|from course_lib)", cell.source, re.M):
            return indices
    return indices


def stub_cells(notebook: nbformat.NotebookNode) -> list[int]:
    return [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            and student.EXERCISE_TAG in cell.metadata.get("tags", [])]


def run_student_edition(path: Path, whole: bool, timeout_s: float) -> list[str]:
    """Execute a student notebook (whole, or its setup cells and stub cells in one fresh
    kernel) and return what went wrong: a cell that raised, a stub that did not print ✗.

    ``timeout_s`` bounds the whole notebook: nbclient stops the cell that is running when it
    is used up (the tool's own timeout, not a wall-clock assert).
    """
    from nbclient import NotebookClient  # noqa: PLC0415

    notebook = nbformat.read(path, as_version=4)
    stubs = stub_cells(notebook)
    keep = list(range(len(notebook.cells))) if whole else setup_cells(notebook) + stubs
    original = {new: old for new, old in enumerate(sorted(keep))}
    notebook.cells = [notebook.cells[i] for i in sorted(keep)]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    deadline = time.monotonic() + timeout_s
    client = NotebookClient(
        notebook, kernel_name="python3", allow_errors=True,
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    problems = []
    for new, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        k = original[new]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            problems.append(f"cell {k} raised {errors[0].ename}: {errors[0].evalue[:200]}")
        elif k in stubs:
            shown = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            if not re.search(r"^✗", shown, re.M):
                first = shown.strip().splitlines()[:1]
                problems.append(f"stub cell {k} printed {first or 'nothing'} instead of ✗: its "
                                "checker accepts the untouched stub")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or student.course_notebooks()
    bad = 0
    for path in paths:
        problems = exercise_problems(path)
        bad += len(problems)
        print(f"## {path.name}: {len(problems)} problems")
        for problem in problems:
            print(f"  {problem}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
