"""Wrong backward rules and a model left changed (course_lib/methods/relu_rules.py)."""

from mutants import Mutant

PATH = "course_lib/methods/relu_rules.py"

MUTANTS = [
    Mutant(PATH, 'low = -math.inf if ctx.rule == "deconvnet" else 0.0', "low = 0.0",
           "DeconvNet also masks by the forward activation at a ReLU6 (becomes guided)",
           ("tests/test_relu_rules.py",)),
    Mutant(PATH, "signal = signal.clamp(min=0)", "signal = signal.abs()",
           "negative backward signals flipped instead of dropped",
           ("tests/test_relu_rules.py",)),
    Mutant(PATH, 'if ctx.rule != "gradient":', 'if ctx.rule == "deconvnet":',
           "guided backprop lets negative signals through (plain gradient)",
           ("tests/test_relu_rules.py",)),
    Mutant(PATH, "    finally:\n        for parent, name, original in places:\n"
                 "            setattr(parent, name, original)",
           "    except BaseException:\n        raise\n    else:\n"
           "        for parent, name, original in places:\n"
           "            setattr(parent, name, original)",
           "the original ReLU modules are not put back after an exception",
           ("tests/test_model_safety.py::test_model_left_as_found_after_exception",)),
    Mutant(PATH, "hardtanh_backward(signal, output, low, ctx.cap)",
           "hardtanh_backward(signal, output, low, math.inf)",
           "ReLU6 loses its cap gradient I(x < 6) under every rule",
           ("tests/test_relu_rules.py",)),
]
