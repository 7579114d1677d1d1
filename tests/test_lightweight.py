"""The default path stays light: no torchvision, SciPy or Matplotlib until they are needed.

A notebook kernel on Binder has 1–2 GB. ``import torchvision`` alone costs about 0.2 GB of
resident memory (its compiled operators load the CUDA libraries of the PyPI build), SciPy's
statistics about 60 MB. So the offline course does its image resizing with Pillow, its blur
with two 1-D convolutions and reads the ImageNet class names from a text file; these tests
check that each replacement gives what torchvision gives, and that the light path really
stays free of the heavy imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms.functional import gaussian_blur as torchvision_blur

import course_lib as course
from course_lib.data.images import gaussian_blur
from course_lib.methods.forward import class_scores


def torchvision_preprocess(image: np.ndarray) -> torch.Tensor:
    """The pipeline the course used before: Resize(224) → CenterCrop(224) → ToTensor()."""
    pipeline = transforms.Compose([
        transforms.Resize(224, interpolation=transforms.InterpolationMode.BILINEAR,
                          antialias=True),
        transforms.CenterCrop(224), transforms.ToTensor()])
    return pipeline(Image.fromarray(image))


@pytest.mark.parametrize("name", course.SAMPLE_PHOTOS)
def test_preprocess_equals_torchvision_on_the_photos(name):
    image = course.sample_photo(name)
    assert torch.equal(course.preprocess(image), torchvision_preprocess(image))


@pytest.mark.parametrize("height, width", [(300, 225), (225, 301), (224, 224), (500, 233),
                                           (100, 80), (223, 1000), (225, 224)])
def test_preprocess_equals_torchvision_on_odd_sizes(height, width):
    """Portrait, landscape, upscaling, off-by-one crops: rounding must agree everywhere."""
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3),
                                                           dtype=np.uint8)
    assert torch.equal(course.preprocess(image), torchvision_preprocess(image))


@pytest.mark.parametrize("sigma", [0.7, 2.0, 10.0])
def test_blur_equals_torchvision(sigma):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 70, 90, generator=generator) * torch.tensor([1.0, 0.3])[:, None,
                                                                                     None, None]
    size = 2 * int(3 * sigma) + 1
    expected = torchvision_blur(images, [size, size], [sigma, sigma])
    torch.testing.assert_close(gaussian_blur(images, sigma), expected, rtol=0, atol=5e-6)


def test_blur_refuses_images_smaller_than_its_kernel():
    with pytest.raises(ValueError, match="larger than 30 pixels"):
        gaussian_blur(torch.rand(1, 3, 20, 64), 10.0)


def test_class_names_equal_torchvision_metadata():
    expected = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert list(course.imagenet_classes()) == expected


def test_class_scores_are_the_logits_without_a_graph(resnet18):
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 45, 61, generator=generator)
    classes = torch.tensor([5, 999, 0])
    with torch.no_grad():
        logits = resnet18(images)
    scores = class_scores(resnet18, images, classes)
    assert not scores.requires_grad and scores.shape == (3,)
    torch.testing.assert_close(scores, logits[torch.arange(3), classes], rtol=1e-5, atol=1e-5)
    probabilities = class_scores(resnet18, images, classes, kind="probability")
    torch.testing.assert_close(probabilities,
                               logits.softmax(dim=1)[torch.arange(3), classes],
                               rtol=1e-5, atol=1e-7)


LIGHT_PATH = """
import json, sys
import course_lib as course
device = course.setup(verbose=False)
model = course.load_efficientnet_lite0()
photos = course.load_photos(("chelsea",))
course.vanilla_gradient(model, photos, course.class_index("tabby"))
course.integrated_gradients(model, photos, 281, baseline="blurred", steps=2, progress=False)
course.occlusion(model, photos, 281, patch=112, stride=112, progress=False)
print(json.dumps(sorted(name for name in ("torchvision", "scipy.stats", "ipywidgets")
                        if name in sys.modules)))
"""


def test_the_default_path_imports_no_heavy_package():
    """setup, the model, the photos, class names and three methods: no torchvision, no SciPy
    statistics, no widgets. (scikit-image's photo loader brings ``scipy.linalg``, 18 MB.)"""
    done = subprocess.run([sys.executable, "-c", LIGHT_PATH], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
