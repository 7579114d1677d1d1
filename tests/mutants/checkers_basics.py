"""Planted bugs in the exercise checkers of notebooks 00–03: each makes a checker accept a
typical mistake or reject a right answer, and the checker cases must notice."""

from mutants import Mutant

CHECKERS = "course_lib/teaching/checkers/"
TESTS = ("tests/test_student_edition.py::test_checker_accepts_the_solution",
         "tests/test_student_edition.py::test_checker_rejects_a_mistake_and_says_why")

MUTANTS = [
    Mutant(CHECKERS + "introduction.py", "        if got[1] != expected[1]:",
           "        if False:", "attribution_size never checks the map's count", TESTS),
    Mutant(CHECKERS + "introduction.py",
           "expected = [c for c in classes if any(w in c.lower() for w in lowered)]",
           "expected = [c for c in classes if any(w in c for w in words)]",
           "find_classes' reference matches case-sensitively", TESTS),
    Mutant(CHECKERS + "introduction.py",
           "expected = torch.stack([preprocess(load_image(p)) for p in paths])",
           "expected = torch.cat([preprocess(load_image(p)) for p in paths])",
           "image_batch's reference concatenates instead of stacking", TESTS),
    Mutant(CHECKERS + "introduction.py", "expected = (-0.1 + 2.0) / 2", "expected = 0.0",
           "stretched_white expects the centre of a centred colormap", TESTS),
    Mutant(CHECKERS + "vanilla_gradient.py",
           "magnitude = attribution.abs().amax(dim=1)  # (N, H, W): the absolute map",
           "magnitude = attribution.amax(dim=1)  # (N, H, W): the absolute map",
           "border_ratios' reference forgets the absolute value", TESTS),
    Mutant(CHECKERS + "vanilla_gradient.py", "expected = model(x)[:, c]",
           "expected = model(x)[:, c] - model[1].bias[c]",
           "logit_from_gradient_x_input's reference leaves out the bias", TESTS),
    Mutant(CHECKERS + "relu_rules.py", "        if got.numel() == 1:\n",
           "        if False:\n", "input_correlation accepts one number for the batch",
           TESTS),
    Mutant(CHECKERS + "relu_rules.py", "        if modes != before[0]:",
           "        if modes[0] != before[0][0]:",
           "eval_and_frozen checks only the top module's mode (model.train() passes)", TESTS),
    Mutant(CHECKERS + "relu_rules.py", '("DeconvNet", _deconvnet)):',
           '("DeconvNet", _vanilla_gradient)):',
           "guided_backprop no longer recognises a DeconvNet map", TESTS),
    Mutant(CHECKERS + "grad_cam.py",
           "        if hooks_left(model):\n            raise Mismatch(f\"{hooks_left(model)} "
           "forward hook(s) left behind",
           "        if False:\n            raise Mismatch(f\"{hooks_left(model)} "
           "forward hook(s) left behind",
           "capture_layers does not look for hooks left after a failing pass", TESTS),
    Mutant(CHECKERS + "grad_cam.py", "lambda m, x, c: grad_cam(_Negated(m), x, c, m.head)",
           "lambda m, x, c: grad_cam(m, x, c, m.head)",
           "counterfactual_cam's reference is the ordinary Grad-CAM", TESTS),
]
