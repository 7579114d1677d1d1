"""Planted bugs in SmoothGrad and its explorer that the unit tests must catch."""

from __future__ import annotations

from mutants import Mutant

SG = "course_lib/methods/smoothgrad.py"
EX = "course_lib/teaching/explorer.py"
SG_TESTS = ("tests/test_smoothgrad.py",)
EX_TESTS = ("tests/test_explorer.py",)

MUTANTS = [
    Mutant(SG, "return noise_level * (flat.amax(dim=1) - flat.amin(dim=1))",
           "return noise_level * torch.ones_like(flat[:, 0])",
           "σ not scaled by the image's pixel range (an absolute σ)", SG_TESTS),
    Mutant(SG, "return noise_level * (flat.amax(dim=1) - flat.amin(dim=1))",
           "return noise_level * (flat.amax() - flat.amin()).expand(len(flat))",
           "σ scaled by the range of the whole batch, not of each image", SG_TESTS),
    Mutant(SG, "    for j, s in enumerate(samples):\n        generator = sample_generator(seed, s)\n",
           "    generator = sample_generator(seed, samples.start)\n"
           "    for j, s in enumerate(samples):\n",
           "noise drawn chunk by chunk from one generator: batch_size changes the map", SG_TESTS),
    Mutant(SG, "standard[i, j] = torch.randn(shape, generator=generator)",
           "standard[i, j] = torch.randn(shape, generator=sample_generator(seed, s))",
           "every image of the batch gets the same noise", SG_TESTS),
    Mutant(SG, "return sigma.to(standard)[:, None, None, None, None] * standard",
           "return sigma.to(standard).pow(2)[:, None, None, None, None] * standard",
           "noise scaled by the variance σ² instead of the standard deviation σ", SG_TESTS),
    Mutant(SG, "gradient = class_score_gradient(model, noisy, classes.repeat_interleave(k))",
           "gradient = class_score_gradient(model, noisy, classes.repeat(k))",
           "targets not in the image-major order of the copies", SG_TESTS),
    Mutant(SG, "    if statistic == \"smoothgrad_sq\":\n        return mean_sq",
           "    if statistic == \"smoothgrad_sq\":\n        return mean.pow(2)",
           "SmoothGrad² as the square of the mean instead of the mean of the squares", SG_TESTS),
    Mutant(SG, "return mean_sq - mean.pow(2)", "return mean_sq - mean",
           "VarGrad subtracts the mean instead of its square", SG_TESTS),
    Mutant(SG, "mean, mean_sq = total / n, total_sq / n",
           "mean, mean_sq = total / max(n - 1, 1), total_sq / max(n - 1, 1)",
           "the sums divided by n − 1", SG_TESTS),
    Mutant(SG, "samples = range(start, min(start + samples_per_pass, n_samples))",
           "samples = range(start, start + samples_per_pass)",
           "the last chunk computes more samples than asked for (and they are summed)", SG_TESTS),
    Mutant(EX, "                                        self.seed)",
           "                                        self.seed + view.noise_percent)",
           "the explorer's noise differs from course.smoothgrad's for the same seed", EX_TESTS),
    Mutant(EX, "            part = chunk[:n]\n", "            part = chunk[:n + 1]\n",
           "the explorer's prefix mean includes one sample too many", EX_TESTS),
    Mutant(EX, "            while self.nbytes > self.budget_bytes:",
           "            while False:",
           "the cache never forgets: memory grows without bound", EX_TESTS),
    Mutant(EX, "            chunks = list(self._chunks[key])\n            self._chunks.move_to_end(key)\n"
               "        total = total_sq = None",
           "            chunks = list(self._chunks[key])\n        total = total_sq = None",
           "a redraw does not count as a use: the cache forgets in insertion order, not LRU",
           EX_TESTS),
    Mutant(EX, "            if (have == view.n or have >= 2 * drawn) and not draw(have):",
           "            if have == view.n and not draw(have):",
           "no progressive drawing: the first picture waits for all n samples", EX_TESTS),
    Mutant(EX, "            if number != self._current:\n                superseded = True\n",
           "            if False:\n                superseded = True\n",
           "superseded work goes on computing every sample", EX_TESTS),
    Mutant(EX, "            if number != self._current:\n                return False\n",
           "            if False:\n                return False\n",
           "a superseded request still draws its pictures", EX_TESTS),
    Mutant(EX, "        if number != self._current:\n            return  # superseded before it began",
           "        if False:\n            return  # superseded before it began",
           "requests queue up: every superseded one is still computed", EX_TESTS),
    Mutant(EX, "self.model = private_view(model)", "self.model = model",
           "the explorer computes on the learner's model itself (state shared across threads)",
           EX_TESTS),
]
