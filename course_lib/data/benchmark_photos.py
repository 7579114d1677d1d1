"""The bundled photos EfficientNet-Lite0 recognises: the image set of the benchmark.

scikit-image ships about twenty photos offline. The benchmark of notebooks 09–10
explains the classifier on those it *recognises*: its top-1 class is a correct name
for what the photo shows. The list and the accepted classes live here, and a test
(``tests/test_benchmark_photos.py``) checks both directions: every photo below is
recognised, and every other bundled photo is not (:data:`NOT_RECOGNISED` with the
top-1 class it gets instead). Only five scenes pass; the motorcycle comes as a stereo
pair, two photographs from two cameras, so there are six images.
"""

from __future__ import annotations

import numpy as np
import skimage.data
import torch

from course_lib.data.images import preprocess

# photo → the ImageNet classes that count as recognising it (its top-1 must be one)
RECOGNISED: dict[str, tuple[str, ...]] = {
    "chelsea": ("Egyptian cat", "tabby", "tiger cat"),
    "coffee": ("espresso", "cup", "coffee mug"),
    "rocket": ("missile", "projectile", "space shuttle"),
    "camera": ("tripod", "reflex camera"),
    "motorcycle_left": ("moped", "motor scooter"),
    "motorcycle_right": ("moped", "motor scooter"),
}

# every other bundled photo, with the wrong top-1 class the classifier gives it
NOT_RECOGNISED: dict[str, str] = {
    "astronaut": "bobsled",
    "brick": "racket",
    "cell": "nematode",
    "checkerboard": "crossword puzzle",
    "clock": "bubble",
    "coins": "golf ball",
    "colorwheel": "ping-pong ball",
    "grass": "soccer ball",
    "gravel": "doormat",
    "horse": "Great Dane",
    "hubble_deep_field": "bubble",
    "immunohistochemistry": "brain coral",
    "logo": "pick",
    "microaneurysms": "harvestman",
    "moon": "nematode",
    "page": "menu",
    "retina": "lampshade",
    "text": "crossword puzzle",
}


def bundled_photo(name: str) -> np.ndarray:
    """A scikit-image photo as ``uint8`` ``(H, W, 3)`` (grayscale copied to three channels)."""
    if name.startswith("motorcycle_"):
        left, right, _ = skimage.data.stereo_motorcycle()
        image = left if name == "motorcycle_left" else right
    elif name in RECOGNISED or name in NOT_RECOGNISED:
        image = getattr(skimage.data, name)()
    else:
        raise ValueError(f"unknown photo {name!r}; the benchmark photos are {tuple(RECOGNISED)}")
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        image = np.round(255 * (image - image.min()) / max(np.ptp(image), 1e-12)).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3]


def load_benchmark_photos(names: tuple[str, ...] | None = None) -> torch.Tensor:
    """The recognised photos, preprocessed: ``(N, 3, 224, 224)`` in [0, 1]."""
    names = tuple(RECOGNISED) if names is None else names
    return torch.stack([preprocess(bundled_photo(name)) for name in names])
