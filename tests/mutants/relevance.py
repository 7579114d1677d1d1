"""Planted bugs in LRP, its canonizer and DeepLIFT that the unit tests must catch."""

from __future__ import annotations

from mutants import Mutant

RULES = "course_lib/methods/lrp_rules.py"
LRP = "course_lib/methods/lrp.py"
DEEPLIFT = "course_lib/methods/deeplift.py"
LITE0 = "course_lib/models/efficientnet_lite.py"
LRP_TESTS = ("tests/test_lrp.py",)
DEEPLIFT_TESTS = ("tests/test_deeplift.py",)

MUTANTS = [
    Mutant(RULES, "return z + torch.copysign(",
           "return z - torch.copysign(",
           "ε with the wrong sign: it shrinks the denominator instead of growing it", LRP_TESTS),
    Mutant(RULES, "return z + torch.copysign(torch.tensor(epsilon, dtype=z.dtype, device=z.device), z)",
           "return z + epsilon",
           "ε added without the sign of z: negative outputs are destabilised", LRP_TESTS),
    Mutant(LRP, "denominator = stabilize(z.detach(), self.rule.stabilizer)",
           "denominator = z.detach()",
           "the stabiliser is missing (LRP-ε becomes LRP-0)", LRP_TESTS),
    Mutant(RULES, "same_sign = torch.where(z.detach() > 0, positive, z - positive)",
           "same_sign = torch.where(z.detach() > 0, z - positive, positive)",
           "LRP-γ amplifies the negative weights of a positive output", LRP_TESTS),
    Mutant(RULES, "positive = positive + f(a.clamp(max=0), weight.clamp(max=0), None)",
           "positive = positive + f(a.clamp(max=0), weight.clamp(min=0), None)",
           "a negative input times a positive weight counted as a positive contribution",
           LRP_TESTS),
    Mutant(RULES, "positive = f(a.clamp(min=0), weight.clamp(min=0), "
                  "None if bias is None else bias.clamp(min=0))",
           "positive = f(a.clamp(min=0), weight.clamp(min=0), bias)",
           "z⁺ keeps the negative bias in its denominator", LRP_TESTS),
    Mutant(LRP, "            batchnorm = modules[bn_name] if bn_name else None",
           "            batchnorm = None",
           "BatchNorm not folded: the rules see the bare convolution", LRP_TESTS),
    Mutant(LRP, "            factor = torch.where(x > 0, y / x, 0.0)",
           "            factor = (x > 0).to(x.dtype)",
           "ReLU6 read as a ReLU: relevance created at units above 6", LRP_TESTS),
    Mutant(LITE0, "return out + x if self.use_skip else out",
           "return out + x.detach() if self.use_skip else out",
           "a skip connection that carries no relevance: conservation broken at the sum",
           LRP_TESTS),
    Mutant(LRP, "            self.bounds = (torch.minimum(low_seen, high_seen), "
                "torch.maximum(low_seen, high_seen))",
           "            self.bounds = (torch.full_like(low_seen, box.low), "
           "torch.full_like(high_seen, box.high))",
           "box bounds in pixel units where the first layer sees normalised values", LRP_TESTS),
    Mutant(LRP, "            ratio = out.detach() / denominator",
           "            ratio = 1.0 / denominator",
           "the rule's share s = R/z without the relevance R = a ⊙ c of the output",
           LRP_TESTS),
    Mutant(RULES, "        depth = (index - 1) / max(count - 1, 1)",
           "        depth = index / count",
           "composite by depth counts the input layer among the lower layers", LRP_TESTS),
    Mutant(DEEPLIFT, "    return torch.where(delta_x.abs() < NEAR_ZERO, gradient.to(x.dtype), "
                     "delta_y / delta_x)",
           "    return delta_y / delta_x",
           "DeepLIFT multiplier without the Δx ≈ 0 fallback: 0/0 = NaN", DEEPLIFT_TESTS),
    Mutant(DEEPLIFT, "    return torch.where(delta_x.abs() < NEAR_ZERO, gradient.to(x.dtype), "
                     "delta_y / delta_x)",
           "    return gradient.to(x.dtype)",
           "the gradient at x instead of the secant slope: gradient × (x − x')",
           DEEPLIFT_TESTS),
    Mutant(DEEPLIFT, "shares = scatter(grad * from_input, winners) + "
                     "scatter(grad * from_reference, winners_ref)",
           "shares = scatter(grad * (from_input + from_reference), winners)",
           "max pool: the whole Δ to the input's winner, even when the reference's max is "
           "larger", DEEPLIFT_TESTS),
    Mutant(DEEPLIFT, "        position = self.used.get(key, 0)",
           "        position = 0",
           "a ReLU used twice (ResNet) replays its first reference both times", DEEPLIFT_TESTS),
    Mutant(DEEPLIFT, "            parts.append((images.detach() - refs) * multipliers)",
           "            parts.append(images.detach() * multipliers)",
           "multipliers times the input instead of the difference from the baseline",
           DEEPLIFT_TESTS),
]
