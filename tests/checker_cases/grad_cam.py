"""Checker cases for the exercises of the grad cam notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import check


def _capture(model, layer, x, safe=True):
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    if safe:
        try:
            logits = model(x)
        finally:
            handle.remove()
    else:
        logits = model(x)
        handle.remove()
    return logits, captured[0]


def _capture_layers(model, layers, x, safe=True):
    captured = {}
    handles = [layer.register_forward_hook(
        lambda module, inputs, output, k=k: captured.__setitem__(k, output))
        for k, layer in enumerate(layers)]
    if not safe:
        logits = model(x)
        for handle in handles:
            handle.remove()
        return logits, [captured[k] for k in range(len(layers))]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, [captured[k] for k in range(len(layers))]


def _cam(model, x, classes, sign=1.0, relu=True):
    with torch.no_grad():
        _, a = _capture(model, model.head, x)
        raw = sign * (model.fc.weight[classes][:, :, None, None] * a).sum(dim=1) / 49
    raw = F.relu(raw) if relu else raw
    return F.interpolate(raw[:, None], size=(224, 224), mode="bilinear", align_corners=False)[:, 0]



def _grad_cam(model, x, classes, sign=1.0, probability=False):
    maps = []
    for image, c in zip(x, classes.tolist()):
        logits, a = _capture(model, model.head, image[None].clone().requires_grad_(True))
        score = logits.softmax(dim=1)[0, c] if probability else logits[0, c]
        (g,) = torch.autograd.grad(score, a)
        maps.append(F.relu((sign * g.mean(dim=(2, 3), keepdim=True) * a.detach()).sum(dim=1)))
    return F.interpolate(torch.cat(maps)[:, None], size=(224, 224), mode="bilinear",
                         align_corners=False)[:, 0]



# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "cam": (lambda: check.cam(_cam), lambda: check.cam(lambda m, x, c: _cam(m, x, c, relu=False)),
            "without the final ReLU"),
    "counterfactual_cam": (lambda: check.counterfactual_cam(
                               lambda m, x, c: _grad_cam(m, x, c, sign=-1.0)),
                           lambda: check.counterfactual_cam(_grad_cam), "negate"),
    "probability_grad_cam": (lambda: check.probability_grad_cam(
                                 lambda m, x, c: _grad_cam(m, x, c, probability=True)),
                             lambda: check.probability_grad_cam(_grad_cam), "softmax"),
    "capture_layers": (lambda: check.capture_layers(_capture_layers),
                       lambda: check.capture_layers(
                           lambda m, layers, x: _capture_layers(m, layers, x, safe=False)),
                       "finally"),
}
