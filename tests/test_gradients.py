r"""The four gradient methods against closed forms, on inputs that expose conventions.

Every expected value here is written out in the test, never computed with course_lib:

* a linear model :math:`z = W x + b`: the vanilla gradient of class :math:`c` is the row
  :math:`W_c` and gradient × input is :math:`x \odot W_c`;
* a one-hidden-layer network :math:`z = V\,\phi(U x + a) + b` with :math:`\phi` = ReLU or
  ReLU6: the signal arriving at :math:`\phi` is :math:`V_c`, so the gradient is
  :math:`U^\top (\phi'(h) \odot V_c)`, guided backprop
  :math:`U^\top (\mathbb{I}(0 < h < \text{cap}) \odot \max(V_c, 0))` and DeconvNet
  :math:`U^\top (\mathbb{I}(h < \text{cap}) \odot \max(V_c, 0))` (the ReLU part of the
  rule ignores :math:`h`; a ReLU6's cap keeps its gradient).

The images have odd, non-square sizes and pixel ranges other than [0, 1] — a different
range per image, negative values included — and each image of a batch has its own target.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import course_lib as course

from test_against_captum import TARGETS

H, W = 5, 7  # odd and not square
METHODS = ("vanilla_gradient", "gradient_x_input", "deconvnet", "guided_backprop")


def images_with_ranges(n: int = 4, height: int = H, width: int = W, seed: int = 0
                       ) -> torch.Tensor:
    """``n`` random images; image i spans its own range, e.g. [−2, 1], [0, 255], [0.3, 0.4]."""
    ranges = torch.tensor([[-2.0, 1.0], [0.0, 255.0], [0.3, 0.4], [-1.0, -0.5],
                           [-3.0, 3.0]])[:n]
    unit = torch.rand(n, 3, height, width, generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64)
    low, high = ranges[:, 0].view(-1, 1, 1, 1), ranges[:, 1].view(-1, 1, 1, 1)
    return (low + (high - low) * unit).double()


def linear_model(classes: int = 6) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * H * W, classes)).double().eval()


class OneHiddenLayer(nn.Module):
    def __init__(self, activation: nn.Module, hidden: int = 40, classes: int = 6) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.u = nn.Linear(3 * H * W, hidden).double()
        self.act = activation
        self.v = nn.Linear(hidden, classes).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.v(self.act(self.u(x.flatten(1))))


def test_linear_model_gradient_is_the_weight_row_per_image():
    model = linear_model()
    x, targets = images_with_ranges(), [5, 0, 3, 0]
    weight = model[1].weight.detach().view(-1, 3, H, W)
    expected = weight[targets]
    torch.testing.assert_close(course.vanilla_gradient(model, x, targets), expected)
    torch.testing.assert_close(course.gradient_x_input(model, x, targets), x * expected)


@pytest.mark.parametrize("cap", [None, 6.0])
def test_one_hidden_layer_rules_in_closed_form(cap):
    model = OneHiddenLayer(nn.ReLU() if cap is None else nn.ReLU6()).eval()
    x, targets = images_with_ranges(5), [1, 4, 4, 0, 2]
    with torch.no_grad():
        h = model.u(x.flatten(1))                              # (N, hidden) pre-activations
    u, v = model.u.weight.detach(), model.v.weight.detach()[targets]   # (hidden, d), (N, hidden)
    below_cap = torch.ones_like(h) if cap is None else (h < cap).double()
    on = (h > 0).double() * below_cap
    if cap is not None:  # the case must exercise the cap, or a lost I(h < 6) goes unseen
        assert (h > cap).any() and (h < 0).any()
    expected = {
        "vanilla_gradient": (on * v) @ u,
        "gradient_x_input": x.flatten(1) * ((on * v) @ u),
        "guided_backprop": (on * v.clamp(min=0)) @ u,
        "deconvnet": (below_cap * v.clamp(min=0)) @ u,
    }
    for method, value in expected.items():
        torch.testing.assert_close(getattr(course, method)(model, x, targets),
                                   value.view_as(x), msg=lambda m: f"{method}: {m}")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_batch_size_does_not_change_the_map(any_model, method, batch_size):
    """``batch_size`` is a memory knob: chunks of 1, 2, 3 images give the 5-image result."""
    x, targets = images_with_ranges(5, 45, 61).float(), [*TARGETS, 1, 999]
    attribute = getattr(course, method)
    whole = attribute(any_model, x, targets, batch_size=len(x))
    chunked = attribute(any_model, x, targets, batch_size=batch_size)
    # float32 through a deep network: chunking may reorder reductions (~1e-6 relative)
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5 * float(whole.abs().max()))
