"""Checker cases for the exercises of the introduction notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch
import torchvision
from PIL import Image
from torchvision import transforms

from course_lib import check


def _find_classes(words, ignore_case=True):
    names = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    if ignore_case:
        return [n for n in names if any(w.lower() in n.lower() for w in words)]
    return [n for n in names if any(w in n for w in words)]


_PREPARE = transforms.Compose([
    transforms.Resize(224, interpolation=transforms.InterpolationMode.BILINEAR, antialias=True),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
])


def _image_batch(paths, stack=True):
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(_PREPARE(image.convert("RGB")))
    return torch.stack(images) if stack else torch.cat(images)


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "attribution_size": (lambda: check.attribution_size(602_112, 200_704),
                         lambda: check.attribution_size(602_112, 602_112),
                         "one number per pixel"),
    "find_classes": (lambda: check.find_classes(_find_classes),
                     lambda: check.find_classes(lambda w: _find_classes(w, ignore_case=False)),
                     "case-sensitively"),
    "image_batch": (lambda: check.image_batch(_image_batch),
                    lambda: check.image_batch(lambda p: _image_batch(p, stack=False)),
                    "torch.stack"),
    "stretched_white": (lambda: check.stretched_white((-0.1 + 2) / 2),
                        lambda: check.stretched_white(0.0), "centred"),
}
