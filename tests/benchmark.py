"""Speed of course_lib's methods against Captum and pytorch-grad-cam, on this machine.

    python tests/benchmark.py              # both models, batch 1 and 8, and the explorer
    python tests/benchmark.py --quick      # batch 1 only
    python tests/benchmark.py --notebooks  # also time every notebook (make benchmark)
    python tests/benchmark.py --explorer   # only the explorer's slider latency
    python tests/benchmark.py --only LRP DeepLIFT LIME   # only the pairs whose name contains these

Each pair runs on the same model, input, targets and images per forward/backward
pass, after one warm-up each, alternating ours and theirs so that a busy machine
slows both alike; the time is the best of ``--repeats`` runs (one run for pairs
that take over 5 s). The ratio is ours / theirs: below 1 means course_lib is
faster. Also measures the SmoothGrad explorer with notebook 04's settings: the first
picture of a new σ, the full n = 50, and a redraw served from the cache. Run it on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import (LRP, DeepLift, GradientShap, GuidedBackprop, IntegratedGradients,
                         KernelShap, LayerAttribution, LayerGradCam, Lime, NoiseTunnel,
                         Occlusion, Saliency, ShapleyValues)
from captum.attr._utils.lrp_rules import EpsilonRule, IdentityRule
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import course_lib as course
from course_lib.methods.lrp_rules import Epsilon
from course_lib.models.efficientnet_lite import EfficientNetLite0
from relevance_nets import Fresh, captum_lite0_lrp, captum_resnet, relu6_decomposed


def seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def best_times(ours: Callable[[], object], theirs: Callable[[], object],
               repeats: int) -> tuple[float, float]:
    """Warm both up, then alternate them; the best time of each."""
    ours_s, theirs_s = [seconds(ours)], [seconds(theirs)]  # warm-up runs, also the sizing
    runs = repeats if max(ours_s[0], theirs_s[0]) < 5 else 1
    ours_s, theirs_s = [], []
    for _ in range(runs):
        ours_s.append(seconds(ours))
        theirs_s.append(seconds(theirs))
    return min(ours_s), min(theirs_s)


def pairs(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, targets: list[int]):
    """(method, ours, theirs, peer name) for one model and batch."""
    n = len(x)
    per_pass = 8  # images per forward/backward pass, the same for both sides
    samples_per_pass = max(1, per_pass // n)
    yield ("vanilla gradient", lambda: course.vanilla_gradient(model, x, targets, batch_size=n),
           lambda: Saliency(model).attribute(x, target=targets, abs=False), "Captum Saliency")
    yield ("guided backprop", lambda: course.guided_backprop(model, x, targets, batch_size=n),
           lambda: GuidedBackprop(model).attribute(x, target=targets), "Captum GuidedBackprop")
    yield ("Grad-CAM", lambda: course.grad_cam(model, x, targets, layer, batch_size=n),
           lambda: LayerAttribution.interpolate(
               LayerGradCam(model, layer).attribute(x, target=targets, relu_attributions=True),
               x.shape[-2:], interpolate_mode="bilinear"), "Captum LayerGradCam")
    grad_cam_peer = GradCAM(model, [layer])
    yield ("Grad-CAM", lambda: course.grad_cam(model, x, targets, layer, batch_size=n),
           lambda: grad_cam_peer(x, targets=[ClassifierOutputTarget(t) for t in targets]),
           "pytorch-grad-cam GradCAM")
    yield ("SmoothGrad n=50", lambda: course.smoothgrad(
               model, x, targets, noise_level=0.15, n_samples=50,
               batch_size=samples_per_pass * n, progress=False),
           lambda: NoiseTunnel(Saliency(model)).attribute(
               x, nt_type="smoothgrad", nt_samples=50, nt_samples_batch_size=samples_per_pass,
               stdevs=0.15, target=targets, abs=False), "Captum NoiseTunnel(Saliency)")
    yield ("IG 50 steps", lambda: course.integrated_gradients(
               model, x, targets, steps=50, batch_size=samples_per_pass * n, progress=False),
           lambda: IntegratedGradients(model).attribute(
               x, target=targets, n_steps=50, internal_batch_size=samples_per_pass * n),
           "Captum IntegratedGradients")
    pool = torch.stack([torch.zeros_like(x[0]), torch.full_like(x[0], 0.5), x[0].flip(-1),
                        x[0].flip(-2)])  # four baselines shared by every image
    yield ("Expected Gradients n=50", lambda: course.expected_gradients(
               model, x, targets, baselines=pool, n_samples=50, batch_size=samples_per_pass * n,
               progress=False),
           lambda: captum_gradient_shap_in_chunks(model, x, pool, targets, 50, samples_per_pass),
           "Captum GradientShap")
    yield ("occlusion 32/16", lambda: course.occlusion(
               model, x, targets, patch=32, stride=16, fill=0.5, batch_size=32, progress=False),
           lambda: Occlusion(model).attribute(
               x, target=targets, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16),
               baselines=0.5, perturbations_per_eval=32), "Captum Occlusion")
    yield from superpixel_pairs(model, x, targets)


def lime_coalition_kernel(original, perturbed, coalition, **kwargs) -> float:
    """LIME's image kernel for Captum: exp(−d²/2·0.25²), d the coalition's cosine distance."""
    distance = 1 - (coalition.double().mean()).sqrt()
    return float(torch.exp(-distance ** 2 / (2 * 0.25 ** 2)))


def superpixel_pairs(model: torch.nn.Module, x: torch.Tensor, targets: list[int]):
    """LIME, KernelSHAP and exact Shapley values against Captum: the same superpixels,
    fill, number of coalitions per image and images per forward pass (RISE has no peer)."""
    warnings.filterwarnings("ignore", message="You are providing multiple inputs")
    segments = course.superpixels(x, n_segments=50)
    four = course.grid_segments(*x.shape[-2:], 2, 2).expand(len(x), -1, -1).contiguous()
    yield ("LIME 200 samples", lambda: course.lime(
               model, x, targets, segments, n_samples=200, batch_size=32, progress=False),
           lambda: Lime(model, interpretable_model=SkLearnRidge(alpha=1.0),
                        similarity_func=lime_coalition_kernel).attribute(
               x, baselines=0.5, target=targets, feature_mask=segments[:, None], n_samples=200,
               perturbations_per_eval=32), "Captum Lime")
    yield ("KernelSHAP 200 samples", lambda: course.kernel_shap(
               model, x, targets, segments, n_samples=200, batch_size=32, progress=False),
           lambda: KernelShap(model).attribute(
               x, baselines=0.5, target=targets, feature_mask=segments[:, None], n_samples=200,
               perturbations_per_eval=32), "Captum KernelShap")
    yield ("exact Shapley, 4 superpixels", lambda: course.exact_shapley(
               model, x, targets, four, batch_size=32, progress=False),
           lambda: ShapleyValues(model).attribute(
               x, baselines=0.5, target=targets, feature_mask=four[:, None],
               perturbations_per_eval=32), "Captum ShapleyValues (4! orders)")


def captum_gradient_shap_in_chunks(model: torch.nn.Module, x: torch.Tensor, pool: torch.Tensor,
                                   targets: list[int], n_samples: int,
                                   samples_per_call: int) -> torch.Tensor:
    """Captum's GradientShap has no batch knob (all N·n samples go through one pass): call it
    with ``samples_per_call`` samples at a time and average, as a user would."""
    total, done = torch.zeros_like(x), 0
    while done < n_samples:
        k = min(samples_per_call, n_samples - done)
        total += k * GradientShap(model).attribute(x, pool, n_samples=k, target=targets)
        done += k
    return total / n_samples


def captum_forms(model: torch.nn.Module):
    """Captum's LRP and DeepLift need rewritten copies of the same function (BatchNorm folded,
    skip connections as modules, ReLU6 as two ReLUs; tests/relevance_nets.py): (LRP model, a
    function that gives it its rules again — Captum deletes them after each call —, DeepLift
    model)."""
    if isinstance(model, EfficientNetLite0):
        lrp_model, assign_rules = captum_lite0_lrp(model, lambda: EpsilonRule(0.25))
        return lrp_model, assign_rules, relu6_decomposed(model)
    lrp_model = captum_resnet(model)

    def assign_rules() -> None:
        for module in lrp_model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.rule = EpsilonRule(0.25)
            elif isinstance(module, Fresh):
                module.rule = IdentityRule()
    return lrp_model, assign_rules, captum_resnet(model, fold=False)


def relevance_pairs(model: torch.nn.Module, x: torch.Tensor, targets: list[int]):
    """LRP-ε and DeepLIFT: each chunk of images in one pass on both sides (Captum has no knob)."""
    n = len(x)
    lrp_model, assign_rules, deeplift_model = captum_forms(model)

    def captum_lrp():
        assign_rules()
        return LRP(lrp_model).attribute(x, target=targets)

    yield ("LRP ε = 0.25", lambda: course.lrp(model, x, targets, Epsilon(0.25), batch_size=n,
                                              progress=False), captum_lrp, "Captum LRP")
    yield ("DeepLIFT (black)", lambda: course.deeplift(model, x, targets, batch_size=n,
                                                       progress=False),
           lambda: DeepLift(deeplift_model).attribute(x, baselines=torch.zeros_like(x),
                                                      target=targets), "Captum DeepLift")


# The explorer's settings in notebook 04 (keep in sync with its explorer cell).
EXPLORER_SETTINGS = {"batch_size": 4, "first_chunk": 1, "cache_mb": 80}


def explorer_latency() -> dict[str, float]:
    """Slider latency of the explorer with notebook 04's settings, as in a live kernel.

    Each request runs in the explorer's worker thread (``background=True``), as a slider
    move does in Jupyter: the first picture of a new σ (after the first chunk), the full
    n = 50, and a move served from the cache (a smaller n at the same σ). Best of three σ.
    """
    model = course.load_efficientnet_lite0()
    photos = dict(zip(course.SAMPLE_PHOTOS, course.load_photos()))
    explorer = course.SmoothGradExplorer(model, photos, background=True, **EXPLORER_SETTINGS)
    target = explorer.class_picker.value
    explorer.show("chelsea", target, 5, 2)  # warm-up
    first, full, cached = [], [], []
    for noise in (20, 25, 30):
        number = explorer.request("chelsea", target, noise, 50)
        explorer.wait()
        frames = [f for f in explorer.frames if f.request == number]
        first.append(frames[0].seconds)
        full.append(frames[-1].seconds)
        number = explorer.request("chelsea", target, noise, 30)
        explorer.wait()
        cached.append([f for f in explorer.frames if f.request == number][-1].seconds)
    return {"first_picture_s": min(first), "full_n50_s": min(full), "cached_s": min(cached)}


def print_explorer_latency() -> None:
    latency = explorer_latency()
    print(f"\nSmoothGrad explorer (EfficientNet-Lite0, batch_size="
          f"{EXPLORER_SETTINGS['batch_size']}, {torch.get_num_threads()} threads): a new σ draws "
          f"its first picture after {latency['first_picture_s']:.2f} s and n = 50 after "
          f"{latency['full_n50_s']:.2f} s; a move served from the cache redraws in "
          f"{latency['cached_s'] * 1000:.0f} ms (best of 3).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 1 only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--notebooks", action="store_true",
                        help="also execute every notebook: time and peak kernel memory")
    parser.add_argument("--explorer", action="store_true",
                        help="only the SmoothGrad explorer's slider latency")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="only the pairs whose method name contains one of these")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")  # Captum warns about its hooks on every call
    if args.explorer:
        print_explorer_latency()
        return
    torch.manual_seed(0)
    lite0 = course.load_efficientnet_lite0()
    resnet18 = torchvision.models.resnet18(weights=None).eval()
    photos = course.load_photos()
    if args.size != 224:
        photos = torch.nn.functional.interpolate(photos, size=(args.size, args.size),
                                                 mode="bilinear", antialias=True)
    batches = (1,) if args.quick else (1, 8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| model | batch | method | course_lib (s) | peer | peer (s) | ratio |")
    print("|---|---:|---|---:|---|---:|---:|")
    for model_name, model, layer in (("EfficientNet-Lite0", lite0, lite0.head),
                                     ("ResNet-18", resnet18, resnet18.layer4)):
        for n in batches:
            x = photos.repeat(2, 1, 1, 1)[:n].contiguous()
            targets = [285, 967, 417, 657, 285, 967, 417, 657][:n]
            # one after the other: each generator's peers (hooks, copies) go when it ends
            for method, ours, theirs, peer in itertools.chain(
                    pairs(model, layer, x, targets), relevance_pairs(model, x, targets)):
                if args.only and not any(word in method for word in args.only):
                    continue
                ours_s, theirs_s = best_times(ours, theirs, args.repeats)
                print(f"| {model_name} | {n} | {method} | {ours_s:.3f} | {peer} | "
                      f"{theirs_s:.3f} | {ours_s / theirs_s:.2f} |", flush=True)
    if args.only:
        return
    print_explorer_latency()
    if args.notebooks:
        print("\nNotebooks (each in a fresh kernel):", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("run_notebooks.py")),
                        "--check", "--measure"], check=True)


if __name__ == "__main__":
    main()
