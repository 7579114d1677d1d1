"""Wrong localisation scores (course_lib/evaluation/localisation.py)."""

from mutants import Mutant

PATH = "course_lib/evaluation/localisation.py"
LOC = "tests/test_localisation.py"
FAST = (LOC, "-k", "not cnn and not shapes and not training and not weights and not accuracy")

MUTANTS = [
    Mutant(PATH, "return (at_max & target).sum(dim=1).float() / at_max.sum(dim=1).float()",
           "return (at_max & target).any(dim=1).float()",
           "pointing game: a tie at the maximum counts as a hit if any tied pixel is on the mask",
           FAST),
    Mutant(PATH, "weights = maps.clamp(min=0)", "weights = maps.abs()",
           "positive mass counts negative evidence too", FAST),
    Mutant(PATH, "<= radius ** 2).float()", "< radius ** 2).float()",
           "tolerance disc without its rim (radius r − 1)", FAST),
    Mutant(PATH, "total > 0, inside / torch.where(total > 0, total, 1), fraction)",
           "total > 0, inside / torch.where(total > 0, total, 1), 0 * fraction)",
           "a map of zero mass scores 0 instead of the area fraction", FAST),
    Mutant("course_lib/maps.py", "return attribution.abs().amax(dim=-3)",
           "return attribution.amax(dim=-3)",
           "max_abs channel aggregation without the abs", FAST),
]
