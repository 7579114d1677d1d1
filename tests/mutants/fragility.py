"""A wrong top-k attack (course_lib/evaluation/fragility.py)."""

from mutants import Mutant

PATH = "course_lib/evaluation/fragility.py"
FRAG = "tests/test_fragility.py"

MUTANTS = [
    Mutant(PATH, "order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)[:, :k]",
           "order = maps.flatten(1).argsort(dim=1, descending=False, stable=True)[:, :k]",
           "top-k mask picks the k least salient pixels", (FRAG,)),
    Mutant(PATH, "return torch.minimum(torch.maximum(x, original - epsilon), "
                 "original + epsilon).clamp(0, 1)",
           "return torch.minimum(torch.maximum(x, original - epsilon), original + epsilon)",
           "the attack's images leave [0, 1]", (FRAG,)),
    Mutant(PATH, "out = out - F.softplus(x - self.cap, beta=self.beta)", "out = out",
           "softplus surrogate of ReLU6 without its cap", (FRAG,)),
    Mutant(PATH, "x = project(x.detach() - step_size * direction.sign(), original, epsilon)",
           "x = project(x.detach() + step_size * direction.sign(), original, epsilon)",
           "the attack climbs the top-k mass instead of descending it", (FRAG,)),
]
