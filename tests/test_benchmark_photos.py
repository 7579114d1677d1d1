"""The photos of the benchmark: exactly the bundled photos EfficientNet-Lite0 recognises.

Both directions: every listed photo's top-1 class is one of its accepted classes, and
every other bundled photo gets the (wrong) top-1 class recorded for it, which is not an
accepted class of anything.
"""

from __future__ import annotations

import pytest
import torch

import course_lib as course
from course_lib.data.benchmark_photos import (NOT_RECOGNISED, RECOGNISED, bundled_photo,
                                              load_benchmark_photos)
from course_lib.data.images import preprocess


@pytest.fixture(scope="module")
def top1(lite0):
    names = [*RECOGNISED, *NOT_RECOGNISED]
    images = torch.stack([preprocess(bundled_photo(name)) for name in names])
    with torch.no_grad():
        predictions = torch.cat([lite0(chunk).argmax(dim=1) for chunk in images.split(8)])
    classes = course.imagenet_classes()
    return {name: classes[int(c)] for name, c in zip(names, predictions)}


@pytest.mark.parametrize("name", list(RECOGNISED))
def test_listed_photos_are_recognised(top1, name):
    assert top1[name] in RECOGNISED[name], f"{name}: top-1 {top1[name]!r}"


@pytest.mark.parametrize("name", list(NOT_RECOGNISED))
def test_other_photos_are_not(top1, name):
    accepted = {c for classes in RECOGNISED.values() for c in classes}
    assert top1[name] == NOT_RECOGNISED[name]
    assert top1[name] not in accepted


def test_stereo_views_are_two_different_photographs():
    left, right = bundled_photo("motorcycle_left"), bundled_photo("motorcycle_right")
    assert left.shape == right.shape and (left != right).mean() > 0.5


def test_loaded_photos_are_model_inputs():
    photos = load_benchmark_photos(("camera", "coffee"))
    assert photos.shape == (2, 3, 224, 224) and photos.dtype == torch.float32
    assert 0 <= photos.min() and photos.max() <= 1
    assert torch.equal(photos[0, 0], photos[0, 1])        # the grayscale camera: R = G
    with pytest.raises(ValueError, match="unknown photo"):
        bundled_photo("lena")
