r"""Expected Gradients and GradientSHAP: Integrated Gradients averaged over many baselines.

**Expected Gradients** (Erion, Janizek, Sturmfels, Lundberg & Lee 2021, "Improving performance
of deep learning models with axiomatic attribution priors and expected gradients", Nature
Machine Intelligence 3, arXiv:1906.10670) replaces the single baseline of Integrated Gradients
by a distribution :math:`D` of baselines and takes the expectation of IG over it:

.. math::

    \mathrm{EG}_i(x) = \mathbb{E}_{x' \sim D}\big[\mathrm{IG}_i(x; x')\big]
    = \mathbb{E}_{x' \sim D,\ \alpha \sim U(0, 1)}\Big[(x_i - x'_i)\,
      \frac{\partial z_c}{\partial x_i}\big(x' + \alpha (x - x')\big)\Big]

(the integral over :math:`\alpha` is itself an expectation). The Monte-Carlo estimate draws
one baseline and one :math:`\alpha` per sample, ``n_samples`` of them per image, and averages.
It is **complete in expectation**: :math:`\mathbb{E}[\sum_i \mathrm{EG}_i] = z_c(x) -
\mathbb{E}_{x'}[z_c(x')]` (:func:`expected_completeness_gap` measures the difference).

**GradientSHAP** (Lundberg & Lee 2017, "A unified approach to interpreting model predictions",
NeurIPS, arXiv:1705.07874; SHAP's ``GradientExplainer`` and Captum's ``GradientShap``) also
adds Gaussian noise to the input, :math:`\tilde x_s = x + \varepsilon_s`,
:math:`\varepsilon_s \sim \mathcal N(0, \sigma^2 I)`, and averages
:math:`(\tilde x_s - x'_s) \odot \nabla z_c\big(\alpha_s \tilde x_s + (1 - \alpha_s) x'_s\big)`.
With :math:`\sigma = 0` it is Expected Gradients. As in :func:`course_lib.smoothgrad`,
:math:`\sigma` = ``noise_level`` × (max − min) of each image; Captum's ``stdevs`` is absolute.

**Baselines.** ``"uniform"`` draws a fresh image of uniform noise in [0, 1] for every sample;
a tensor ``(3, H, W)`` is one baseline (EG is then IG with random :math:`\alpha`);
``(K, 3, H, W)`` is a pool shared by every image (Captum's convention: a 4-D tensor is a pool,
even when K equals the number of images); ``(N, K, 3, H, W)`` gives each image its own pool
(e.g. blurred copies of that image). A baseline is drawn from the pool uniformly, with
replacement.

**The draws.** Sample ``s`` of image ``i`` has its own random stream, so the result does not
depend on ``batch_size`` (how many samples share a pass) and never touches the global random
state: ``np.random.SeedSequence([seed, i, s]).generate_state(2, dtype=np.uint64)`` gives two
seeds. The first seeds a CPU ``torch.Generator`` that draws the pool index
(``torch.randint(K, ())``, only when K > 1), then :math:`\alpha` (``torch.rand((),
dtype=torch.float64)``); the second seeds a generator on the model's device that draws the
uniform baseline (``torch.rand(3, H, W)``, for ``"uniform"``), then the unit noise
(``torch.randn(3, H, W)``, multiplied by :math:`\sigma`, only when ``noise_level > 0``). The
path point is :math:`\alpha \tilde x + (1 - \alpha) x'`, written as Captum writes it, so the
two agree to the last bit when fed the same draws.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.gradients import class_score_gradient
from course_lib.methods.smoothgrad import check_noise, check_seed, noise_sigma
from course_lib.model_state import attribution_mode

BaselineDistribution = Literal["uniform"] | torch.Tensor


def baseline_pool(baselines: object, x: torch.Tensor) -> torch.Tensor | None:
    """The baselines as pools ``(1 or N, K, 3, H, W)`` on ``x``'s device; None for uniform noise."""
    if isinstance(baselines, str):
        if baselines == "uniform":
            return None
        raise ValueError(f"unknown baseline distribution {baselines!r}; use 'uniform' or a "
                         "tensor of baselines")
    if not isinstance(baselines, torch.Tensor):
        raise TypeError("baselines must be 'uniform' or a tensor of baseline images, got "
                        f"{type(baselines).__name__}")
    image = tuple(x.shape[1:])
    shape = tuple(baselines.shape)
    if shape == image:
        pool = baselines[None, None]
    elif len(shape) == 4 and shape[1:] == image:
        pool = baselines[None]
    elif len(shape) == 5 and shape[2:] == image and shape[0] == len(x):
        pool = baselines
    else:
        raise ValueError(
            f"baselines has shape {shape}; expected one baseline {image}, a pool (K, "
            f"{', '.join(map(str, image))}) shared by every image, or one pool per image "
            f"({len(x)}, K, {', '.join(map(str, image))})")
    if pool.shape[1] == 0:
        raise ValueError("baselines is an empty pool (K = 0)")
    if not pool.is_floating_point() or not torch.isfinite(pool).all():
        raise ValueError("baselines must be a finite floating-point tensor")
    return pool.to(x.device, x.dtype)


def sample_seeds(seed: int, image: int, sample: int) -> tuple[int, int]:
    """The two seeds of sample ``sample`` of image ``image`` (see the module docstring)."""
    first, second = np.random.SeedSequence([seed, image, sample]).generate_state(
        2, dtype=np.uint64)
    return int(first), int(second)


def _path_samples(x: torch.Tensor, pool: torch.Tensor | None, sigma: torch.Tensor,
                  noise: bool, seed: int, items: range, n_samples: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For the flat sample numbers ``items`` (image-major): image index, α, end and start."""
    images, alphas, ends, starts = [], [], [], []
    for item in items:
        i, s = divmod(item, n_samples)
        cpu_seed, device_seed = sample_seeds(seed, i, s)
        cpu = torch.Generator().manual_seed(cpu_seed)
        device = torch.Generator(x.device).manual_seed(device_seed)
        if pool is not None:
            k = pool.shape[1]
            index = int(torch.randint(k, (), generator=cpu)) if k > 1 else 0
        alphas.append(float(torch.rand((), generator=cpu, dtype=torch.float64)))
        if pool is None:
            starts.append(torch.rand(x.shape[1:], generator=device, device=x.device,
                                     dtype=x.dtype))
        else:
            starts.append(pool[i if len(pool) > 1 else 0, index])
        if noise:
            ends.append(x[i] + sigma[i] * torch.randn(x.shape[1:], generator=device,
                                                      device=x.device, dtype=x.dtype))
        else:
            ends.append(x[i])
        images.append(i)
    return (torch.tensor(images, device=x.device),
            torch.tensor(alphas, device=x.device, dtype=x.dtype)[:, None, None, None],
            torch.stack(ends), torch.stack(starts))


def gradient_shap(model: nn.Module, inputs: torch.Tensor, target: Target,
                  baselines: BaselineDistribution = "uniform", n_samples: int = 50,
                  noise_level: float = 0.0, batch_size: int = 4, seed: int = 0,
                  progress: bool = True) -> torch.Tensor:
    r"""GradientSHAP, ``(N, 3, H, W)``: the mean over ``n_samples`` draws of
    :math:`(\tilde x - x') \odot \nabla z_c(\alpha \tilde x + (1 - \alpha) x')`.

    ``noise_level`` is :math:`\sigma` as a fraction of each image's pixel range (0, the
    default of Captum and SHAP, gives Expected Gradients); ``batch_size`` is the number of
    samples per forward/backward pass (the memory knob), whichever images they belong to.
    """
    check_noise(noise_level, n_samples)
    seed = check_seed(seed)
    model, x, classes = prepare(model, inputs, target)
    pool = baseline_pool(baselines, x)
    batch_size = check_batch_size(batch_size)
    sigma = noise_sigma(x, noise_level)
    total = torch.zeros_like(x)
    count = len(x) * n_samples
    with attribution_mode(model), tqdm(total=count, desc="path samples", disable=not progress,
                                       leave=False) as bar:
        for start in range(0, count, batch_size):
            items = range(start, min(start + batch_size, count))
            images, alpha, end, begin = _path_samples(x, pool, sigma, noise_level > 0, seed,
                                                      items, n_samples)
            gradient = class_score_gradient(model, alpha * end + (1 - alpha) * begin,
                                            classes[images])
            total.index_add_(0, images, (end - begin) * gradient)
            bar.update(len(items))
    return (total / n_samples).to(inputs.device)


def expected_gradients(model: nn.Module, inputs: torch.Tensor, target: Target,
                       baselines: BaselineDistribution = "uniform", n_samples: int = 50,
                       batch_size: int = 4, seed: int = 0, progress: bool = True
                       ) -> torch.Tensor:
    r"""Expected Gradients, ``(N, 3, H, W)``: the mean over ``n_samples`` draws
    :math:`x' \sim` ``baselines``, :math:`\alpha \sim U(0, 1)` of
    :math:`(x - x') \odot \nabla z_c(\alpha x + (1 - \alpha) x')`.

    ``batch_size`` is the number of samples per forward/backward pass (the memory knob).
    """
    return gradient_shap(model, inputs, target, baselines, n_samples, noise_level=0.0,
                         batch_size=batch_size, seed=seed, progress=progress)


@torch.no_grad()
def expected_completeness_gap(model: nn.Module, inputs: torch.Tensor,
                              attribution: torch.Tensor, target: Target,
                              baselines: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    r""":math:`\sum_i R_i - \big(z_c(x) - \frac1K \sum_k z_c(x'_k)\big)` per image, ``(N,)``.

    Zero in expectation for Expected Gradients over a pool of K baselines (each drawn with
    probability 1/K); the Monte-Carlo estimate misses it by a random amount that shrinks like
    :math:`1/\sqrt{n}`.
    """
    model, x, classes = prepare(model, inputs, target)
    if isinstance(baselines, str):
        raise TypeError("the expected score of a baseline distribution is known only for a "
                        "pool of baselines (a tensor), not for 'uniform'")
    pool = baseline_pool(baselines, x)
    batch_size = check_batch_size(batch_size)
    with attribution_mode(model):
        scores = torch.cat([model(chunk) for chunk in x.split(batch_size)])
        check_target_range(classes, scores.shape[1])
        score = scores.gather(1, classes[:, None])[:, 0]
        flat = pool.flatten(0, 1)
        pool_logits = torch.cat([model(chunk) for chunk in flat.split(batch_size)])
        pool_logits = pool_logits.view(len(pool), pool.shape[1], -1)
        if len(pool) == 1:
            pool_logits = pool_logits.expand(len(x), -1, -1)
        baseline_score = pool_logits.gather(
            2, classes[:, None, None].expand(-1, pool.shape[1], 1))[..., 0].mean(dim=1)
    return attribution.to(x.device).flatten(1).sum(dim=1) - (score - baseline_score)
