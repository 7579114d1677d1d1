"""Wrong model randomization tests (course_lib/evaluation/sanity_checks.py)."""

from mutants import Mutant

PATH = "course_lib/evaluation/sanity_checks.py"
SANITY = "tests/test_sanity_checks.py"

MUTANTS = [
    Mutant(PATH, "current = randomized if cascade else copy.deepcopy(model).eval()",
           "current = copy.deepcopy(model).eval()",
           "cascading test randomizes one layer at a time (independent test)", (SANITY,)),
    Mutant(PATH, "return values.abs() if absolute else values", "return values",
           "absolute=True compares signed maps", (SANITY,)),
    Mutant(PATH, "sub.reset_parameters()  # running stats and affine parameters",
           "sub.reset_running_stats()",
           "BatchNorm reset keeps its trained affine parameters", (SANITY,)),
    Mutant(PATH, "            torch.manual_seed(seed + k)\n",
           "            torch.manual_seed(seed)\n",
           "every step redrawn with the same seed", (SANITY,)),
]
