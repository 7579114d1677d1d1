"""Wrong 2-D maps and pictures of them (course_lib/maps.py, course_lib/teaching/plotting.py)."""

from mutants import Mutant

PLOTTING = "course_lib/teaching/plotting.py"
TESTS = "tests/test_maps_and_plotting.py"

MUTANTS = [
    Mutant(PLOTTING, 'scaled, scale = clip_at_percentile(_as_map(attribution, "sum"), percentile)',
           'scaled, scale = clip_at_percentile(np.abs(_as_map(attribution, "sum")), percentile)',
           "signed map drawn without its sign", (TESTS,)),
    Mutant(PLOTTING, "return np.clip(values / scale, -1.0, 1.0), scale",
           "return np.clip(values / scale, 0.0, 1.0), scale",
           "negative evidence clipped to zero before drawing", (TESTS,)),
    Mutant(PLOTTING, 'scale = float(np.percentile(np.abs(values), percentile))',
           'scale = float(np.abs(values).max())',
           "maps scaled by their maximum, not the percentile (one outlier blackens the rest)",
           (TESTS,)),
    Mutant("course_lib/maps.py", "from scipy.stats import spearmanr",
           "from scipy.stats import pearsonr as spearmanr",
           "rank correlation computed as Pearson's linear correlation", (TESTS,)),
    Mutant("course_lib/maps.py", "return attribution.abs().sum(dim=-3)",
           "return attribution.sum(dim=-3).abs()",
           "abs_sum aggregation takes |Σ| instead of Σ|·|", (TESTS,)),
]
