r"""SmoothGrad, SmoothGrad² and VarGrad: gradients averaged over noisy copies of the image.

Smilkov et al. 2017 ("SmoothGrad: removing noise by adding noise", arXiv:1706.03825):

.. math::

    \hat M_c(x) = \frac{1}{n} \sum_{s=0}^{n-1} \nabla z_c\big(x + \sigma\,\varepsilon_s\big),
    \qquad \varepsilon_s \sim \mathcal N(0, I),
    \qquad \sigma = \text{noise level} \cdot (\max x - \min x)

per image. SmoothGrad² averages the squared gradients, VarGrad (Adebayo et al.
2018) takes their variance :math:`\frac1n\sum g_s^2 - (\frac1n\sum g_s)^2`.

**The noise contract.** Sample ``s`` of image ``i`` uses the noise
:math:`\sigma_i\,\varepsilon_{s,i}`, where :math:`\varepsilon_{s,i}` is the ``i``-th
standard-normal draw of one image's shape from a generator of its own for sample ``s``,
seeded from the pair ``(seed, s)`` (:func:`sample_generator`). The noise therefore
depends only on ``seed``, the sample index, the image index and σ — never on how the
samples are grouped into passes — so ``batch_size`` is only a memory knob: any value
gives the same map up to float rounding. The same :math:`\varepsilon_s` serve every
noise level (σ only scales them), and any range of samples can be computed on its own
(:func:`noisy_gradients`), which is what the SmoothGrad explorer does. The noise is
drawn on the CPU and then moved to the model's device, so a GPU gives the same map.

Captum's ``NoiseTunnel`` draws its noise from the global generator with an absolute
``stdevs``; the tests feed it this noise to compare the two exactly.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, prepare
from course_lib.methods.gradients import class_score_gradient
from course_lib.model_state import attribution_mode

Statistic = Literal["smoothgrad", "smoothgrad_sq", "vargrad"]
STATISTICS: tuple[str, ...] = ("smoothgrad", "smoothgrad_sq", "vargrad")


def check_noise(noise_level: object, n_samples: object) -> None:
    """``noise_level`` a fraction of the pixel range in [0, 1]; ``n_samples`` a positive int."""
    if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float)):
        raise TypeError(f"noise_level must be a number, got {type(noise_level).__name__}")
    if not 0 <= noise_level <= 1:
        raise ValueError(f"noise_level is a fraction of the pixel range, in [0, 1]; got "
                         f"{noise_level} (0.15 means 15 %)")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")


def check_seed(seed: object) -> int:
    """``seed`` must be a non-negative ``int``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return int(seed)


def noise_sigma(inputs: torch.Tensor, noise_level: float) -> torch.Tensor:
    """Per-image σ = noise_level · (max − min), shape ``(N,)``."""
    flat = inputs.flatten(1)
    return noise_level * (flat.amax(dim=1) - flat.amin(dim=1))


def sample_generator(seed: int, sample: int) -> torch.Generator:
    """The CPU generator of sample ``sample``: its own stream, seeded from ``(seed, sample)``.

    PyTorch's CPU generator keeps only the low 32 bits of its seed, so the pair is mixed
    into 32 bits by NumPy's ``SeedSequence``, which is made for deriving independent
    streams from related seeds.
    """
    mixed = np.random.SeedSequence([seed, sample]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(mixed))


def sample_noise(inputs: torch.Tensor, sigma: torch.Tensor, samples: range,
                 seed: int) -> torch.Tensor:
    r"""The noise :math:`\sigma_i\,\varepsilon_{s,i}` for ``s`` in ``samples``: ``(N, k, C, H, W)``.

    For each sample ``s``, image ``i`` gets the ``i``-th draw of shape ``(C, H, W)`` from
    :func:`sample_generator` ``(seed, s)``. On the device and dtype of ``inputs``.
    """
    shape = inputs.shape[1:]
    standard = torch.empty(len(inputs), len(samples), *shape)
    for j, s in enumerate(samples):
        generator = sample_generator(seed, s)
        for i in range(len(inputs)):
            standard[i, j] = torch.randn(shape, generator=generator)
    standard = standard.to(device=inputs.device, dtype=inputs.dtype)
    return sigma.to(standard)[:, None, None, None, None] * standard


def noisy_gradients(model: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                    sigma: torch.Tensor, samples: range, seed: int) -> torch.Tensor:
    """Gradients at the noisy copies of ``samples``, ``(N, k, 3, H, W)``, in one pass.

    Copy ``(i, s)`` is ``x[i] + sample_noise(...)[i, s]``; the ``N·k`` copies go through
    the model together, image-major. Call inside
    :func:`course_lib.model_state.attribution_mode`; arguments already checked.
    """
    k = len(samples)
    noisy = (x[:, None] + sample_noise(x, sigma, samples, seed)).flatten(0, 1)
    gradient = class_score_gradient(model, noisy, classes.repeat_interleave(k))
    return gradient.view(len(x), k, *x.shape[1:])


def reduce_samples(total: torch.Tensor, total_sq: torch.Tensor, n: int,
                   statistic: str) -> torch.Tensor:
    """The statistic from the sums of the gradients and of their squares over ``n`` samples."""
    mean, mean_sq = total / n, total_sq / n
    if statistic == "smoothgrad":
        return mean
    if statistic == "smoothgrad_sq":
        return mean_sq
    if statistic == "vargrad":
        return mean_sq - mean.pow(2)
    raise ValueError(f"unknown statistic {statistic!r}; choose one of {STATISTICS}")


def smoothgrad(model: nn.Module, inputs: torch.Tensor, target: Target,
               noise_level: float = 0.15, n_samples: int = 50,
               statistic: Statistic = "smoothgrad", batch_size: int = 4, seed: int = 0,
               progress: bool = True) -> torch.Tensor:
    """SmoothGrad (default), SmoothGrad² or VarGrad; returns ``(N, 3, H, W)``.

    ``noise_level`` is σ as a fraction of each image's pixel range (Smilkov et al.
    recommend 0.10–0.20). ``batch_size`` is the number of noisy images per
    forward/backward pass, ``max(1, batch_size // N)`` copies of each image: the memory
    knob (about 110 MB per 224 × 224 image for EfficientNet-Lite0). It does not change
    the result (see the noise contract in the module docstring).
    """
    check_noise(noise_level, n_samples)
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose one of {STATISTICS}")
    seed = check_seed(seed)
    model, x, classes = prepare(model, inputs, target)
    samples_per_pass = max(1, check_batch_size(batch_size) // len(x))
    sigma = noise_sigma(x, noise_level)
    total = torch.zeros_like(x)
    total_sq = torch.zeros_like(x)
    with attribution_mode(model), tqdm(total=n_samples, desc="SmoothGrad samples",
                                       disable=not progress, leave=False) as bar:
        for start in range(0, n_samples, samples_per_pass):
            samples = range(start, min(start + samples_per_pass, n_samples))
            gradients = noisy_gradients(model, x, classes, sigma, samples, seed)
            total += gradients.sum(dim=1)
            total_sq += gradients.pow(2).sum(dim=1)
            bar.update(len(samples))
    return reduce_samples(total, total_sq, n_samples, statistic).to(inputs.device)
