"""Checker cases for the exercises of the LRP and DeepLIFT notebook: the solution a learner would
write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import check


def _epsilon_dense(a, weight, bias, relevance, epsilon, signed=True):
    z = a @ weight.T + bias
    stabiliser = epsilon * (torch.where(z >= 0, 1.0, -1.0).to(z.dtype) if signed else 1.0)
    return a * ((relevance / (z + stabiliser)) @ weight)


def _zplus_conv(conv, a, relevance, clamp_bias=True):
    a = a.detach().clone().requires_grad_(True)
    bias = conv.bias.detach().clamp(min=0) if clamp_bias else conv.bias.detach()
    z = F.conv2d(a, conv.weight.detach().clamp(min=0), bias, conv.stride, conv.padding)
    (gradient,) = torch.autograd.grad((z * (relevance / (z + 1e-6)).detach()).sum(), a)
    return a.detach() * gradient


def _rescale(x, x_ref, fallback=True):
    delta = x - x_ref
    slope = (x.clamp(0, 6) - x_ref.clamp(0, 6)) / delta
    if not fallback:
        return slope
    return torch.where(delta.abs() < 1e-10, ((x > 0) & (x < 6)).to(x.dtype), slope)


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "lrp_epsilon_dense": (lambda: check.lrp_epsilon_dense(_epsilon_dense),
                          lambda: check.lrp_epsilon_dense(
                              lambda *args: _epsilon_dense(*args, signed=False)),
                          "sign of z"),
    "lrp_zplus_layer": (lambda: check.lrp_zplus_layer(_zplus_conv),
                        lambda: check.lrp_zplus_layer(
                            lambda c, a, r: _zplus_conv(c, a, r, clamp_bias=False)),
                        "b.clamp(min=0)"),
    "rescale_multiplier": (lambda: check.rescale_multiplier(_rescale),
                           lambda: check.rescale_multiplier(
                               lambda x, r: _rescale(x, r, fallback=False)),
                           "fall back to the gradient"),
    "deeplift_and_ig": (lambda: check.deeplift_and_ig((2.0, -1.0), (1.5, -0.5)),
                        lambda: check.deeplift_and_ig((1.5, -0.5), (1.5, -0.5)),
                        "is IG's"),
}
