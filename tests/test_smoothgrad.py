"""SmoothGrad, SmoothGrad², VarGrad: the noise contract, Captum's NoiseTunnel, closed forms.

The noise contract (``course_lib.methods.smoothgrad``), written out again here from its
documentation: sample ``s`` of image ``i`` is ``x_i + σ_i ε_{s,i}`` with
``σ_i = noise_level · (max x_i − min x_i)`` and ``ε_{s,i}`` the ``i``-th standard-normal
draw of shape ``(3, H, W)`` from a CPU ``torch.Generator`` seeded with NumPy's
``SeedSequence([seed, s]).generate_state(1)[0]``. ``batch_size`` only groups samples into
passes, so it must not change the result.

Convention mapping for Captum 0.9.0: ``NoiseTunnel`` draws its noise with ``torch.normal``
from the global generator, with one absolute ``stdevs`` per input tensor; ours is a fraction
of each image's own range. The comparison replaces ``NoiseTunnel._add_noise_to_input`` by
a function that returns *our* noisy copies in Captum's layout (image-major within each
chunk of ``nt_samples_batch_size`` samples), so both average gradients at identical
points, and ``Saliency`` is called with ``abs=False``.

The images span different ranges that are not [0, 1] (a σ that ignores the range, or uses
the batch's range, gives other noise) and have odd, non-square sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import NoiseTunnel, Saliency
from torch import nn

import course_lib as course
from test_against_captum import TARGETS

RANGES = [(0.2, 0.7), (0.0, 0.4), (0.3, 1.5)]


def rescaled(images: torch.Tensor, ranges=RANGES) -> torch.Tensor:
    """Each image stretched to span exactly its range."""
    out = []
    for image, (low, high) in zip(images, ranges):
        unit = (image - image.min()) / (image.max() - image.min())
        out.append(low + (high - low) * unit)
    return torch.stack(out)


@pytest.fixture(scope="module")
def ranged_photos(photos) -> torch.Tensor:
    """The three photos cropped to 91 × 77 pixels, spanning [0.2, 0.7], [0, 0.4], [0.3, 1.5]."""
    return rescaled(photos[:, :, 40:131, 60:137])


def contract_noise(x: torch.Tensor, noise_level: float, n: int, seed: int) -> torch.Tensor:
    """σ_i ε_{s,i} for s < n, shape (N, n, 3, H, W): the contract, written independently.

    σ_i is computed in the images' dtype, as the library does: the gradient of a ReLU network
    jumps at its kinks, so noise that differs in the last bit already changes a few entries.
    """
    sigma = [noise_level * (image.max() - image.min()) for image in x]
    noise = torch.empty(len(x), n, *x.shape[1:])
    for s in range(n):
        seed_s = int(np.random.SeedSequence([seed, s]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed_s)
        for i in range(len(x)):
            noise[i, s] = sigma[i] * torch.randn(x.shape[1:], generator=generator)
    return noise


def gradient(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """∂z_c/∂x for each image, written out here (not course_lib's helper)."""
    x = x.detach().clone().requires_grad_(True)
    target = torch.as_tensor(target).expand(len(x))
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
    return g


# ---- Captum, fed the same noise -------------------------------------------------------------

@pytest.mark.parametrize("statistic", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_matches_captum_noise_tunnel_on_the_same_noise(any_model, ranged_photos, statistic,
                                                       monkeypatch):
    x, n, level, seed = ranged_photos, 5, 0.2, 7
    noise = contract_noise(x, level, n, seed)
    drawn = 0

    def our_noise(input: torch.Tensor, stdev: float, k: int) -> torch.Tensor:
        nonlocal drawn
        copies = input[:, None] + noise[:, drawn:drawn + k]   # (N, k, 3, H, W)
        drawn += k
        return copies.flatten(0, 1)                           # image-major, as Captum's

    monkeypatch.setattr(NoiseTunnel, "_add_noise_to_input", staticmethod(our_noise))
    theirs = NoiseTunnel(Saliency(any_model)).attribute(
        x, nt_type=statistic, nt_samples=n, nt_samples_batch_size=2, stdevs=level,
        target=TARGETS, abs=False)
    assert drawn == n  # Captum took exactly our n samples (chunks of 2, 2, 1)
    # batch_size=6: two copies of each image per pass, in our own chunking (2, 2, 1)
    ours = course.smoothgrad(any_model, x, TARGETS, noise_level=level, n_samples=n,
                             statistic=statistic, batch_size=6, seed=seed, progress=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


# ---- closed forms ---------------------------------------------------------------------------

class Quadratic(nn.Module):
    """z_c(x) = a_c · Σ x²: the gradient 2 a_c x is linear in x, so the mean of the gradients
    at the noisy copies is 2 a_c (x + mean of the noise) — the noise, read back exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.pow(2).flatten(1).sum(dim=1, keepdim=True) * self.a


def test_noise_is_a_fraction_of_each_images_range(ranged_photos):
    x, targets, n = ranged_photos[:, :, :9, :13], [0, 1, 2], 6
    model = Quadratic()
    a = model.a.detach()[targets][:, None, None, None]
    expected = 2 * a * (x + contract_noise(x, 0.25, n, seed=3).mean(dim=1))
    got = course.smoothgrad(model, x, targets, noise_level=0.25, n_samples=n, seed=3,
                            batch_size=4, progress=False)
    torch.testing.assert_close(got, expected)
    # The noise is what sets the map apart from the gradient, and it differs per image.
    assert not torch.allclose(got, 2 * a * x, atol=1e-3)


def test_linear_model_smoothgrad_is_the_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 7, 4)).eval()
    x = rescaled(torch.rand(2, 3, 5, 7), RANGES[:2])
    weights = model[1].weight.detach().view(4, 3, 5, 7)[[1, 3]]
    for statistic, expected in (("smoothgrad", weights), ("smoothgrad_sq", weights.pow(2)),
                                ("vargrad", torch.zeros_like(weights))):
        got = course.smoothgrad(model, x, [1, 3], noise_level=0.5, n_samples=7,
                                statistic=statistic, batch_size=3, progress=False)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_zero_noise_is_the_gradient_for_any_n(any_model, ranged_photos):
    expected = gradient(any_model, ranged_photos, torch.tensor(TARGETS))
    for n in (1, 3):
        got = course.smoothgrad(any_model, ranged_photos, TARGETS, noise_level=0.0,
                                n_samples=n, batch_size=3, progress=False)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


# ---- the contract: batch_size is a memory knob; sample s is addressable on its own ----------

@pytest.mark.parametrize("statistic", ["smoothgrad", "vargrad"])
def test_batch_size_is_only_a_memory_knob(lite0, ranged_photos, statistic):
    x = ranged_photos[:, :, :40, :56]
    n = 7
    results = {b: course.smoothgrad(lite0, x, TARGETS, noise_level=0.15, n_samples=n,
                                    statistic=statistic, batch_size=b, seed=2, progress=False)
               for b in (1, 2, 3, 7, len(x) * n)}
    reference = results[len(x) * n]
    for b, result in results.items():
        torch.testing.assert_close(result, reference, rtol=1e-4,
                                   atol=1e-5 * float(reference.abs().max()),
                                   msg=lambda m: f"batch_size={b}: {m}")


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_chunking_does_not_change_the_result(batch_size):
    """The generic chunking test of every method, for SmoothGrad (five images, one target each)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 10)).eval()
    x = torch.rand(5, 3, 16, 16)
    targets = [0, 1, 2, 3, 4]
    torch.testing.assert_close(
        course.smoothgrad(model, x, targets, n_samples=4, batch_size=batch_size, progress=False),
        course.smoothgrad(model, x, targets, n_samples=4, batch_size=5, progress=False))


def test_sample_noise_is_addressable_and_independent_of_the_batch(ranged_photos):
    from course_lib.methods.smoothgrad import noise_sigma, sample_noise

    x = ranged_photos[:, :, :8, :8]
    sigma = noise_sigma(x, 0.3)
    whole = sample_noise(x, sigma, range(0, 6), seed=4)
    torch.testing.assert_close(whole, contract_noise(x, 0.3, 6, seed=4))
    torch.testing.assert_close(sample_noise(x, sigma, range(2, 5), seed=4), whole[:, 2:5])
    # image 0's noise is the same alone as first of three
    torch.testing.assert_close(sample_noise(x[:1], sigma[:1], range(6), seed=4), whole[:1])


def test_seeded(lite0, ranged_photos):
    x = ranged_photos[:1, :, :48, :48]
    a = course.smoothgrad(lite0, x, 5, n_samples=4, seed=0, progress=False)
    b = course.smoothgrad(lite0, x, 5, n_samples=4, seed=0, progress=False)
    c = course.smoothgrad(lite0, x, 5, n_samples=4, seed=1, progress=False)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_global_random_state_untouched(lite0, photos):
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    course.smoothgrad(lite0, photos[:1, :, :64, :64], 5, n_samples=2, progress=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"noise_level": 15}, ValueError, r"fraction of the pixel range"),
    ({"noise_level": -0.1}, ValueError, r"in \[0, 1\]"),
    ({"noise_level": "high"}, TypeError, "noise_level must be a number"),
    ({"n_samples": 0}, ValueError, "n_samples must be at least 1"),
    ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
    ({"statistic": "median"}, ValueError, "unknown statistic"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ({"seed": 1.5}, TypeError, "seed must be a non-negative int"),
])
def test_bad_arguments(lite0, photos, kwargs, error, match):
    with pytest.raises(error, match=match):
        course.smoothgrad(lite0, photos[:1], 5, progress=False, **kwargs)
