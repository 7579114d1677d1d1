"""Speed of course_lib's methods against Captum and pytorch-grad-cam, on this machine.

    python tests/benchmark.py              # both models, batch 1 and 8, and the explorer
    python tests/benchmark.py --quick      # batch 1 only
    python tests/benchmark.py --notebooks  # also time every notebook (make benchmark)
    python tests/benchmark.py --explorer   # only the explorer's slider latency

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
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from captum.attr import (GradientShap, GuidedBackprop, IntegratedGradients, LayerAttribution,
                         LayerGradCam, NoiseTunnel, Occlusion, Saliency)
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import course_lib as course


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


# The explorer's settings in notebook 04 (keep in sync with its explorer cell).
EXPLORER_SETTINGS = {"batch_size": 1, "first_chunk": 1, "cache_mb": 80}


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
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.explorer:
        print_explorer_latency()
        return
    torch.manual_seed(0)
    lite0 = course.load_efficientnet_lite0()
    resnet18 = torchvision.models.resnet18(weights=None).eval()
    photos = course.load_photos()
    batches = (1,) if args.quick else (1, 8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| model | batch | method | course_lib (s) | peer | peer (s) | ratio |")
    print("|---|---:|---|---:|---|---:|---:|")
    for model_name, model, layer in (("EfficientNet-Lite0", lite0, lite0.head),
                                     ("ResNet-18", resnet18, resnet18.layer4)):
        for n in batches:
            x = photos.repeat(2, 1, 1, 1)[:n].contiguous()
            targets = [285, 967, 417, 657, 285, 967, 417, 657][:n]
            for method, ours, theirs, peer in pairs(model, layer, x, targets):
                ours_s, theirs_s = best_times(ours, theirs, args.repeats)
                print(f"| {model_name} | {n} | {method} | {ours_s:.3f} | {peer} | "
                      f"{theirs_s:.3f} | {ours_s / theirs_s:.2f} |", flush=True)
    print_explorer_latency()
    if args.notebooks:
        print("\nNotebooks (each in a fresh kernel):", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("run_notebooks.py")),
                        "--check", "--measure"], check=True)


if __name__ == "__main__":
    main()
