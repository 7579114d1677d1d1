r"""SmoothGrad, SmoothGrad² and VarGrad: gradients averaged over noisy copies of the image.

Smilkov et al. 2017 ("SmoothGrad: removing noise by adding noise", arXiv:1706.03825):

.. math::

    \hat M_c(x) = \frac{1}{n} \sum_{s=1}^{n} \nabla z_c\big(x + \varepsilon_s\big),
    \qquad \varepsilon_s \sim \mathcal N(0, \sigma^2 I),
    \qquad \sigma = \text{noise level} \cdot (\max x - \min x)

per image. SmoothGrad² averages the squared gradients, VarGrad (Adebayo et al.
2018) takes their variance :math:`\frac1n\sum g_s^2 - (\frac1n\sum g_s)^2`.

The noisy copies go through the model ``batch_size`` at a time. The noise is
drawn from a private generator seeded by ``seed``, in the same order as Captum's
``NoiseTunnel`` with ``nt_samples_batch_size = batch_size // N``, so the two agree
exactly for the same seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

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


def noise_sigma(inputs: torch.Tensor, noise_level: float) -> torch.Tensor:
    """Per-image σ = noise_level · (max − min), shape ``(N,)``."""
    flat = inputs.flatten(1)
    return noise_level * (flat.amax(dim=1) - flat.amin(dim=1))


def noisy_gradients(model: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                    sigma: torch.Tensor, n_samples: int, samples_per_pass: int,
                    generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Yield gradients at noisy copies, ``(N, k, 3, H, W)`` per pass, ``n_samples`` in all.

    Call inside :func:`course_lib.model_state.attribution_mode`; arguments checked.
    """
    done = 0
    while done < n_samples:
        k = min(samples_per_pass, n_samples - done)
        # Image-major order (image 0's k copies first), like Captum's NoiseTunnel.
        std = sigma.repeat_interleave(k)[:, None, None, None].expand(
            len(x) * k, *x.shape[1:]).contiguous()
        noisy = x.repeat_interleave(k, dim=0) + torch.normal(0.0, std, generator=generator)
        gradient = class_score_gradient(model, noisy, classes.repeat_interleave(k))
        yield gradient.view(len(x), k, *x.shape[1:])
        done += k


def smoothgrad(model: nn.Module, inputs: torch.Tensor, target: Target,
               noise_level: float = 0.15, n_samples: int = 50,
               statistic: Statistic = "smoothgrad", batch_size: int = 16, seed: int = 0,
               progress: bool = True) -> torch.Tensor:
    """SmoothGrad (default), SmoothGrad² or VarGrad; returns ``(N, 3, H, W)``.

    ``noise_level`` is σ as a fraction of each image's pixel range (Smilkov et al.
    recommend 0.10–0.20); ``batch_size`` is the number of noisy images per
    forward/backward pass (the memory knob: about 110 MB per image here).
    """
    check_noise(noise_level, n_samples)
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose one of {STATISTICS}")
    model, x, classes = prepare(model, inputs, target)
    samples_per_pass = max(1, check_batch_size(batch_size) // len(x))
    generator = torch.Generator(x.device).manual_seed(seed)
    total = torch.zeros_like(x)
    total_sq = torch.zeros_like(x)
    with attribution_mode(model), tqdm(total=n_samples, desc="SmoothGrad samples",
                                       disable=not progress, leave=False) as bar:
        for gradients in noisy_gradients(model, x, classes, noise_sigma(x, noise_level),
                                         n_samples, samples_per_pass, generator):
            total += gradients.sum(dim=1)
            total_sq += gradients.pow(2).sum(dim=1)
            bar.update(gradients.shape[1])
    mean, mean_sq = total / n_samples, total_sq / n_samples
    result = {"smoothgrad": mean, "smoothgrad_sq": mean_sq,
              "vargrad": mean_sq - mean.pow(2)}[statistic]
    return result.to(inputs.device)
