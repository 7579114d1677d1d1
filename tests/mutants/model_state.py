"""A model left changed, and bad input let through (model_state.py, checks.py)."""

from mutants import Mutant

SAFETY = "tests/test_model_safety.py"
CHECKS = "tests/test_checks.py"

MUTANTS = [
    Mutant("course_lib/model_state.py",
           "        for module, training in modes:\n            module.training = training",
           "        model.train(modes[0][1])",
           "train/eval restored from the top module only (mixed modes lost)",
           (f"{SAFETY}::test_model_left_as_found",)),
    Mutant("course_lib/model_state.py", "param.requires_grad_(requires_grad)",
           "param.requires_grad_(True)", "requires_grad not restored (every parameter unfrozen)",
           (f"{SAFETY}::test_model_left_as_found",)),
    Mutant("course_lib/model_state.py", "        model.eval()\n", "",
           "the attribution runs in the model's train mode (BatchNorm, dropout active)",
           (f"{SAFETY}::test_results_do_not_depend_on_train_mode",)),
    Mutant("course_lib/checks.py", "bad = (target < 0) | (target >= num_classes)",
           "bad = (target < 0) | (target > num_classes)",
           "target equal to the number of classes accepted", (CHECKS,)),
    Mutant("course_lib/checks.py", "if not torch.isfinite(inputs).all():",
           "if torch.isnan(inputs).all():", "NaN or infinite pixels let through", (CHECKS,)),
]
