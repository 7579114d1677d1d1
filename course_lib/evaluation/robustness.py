r"""Two numbers from Yeh et al. 2019: max-sensitivity and infidelity.

C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar, "On the (in)fidelity
and sensitivity of explanations", NeurIPS 2019, arXiv:1901.09392.

**Max-sensitivity** — how much can the map change if the input changes a little?

.. math:: \mathrm{SENS}_{\max}(\Phi, x) = \max_{\|y - x\|_\infty \le r}
          \frac{\|\Phi(y) - \Phi(x)\|_2}{\|\Phi(x)\|_2}

estimated, as in the paper, by Monte Carlo: ``n_samples`` points :math:`y` drawn
uniformly from the :math:`L_\infty` ball of radius :math:`r` (clipped to [0, 1]), the
largest change kept. Divided by :math:`\|\Phi(x)\|` (Quantus's default) so that maps of
different scales compare; lower is more robust. A map that ignores its input (a fixed
random map) scores 0 — robustness alone cannot tell a good map from a useless one.

**Infidelity** — does the map predict what perturbations do to the score?

.. math:: \mathrm{INFD}(\Phi, x) = \mathbb E_{I}\Big[\big(\beta\, I^\top \Phi(x)
          - (z_c(x) - z_c(x - I))\big)^2\Big],
          \qquad \beta = \frac{\mathbb E[I^\top\Phi\,\Delta z]}{\mathbb E[(I^\top\Phi)^2]}

with the scale :math:`\beta` that fits best (the paper's and Captum's ``normalize=True``: a
map's units should not decide). Two kinds of perturbation from the paper:

* **square removal** (``kind="square"``, the default): a random square :math:`S` of
  ``size`` pixels is blacked out, so :math:`\Delta z` is the drop of the score, and the map
  predicts it by its sum over the square, :math:`I = \mathbb 1_S` (Captum's convention for
  attributions that already contain the input, such as gradient × input: for a linear model
  :math:`z = w^\top x` the drop is exactly :math:`\sum_{S} w \odot x`);
* the **noisy baseline** (``kind="gaussian"``): :math:`x - I` with Gaussian
  :math:`I \sim \mathcal N(0, \sigma^2)`, :math:`\sigma` = ``size``, where the gradient
  itself is the first-order predictor. A 2-D map is spread over the
colour channels (:math:`I^\top\Phi = \sum_p \Phi_p \sum_k I_{k,p}`). :func:`infidelity`
returns INFD; :func:`relative_infidelity` divides it by :math:`\mathbb E[\Delta z^2]`,
which gives :math:`1 - \rho^2` with :math:`\rho` the uncentred correlation between the
predicted and the true score changes: 0 = perfect prediction, 1 = none, comparable
across images and models.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.forward import class_scores
from course_lib.model_state import attribution_mode

Explainer = Callable[[torch.Tensor], torch.Tensor]


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def uniform_ball(inputs: torch.Tensor, radius: float, seed: int) -> torch.Tensor:
    """``inputs`` plus noise uniform in [−radius, radius] per value (image ``i``: seed
    ``seed + i``), clipped to [0, 1]."""
    noise = torch.stack([
        torch.rand(inputs.shape[1:], generator=torch.Generator().manual_seed(seed + i))
        for i in range(len(inputs))]).to(inputs.device, inputs.dtype)
    return (inputs + radius * (2 * noise - 1)).clamp(0, 1)


def max_sensitivity(explain: Explainer, inputs: torch.Tensor, radius: float = 0.02,
                    n_samples: int = 8, seed: int = 0, progress: bool = True) -> torch.Tensor:
    r"""Largest relative change of the map over ``n_samples`` random inputs within ``radius``.

    ``explain(images)`` returns the maps ``(N, H, W)`` (or any per-image tensor) of a
    batch; it is called once on ``inputs`` and once per sample. Sample ``s`` of image
    ``i`` is seeded ``seed + 1000 · s + i``. Returns ``(N,)``; a map of zero norm
    counts as changed by its full new norm (divided by 1).
    """
    radius = _check_positive("radius", radius)
    n_samples = _check_count("n_samples", n_samples)
    reference = explain(inputs).detach().flatten(1).double()
    norm = reference.norm(dim=1)
    norm = torch.where(norm > 0, norm, torch.ones_like(norm))
    worst = torch.zeros(len(inputs), dtype=torch.float64, device=reference.device)
    for s in tqdm(range(n_samples), desc="max-sensitivity samples", disable=not progress,
                  leave=False):
        moved = explain(uniform_ball(inputs, radius, seed + 1000 * s)).detach()
        change = (moved.flatten(1).double() - reference).norm(dim=1) / norm
        worst = torch.maximum(worst, change)
    return worst.cpu()


def _project(attribution: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
    r""":math:`I^\top \Phi` per image: ``attribution`` ``(N, 3, H, W)`` or ``(N, H, W)``."""
    if attribution.ndim == 3:
        return (attribution * perturbation.sum(dim=1)).flatten(1).sum(dim=1)
    return (attribution * perturbation).flatten(1).sum(dim=1)


def perturbation(image: torch.Tensor, kind: str, size: float, seed: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One perturbation of ``image`` ``(3, H, W)``: ``(I, perturbed image)`` (module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        noise = size * torch.randn(image.shape, generator=generator).to(image)
        return noise, image - noise
    if kind != "square":
        raise ValueError(f"unknown perturbation {kind!r}; choose 'square' or 'gaussian'")
    side = int(size)
    height, width = image.shape[-2:]
    if side != size or not 1 <= side <= min(height, width):
        raise ValueError(f"the square's size must be an int between 1 and {min(height, width)}"
                         f" pixels, got {size!r}")
    top = int(torch.randint(0, height - side + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - side + 1, (1,), generator=generator))
    indicator = torch.zeros_like(image)
    indicator[:, top:top + side, left:left + side] = 1
    return indicator, image * (1 - indicator)


def score_changes(model: nn.Module, inputs: torch.Tensor, target: Target, n_samples: int = 32,
                  kind: str = "square", size: float = 16, seed: int = 0, batch_size: int = 32,
                  progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The perturbations :math:`I` and the score changes :math:`\Delta z` for infidelity.

    ``kind="square"``: a random square of ``size`` pixels blacked out, :math:`I` its
    indicator; ``kind="gaussian"``: :math:`x - I`, :math:`I` Gaussian noise of standard
    deviation ``size``.
    Returns ``(perturbations (N, S, 3, H, W), changes (N, S))``; sample ``s`` of image
    ``i`` is seeded ``seed + 1000 · s + i``. They depend on the model only, so one call
    serves every method.
    """
    model, x, classes = prepare(model, inputs, target)
    n_samples = _check_count("n_samples", n_samples)
    _check_positive("size", size)
    batch_size = check_batch_size(batch_size)
    pairs = [[perturbation(x[i], kind, size, seed + 1000 * s + i) for s in range(n_samples)]
             for i in range(len(x))]
    perturbations = torch.stack([torch.stack([p for p, _ in row]) for row in pairs])
    perturbed = [[image for _, image in row] for row in pairs]
    jobs = [(i, s) for i in range(len(x)) for s in range(n_samples)]
    changes = torch.empty(len(x), n_samples, dtype=torch.float64)
    with attribution_mode(model), tqdm(total=len(jobs) + len(x), desc="infidelity passes",
                                       disable=not progress, leave=False) as bar:
        logits = model(x).detach()
        check_target_range(classes, logits.shape[1])
        reference = logits.gather(1, classes[:, None])[:, 0].double().cpu()
        bar.update(len(x))
        for first in range(0, len(jobs), batch_size):
            chunk = jobs[first:first + batch_size]
            rows = torch.tensor([i for i, _ in chunk], device=x.device)
            images = torch.stack([perturbed[i][s] for i, s in chunk])
            values = class_scores(model, images, classes[rows]).double().cpu()
            for (i, s), value in zip(chunk, values):
                changes[i, s] = reference[i] - value
            bar.update(len(chunk))
    return perturbations.cpu(), changes


def infidelity(attribution: torch.Tensor, perturbations: torch.Tensor, changes: torch.Tensor,
               normalize: bool = True) -> torch.Tensor:
    r"""Yeh et al.'s infidelity per image, ``(N,)``, from :func:`score_changes`' output.

    ``normalize=True`` rescales the attribution by the best :math:`\beta` first (as
    Captum's ``infidelity(..., normalize=True)``).
    """
    if perturbations.ndim != 5 or changes.shape != perturbations.shape[:2]:
        raise ValueError("pass the perturbations (N, S, 3, H, W) and changes (N, S) of "
                         "score_changes()")
    attribution = attribution.detach().double().cpu()
    if attribution.shape[0] != perturbations.shape[0] or \
            tuple(attribution.shape[-2:]) != tuple(perturbations.shape[-2:]):
        raise ValueError(f"attribution {tuple(attribution.shape)} does not match the "
                         f"perturbed images {tuple(perturbations.shape)}")
    predicted = torch.stack([_project(attribution, perturbations[:, s].double())
                             for s in range(perturbations.shape[1])], dim=1)   # (N, S)
    if normalize:
        denominator = predicted.pow(2).mean(dim=1)
        beta = (predicted * changes).mean(dim=1) / torch.where(denominator > 0, denominator, 1)
        predicted = beta[:, None] * predicted
    return (predicted - changes).pow(2).mean(dim=1)


def relative_infidelity(attribution: torch.Tensor, perturbations: torch.Tensor,
                        changes: torch.Tensor) -> torch.Tensor:
    r"""Normalised infidelity divided by :math:`\mathbb E[\Delta z^2]`: in [0, 1], ``(N,)``."""
    energy = changes.pow(2).mean(dim=1)
    return infidelity(attribution, perturbations, changes) / torch.where(energy > 0, energy, 1)
