"""Every exercise of every course notebook is honestly checked (the rules: ``tests/exercises.py``).

Data-driven over ``notebooks/NN_*.ipynb``, present and future: each exercise's worked solution
carries a specific hint, a stub and a check call; the check only takes names the stub defines
(parsed with ``ast``), never a name the notebook already defines; the worked solution calls
the same check and its stored output shows ✓. Running the student edition (every stub prints
✗) is in ``tests/test_student_edition.py``.

The rules are tested on a small synthetic notebook (setup, a body, two exercises with
solutions, stubs and checks) and on planted breaks of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import exercises  # noqa: E402
import make_student_edition as student  # noqa: E402

COURSE = student.course_notebooks()


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_every_exercise_has_a_hint_a_stub_and_an_honest_check(path):
    problems = exercises.exercise_problems(path)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


# ----------------------------------------------------------------------------- the fixture

GRADIENT = '''def my_gradient(model, inputs, target):
    x = inputs.detach().clone().requires_grad_(True)
    scores = model(x).gather(1, torch.as_tensor(target).reshape(-1, 1).expand(len(x), 1))
    (gradient,) = torch.autograd.grad(scores.sum(), x)
    return gradient
'''


def synthetic_notebook(**changes) -> nbformat.NotebookNode:
    """A course notebook in miniature: setup, a body cell, two exercises with worked solutions.

    ``changes`` replace parts of exercise 1: ``hint``, ``stub``, ``check``, ``body`` (the body
    code cell), ``solution_output`` (the stored output of its check call).
    """
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    hint = changes.get("hint", "differentiate the sum of each image's target logit with "
                               "torch.autograd.grad, with respect to a copy of the inputs")
    stub = changes.get("stub", 'def my_gradient(model, inputs, target):\n'
                               '    raise NotImplementedError("Exercise 1: autograd of the '
                               'target logits")\n')
    check = changes.get("check", "course.check.vanilla_gradient(my_gradient)")
    cells = [
        md("# 50 · Synthetic\n\nA notebook in miniature."),
        code("import torch\nimport course_lib as course"),
        md("## 1 · The body"),
        code(changes.get("body", "inputs = torch.ones(1, 3, 4, 4)\nprint(tuple(inputs.shape))")),
        md("## Exercises\n\n### Exercise 1 — the gradient by hand\n\nWrite `my_gradient`."),
        md("**Solution.** Autograd of the target logits:"),
        code(GRADIENT + "\n\n" + check),
        md("### Exercise 2 — gradient × input\n\nWrite `my_gxi`."),
        md("**Solution.** The gradient times the input:"),
        code("def my_gxi(model, inputs, target):\n"
             "    return my_gradient(model, inputs, target) * inputs\n\n\n"
             "course.check.gradient_x_input(my_gxi)"),
        md("## References\n\nNone."),
    ]
    for i in (5, 6, 8, 9):
        cells[i].metadata["tags"] = ["solution"]
    cells[6].metadata["student"] = {"hint": hint, "stub": stub, "check": check}
    cells[9].metadata["student"] = {
        "hint": "multiply your gradient from exercise 1 by the inputs, element by element",
        "stub": 'def my_gxi(model, inputs, target):\n'
                '    raise NotImplementedError("Exercise 2: gradient times input")\n',
        "check": "course.check.gradient_x_input(my_gxi)"}
    outputs = {6: changes.get("solution_output", "✓ vanilla gradient: matches\n"),
               9: "✓ gradient × input: matches\n", 3: "(1, 3, 4, 4)\n"}
    for i, text in outputs.items():
        cells[i].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cells[i].execution_count = i
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    return notebook


def _problems(tmp_path, **changes) -> list[str]:
    path = tmp_path / "50_synthetic.ipynb"
    nbformat.write(synthetic_notebook(**changes), path)
    return exercises.exercise_problems(path)


def test_the_fixture_keeps_every_rule(tmp_path):
    assert _problems(tmp_path) == []


@pytest.mark.parametrize("change,words", [
    ({"hint": "write your solution here"}, "not specific"),
    ({"hint": ""}, "no student hint"),
    ({"stub": ""}, "no student stub"),
    ({"check": ""}, "no student check"),
    ({"check": "course.check.vanilla_gradient(lambda m, x, t: reference(m, x, t))"},
     "which the stub does not define"),
    ({"check": "course.check.no_such_checker(my_gradient)"}, "no checker 'no_such_checker'"),
    ({"check": "print(my_gradient)"}, "not one call course.check"),
    ({"check": "course.check.relu_rule_names('deconvnet', 'gradient')"}, "takes no name"),
    ({"body": "def my_gradient(model, inputs, target):\n    return inputs"},
     "which the notebook itself defines"),
    ({"stub": "def my_gradient(model, inputs, target):\n    return inputs * 0\n"},
     "must only raise NotImplementedError"),
    ({"stub": 'def my_gradient(model, inputs, target):\n'
              '    raise NotImplementedError("Exercise 7: wrong number")\n'},
     "must only raise NotImplementedError(\"Exercise 1:"),
    ({"stub": "answer = 3\ndef my_gradient(m, x, t):\n"
              "    raise NotImplementedError('Exercise 1: x')\n"}, "starts as None"),
    ({"stub": "my_answer = None\n", "check": "course.check.vanilla_gradient(my_answer)"},
     "does not define ['my_answer']"),
    ({"solution_output": "✗ vanilla gradient: wrong sign\n"}, "does not show ✓"),
    ({"solution_output": ""}, "does not show ✓"),
])
def test_a_planted_break_is_reported(tmp_path, change, words):
    problems = _problems(tmp_path, **change)
    assert any(words in p for p in problems), problems


def test_a_prose_only_solution_is_reported(tmp_path):
    notebook = synthetic_notebook()
    notebook.cells[9].cell_type = "markdown"  # exercise 2 answered in words only
    del notebook.cells[9]["outputs"], notebook.cells[9]["execution_count"]
    notebook.cells[9].metadata = {"tags": ["solution"]}
    path = tmp_path / "50_synthetic.ipynb"
    nbformat.write(nbformat.from_dict(notebook), path)
    assert any("exercise 2: the worked solution has no code cell" in p
               for p in exercises.exercise_problems(path))


def test_the_student_stub_cell_is_hint_stub_and_check():
    edition = student.student_notebook(synthetic_notebook(), "50_synthetic.ipynb")
    stubs = [cell for cell in edition.cells if cell.cell_type == "code"
             and student.EXERCISE_TAG in cell.metadata.get("tags", [])]
    assert len(stubs) == 2
    first = stubs[0].source.splitlines()
    assert first[0].startswith("# Exercise 1: differentiate the sum")
    assert first[-1] == "course.check.vanilla_gradient(my_gradient)"
    raising = 'raise NotImplementedError("Exercise 1: autograd of the target logits")'
    assert raising in stubs[0].source
    assert "✗" in edition.cells[1].source  # the banner says what a stub prints
