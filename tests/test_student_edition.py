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
import math
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from itertools import permutations
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course_lib as course
from course_lib import check

sys.path.insert(0, str(Path(__file__).parent))
import make_student_edition as student  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = student.course_notebooks()
STUDENT_RUN = os.environ.get("COURSE_STUDENT_RUN", "00")
# seconds per notebook to reach its first stub (wall clock: a busy 2-core machine is slow)
STUDENT_TIMEOUT = float(os.environ.get("COURSE_STUDENT_TIMEOUT", "600"))


# ----------------------------------------------------------------------------- learner solutions
# Each checker gets the solution a learner would write (after the worked solution in the
# notebook) and a typical mistake; the checker must accept the first and explain the second.

def _gradient(model, x, target, score=lambda logits: logits):
    x = x.detach().clone().requires_grad_(True)
    target = torch.as_tensor(target).expand(len(x))
    (g,) = torch.autograd.grad(score(model(x)).gather(1, target[:, None]).sum(), x)
    return g


@contextmanager
def _swapped_relus(model, rule, restore_on_error=True):
    """Notebook 02's swap, with a switch for the classic bug (no `finally`)."""
    from course_lib.relu_rules import RuleReLU
    places = [(parent, name, child) for parent in model.modules()
              for name, child in parent.named_children()
              if isinstance(child, (nn.ReLU, nn.ReLU6))]
    for parent, name, child in places:
        setattr(parent, name, RuleReLU(rule, 6.0 if isinstance(child, nn.ReLU6) else None))
    if restore_on_error:
        try:
            yield model
        finally:
            for parent, name, child in places:
                setattr(parent, name, child)
    else:
        yield model
        for parent, name, child in places:
            setattr(parent, name, child)


def _capture(model, layer, x, safe=True):
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    if safe:
        try:
            logits = model(x)
        finally:
            handle.remove()
    else:
        logits = model(x)
        handle.remove()
    return logits, captured[0]


def _cam(model, x, classes, sign=1.0, relu=True):
    with torch.no_grad():
        _, a = _capture(model, model.head, x)
        raw = sign * (model.fc.weight[classes][:, :, None, None] * a).sum(dim=1) / 49
    raw = F.relu(raw) if relu else raw
    return F.interpolate(raw[:, None], size=(224, 224), mode="bilinear", align_corners=False)[:, 0]


def _grad_cam(model, x, classes, sign=1.0, probability=False):
    maps = []
    for image, c in zip(x, classes.tolist()):
        logits, a = _capture(model, model.head, image[None].clone().requires_grad_(True))
        score = logits.softmax(dim=1)[0, c] if probability else logits[0, c]
        (g,) = torch.autograd.grad(score, a)
        maps.append(F.relu((sign * g.mean(dim=(2, 3), keepdim=True) * a.detach()).sum(dim=1)))
    return F.interpolate(torch.cat(maps)[:, None], size=(224, 224), mode="bilinear",
                         align_corners=False)[:, 0]


def _noisy_copies(x, sigma, k, generator, image_major=True):
    std = sigma.repeat_interleave(k)[:, None, None, None].expand(len(x) * k, *x.shape[1:])
    noise = torch.normal(0.0, std.contiguous(), generator=generator)
    copies = x.repeat_interleave(k, dim=0) if image_major else x.repeat(k, 1, 1, 1)
    return copies + noise


def _smoothgrad(model, x, target, noise_level=0.15, n_samples=20, batch_size=2, seed=0,
                relative=True):
    generator = torch.Generator().manual_seed(seed)
    flat = x.flatten(1)
    sigma = noise_level * ((flat.amax(dim=1) - flat.amin(dim=1)) if relative else torch.ones(len(x)))
    per_pass = max(1, batch_size // len(x))
    total, total_sq, done = torch.zeros_like(x), torch.zeros_like(x), 0
    while done < n_samples:
        k = min(per_pass, n_samples - done)
        g = _gradient(model, _noisy_copies(x, sigma, k, generator), target.repeat_interleave(k))
        g = g.view(len(x), k, *x.shape[1:])
        total, total_sq, done = total + g.sum(dim=1), total_sq + g.pow(2).sum(dim=1), done + k
    return total / n_samples, total_sq / n_samples


def _smooth_guided(model, x, target, noise_level=0.15, n_samples=8, seed=0, rule="guided"):
    with course.relu_backward_rule(model, rule):
        return course.smoothgrad(model, x, target, noise_level=noise_level, n_samples=n_samples,
                                 seed=seed, progress=False)


def _ig(model, x, target, baseline, steps, multiply=True):
    alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
    total = torch.zeros_like(x)
    for a in alphas:
        total += _gradient(model, baseline + a * (x - baseline), target) / steps
    return (x - baseline) * total if multiply else total


def _window_starts(size, patch, stride, crop=True):
    count = math.ceil((size - patch) / stride) + 1 if crop else (size - patch) // stride + 1
    return [k * stride for k in range(count)]


def _occlusion_map(model, image, target, patch, stride, fill, crop=True):
    height, width = image.shape[-2:]
    fill_image = torch.as_tensor(fill, dtype=image.dtype).expand_as(image)
    windows = [(t, l) for t in _window_starts(height, patch, stride, crop)
               for l in _window_starts(width, patch, stride, crop)]
    total, count = torch.zeros(height, width), torch.zeros(height, width)
    with torch.no_grad():
        reference = model(image[None])[0, target]
        for top, left in windows:
            copy = image.clone()
            copy[:, top:top + patch, left:left + patch] = fill_image[:, top:top + patch,
                                                                     left:left + patch]
            drop = reference - model(copy[None])[0, target]
            total[top:top + patch, left:left + patch] += drop
            count[top:top + patch, left:left + patch] += 1
    return total / count


def _shapley(v, players):
    orders = list(permutations(players))
    return {k: sum(v(o[:o.index(k) + 1]) - v(o[:o.index(k)]) for o in orders) / len(orders)
            for k in players}


def _leave_one_out(v, players):
    return {k: v(players) - v([p for p in players if p != k]) for k in players}


def _dark_share(image, attribution, threshold=0.1, all_channels=True):
    dark = (image < threshold).all(dim=0) if all_channels else (image < threshold).any(dim=0)
    magnitude = attribution.abs().sum(dim=0)
    return (magnitude[dark].sum() / magnitude.sum()).item()


def _cubic_rule(steps, jacobian=True):
    t = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    return t ** 3, (3 * t ** 2 / steps if jacobian else torch.full((steps,), 1 / steps,
                                                                  dtype=torch.float64))


def _samples(total_variance, scale, r, corrected=True):
    signal_sq = scale ** 2 - (total_variance / 100 if corrected else 0)
    return total_variance / (r ** 2 * signal_sq)


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CHECKERS = {
    "attribution_size": (lambda: check.attribution_size(602_112, 200_704),
                         lambda: check.attribution_size(602_112, 602_112),
                         "one number per pixel"),
    "vanilla_gradient": (lambda: check.vanilla_gradient(_gradient),
                         lambda: check.vanilla_gradient(lambda m, x, t: _gradient(m, x, t).abs()),
                         "differs"),
    "gradient_x_input": (lambda: check.gradient_x_input(lambda m, x, t: x * _gradient(m, x, t)),
                         lambda: check.gradient_x_input(_gradient), "differs"),
    "runner_up_gradient": (
        lambda: check.runner_up_gradient(
            lambda m, x: _gradient(m, x, m(x).topk(2, dim=1).indices[:, 1])),
        lambda: check.runner_up_gradient(lambda m, x: _gradient(m, x, m(x).argmax(dim=1))),
        "most* likely class"),
    "probability_gradient": (
        lambda: check.probability_gradient(
            lambda m, x, t: _gradient(m, x, t, score=lambda z: z.softmax(dim=1))),
        lambda: check.probability_gradient(_gradient), "softmax"),
    "deconvnet": (lambda: check.deconvnet(lambda m, x, t: course.deconvnet(m, x, t)),
                  lambda: check.deconvnet(lambda m, x, t: course.guided_backprop(m, x, t)),
                  "differs"),
    "guided_backprop": (lambda: check.guided_backprop(
                            lambda m, x, t: _with_rule(m, x, t, "guided")),
                        lambda: check.guided_backprop(
                            lambda m, x, t: _with_rule(m, x, t, "deconvnet")),
                        "equals DeconvNet"),
    "relu_rule_names": (lambda: check.relu_rule_names("DeconvNet", "gradient"),
                        lambda: check.relu_rule_names("gradient", "DeconvNet"), "I(R > 0)"),
    "swap_restores_model": (lambda: check.swap_restores_model(_swapped_relus),
                            lambda: check.swap_restores_model(
                                lambda m, r: _swapped_relus(m, r, restore_on_error=False)),
                            "finally"),
    "cam": (lambda: check.cam(_cam), lambda: check.cam(lambda m, x, c: _cam(m, x, c, relu=False)),
            "without the final ReLU"),
    "counterfactual_cam": (lambda: check.counterfactual_cam(
                               lambda m, x, c: _grad_cam(m, x, c, sign=-1.0)),
                           lambda: check.counterfactual_cam(_grad_cam), "negate"),
    "probability_grad_cam": (lambda: check.probability_grad_cam(
                                 lambda m, x, c: _grad_cam(m, x, c, probability=True)),
                             lambda: check.probability_grad_cam(_grad_cam), "softmax"),
    "capture_removes_hook": (lambda: check.capture_removes_hook(_capture),
                             lambda: check.capture_removes_hook(
                                 lambda m, layer, x: _capture(m, layer, x, safe=False)),
                             "finally"),
    "smoothgrad": (lambda: check.smoothgrad(_smoothgrad),
                   lambda: check.smoothgrad(lambda *a, **k: _smoothgrad(*a, relative=False, **k)),
                   "course.smoothgrad exactly"),
    "noisy_copies": (lambda: check.noisy_copies(_noisy_copies),
                     lambda: check.noisy_copies(
                         lambda x, s, k, g: _noisy_copies(x, s, k, g, image_major=False)),
                     "image-major"),
    "smoothgrad_guided": (lambda: check.smoothgrad_guided(_smooth_guided),
                          lambda: check.smoothgrad_guided(
                              lambda *a, **k: _smooth_guided(*a, rule="gradient", **k)),
                          "relu_backward_rule"),
    "samples_needed": (lambda: check.samples_needed(_samples),
                       lambda: check.samples_needed(
                           lambda v, s, r: _samples(v, s, r, corrected=False)),
                       "subtract the noise"),
    "saturated_unit_ig": (lambda: check.saturated_unit_ig([8 / 3, 10 / 3]),
                          lambda: check.saturated_unit_ig((0.0, 0.0)), "whole path"),
    "integrated_gradients": (lambda: check.integrated_gradients(_ig),
                             lambda: check.integrated_gradients(
                                 lambda *a: _ig(*a, multiply=False)), "multiply it by"),
    "dark_pixel_share": (lambda: check.dark_pixel_share(_dark_share),
                         lambda: check.dark_pixel_share(
                             lambda i, a, t: _dark_share(i, a, t, all_channels=False)),
                         ".all(dim=0)"),
    "substituted_midpoint_rule": (lambda: check.substituted_midpoint_rule(_cubic_rule),
                                  lambda: check.substituted_midpoint_rule(
                                      lambda m: _cubic_rule(m, jacobian=False)), "3 t_k²"),
    "occlusion_passes": (lambda: check.occlusion_passes(
                             lambda n, p, s: len(_window_starts(n, p, s)) ** 2 + 1),
                         lambda: check.occlusion_passes(
                             lambda n, p, s: len(_window_starts(n, p, s, crop=False)) ** 2 + 1),
                         "cropped, not dropped"),
    "occlusion": (lambda: check.occlusion(_occlusion_map),
                  lambda: check.occlusion(
                      lambda *a: _occlusion_map(*a, crop=False)), "cropped, not dropped"),
    "shapley_values": (lambda: check.shapley_values(_shapley),
                       lambda: check.shapley_values(_leave_one_out), "sum to"),
}


def _with_rule(model, x, target, rule):
    with _swapped_relus(model, rule):
        return _gradient(model, x, target)


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
        with pytest.raises(NotImplementedError, match=f"^Exercise {number}: "):
            exec(compile(stub.source, f"{path.name} stub", "exec"), {})


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
