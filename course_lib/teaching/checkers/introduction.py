"""Checkers for the exercises of notebook 00 · introduction.

The photo and class-name helpers are imported inside the checkers that need them, so
``course.check`` stays cheap to import.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from course_lib.teaching.checkers.common import (
    Mismatch,
    as_tensor,
    call,
    compare,
    verdict,
)


def _count(value: object, what: str) -> int:
    if value is None:
        raise Mismatch(f"{what} is still None: set it to a number")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) and not (
            isinstance(value, float) and value.is_integer()):
        raise Mismatch(f"{what} should be a whole number, got {value!r}")
    return int(value)


def attribution_size(attribution_numbers: object, map_numbers: object) -> bool:
    """00 · Exercise 1: how many numbers in the attribution of 4 photos, and in its 2-D maps?"""
    def run() -> str:
        expected = (4 * 3 * 224 * 224, 4 * 224 * 224)
        got = (_count(attribution_numbers, "the attribution's count"),
               _count(map_numbers, "the maps' count"))
        if got[0] != expected[0]:
            hint = (" — that is one photo; the batch has four" if got[0] == expected[0] // 4
                    else "")
            raise Mismatch(f"the attribution has {expected[0]:,} numbers, not {got[0]:,}: it "
                           f"has the shape of the input batch, (4, 3, 224, 224){hint}")
        if got[1] != expected[1]:
            raise Mismatch(f"the maps have {expected[1]:,} numbers, not {got[1]:,}: the "
                           "absolute map keeps one number per pixel, (4, 224, 224)")
        return "the map drops the colour axis, so it has a third of the numbers"
    return verdict("attribution size", run)


def find_classes(fn: Callable) -> bool:
    """00 · Exercise 2: ``fn(words)`` → the ImageNet class names that contain any of the words.

    Case-insensitive, in class-index order, each name once.
    """
    from course_lib.models.loaders import imagenet_classes

    def run() -> str:
        classes = imagenet_classes()
        for words in (("space", "suit"), ("Cat",), ("helmet", "mask", "HELMET")):
            lowered = [w.lower() for w in words]
            expected = [c for c in classes if any(w in c.lower() for w in lowered)]
            got = call(fn, list(words), what=f"find_classes({list(words)})")
            if isinstance(got, (str, bytes)) or not hasattr(got, "__iter__"):
                raise Mismatch(f"find_classes({list(words)}) should return a list of class "
                               f"names, got {type(got).__name__}")
            got = list(got)
            if got and all(isinstance(g, (int, np.integer)) for g in got):
                raise Mismatch("return the class *names* (course.imagenet_classes()[i]), not "
                               "their indices")
            if got == expected:
                continue
            case_sensitive = [c for c in classes if any(w in c for w in words)]
            if got == case_sensitive:
                raise Mismatch(f"for {list(words)} you matched case-sensitively; class names "
                               "have capitals ('Egyptian cat'): compare name.lower() with "
                               "word.lower()")
            if got == [c for c in classes if lowered[0] in c.lower()] and len(words) > 1:
                raise Mismatch(f"for {list(words)} only the first word was searched; a name "
                               "that contains *any* of the words belongs in the list")
            if sorted(got) == sorted(expected):
                raise Mismatch(f"for {list(words)} the names are right but not in class-index "
                               "order (keep the order of course.imagenet_classes())")
            missing = [c for c in expected if c not in got][:3]
            extra = [c for c in got if c not in expected][:3]
            raise Mismatch(f"for {list(words)}: {len(got)} names instead of {len(expected)}"
                           + (f"; missing e.g. {missing}" if missing else "")
                           + (f"; not matching e.g. {extra}" if extra else ""))
        return "every class name that contains one of the words, whatever its capitals"
    return verdict("find classes", run)


def _write_test_files(folder: Path) -> list[Path]:
    from PIL import Image

    generator = np.random.default_rng(0)
    gray = generator.integers(0, 256, size=(200, 300), dtype=np.uint8)   # wide, grayscale
    colour = generator.integers(0, 256, size=(260, 180, 3), dtype=np.uint8)  # tall, RGB
    paths = [folder / "wide_gray.png", folder / "tall_colour.jpg"]
    Image.fromarray(gray).save(paths[0])
    Image.fromarray(colour).save(paths[1], quality=90)
    return paths


def image_batch(fn: Callable) -> bool:
    """00 · Exercise 3: ``fn(paths)`` → a batch ``(N, 3, 224, 224)`` of the image files.

    Read with :func:`course_lib.load_image`, prepared with :func:`course_lib.preprocess`.
    """
    from course_lib.data.images import load_image, preprocess

    def run() -> str:
        with tempfile.TemporaryDirectory() as folder:
            paths = _write_test_files(Path(folder))
            expected = torch.stack([preprocess(load_image(p)) for p in paths])
            got = call(fn, [str(p) for p in paths], what="image_batch([a grayscale PNG, a JPEG])")
            if isinstance(got, np.ndarray) and got.dtype == np.uint8:
                raise Mismatch("that is the raw uint8 picture; course.preprocess turns it into "
                               "a float tensor (3, 224, 224) in [0, 1]")
            got = as_tensor(got, "your batch")
            if got.shape == (3 * len(paths), 224, 224):
                raise Mismatch("torch.cat joined the images along the colour axis; "
                               "torch.stack adds a new batch axis: (N, 3, 224, 224)")
            if got.shape == (len(paths), 224, 224, 3):
                raise Mismatch("channels are last; course.preprocess gives (3, 224, 224) per "
                               "image")
            if got.is_floating_point() and float(got.max()) > 1.5:
                raise Mismatch(f"pixel values reach {float(got.max()):.0f}: the model expects "
                               "[0, 1], which course.preprocess gives")
            compare(got, expected, "your batch of a wide grayscale PNG and a tall JPEG")
        return "two files of different sizes and colour modes become one (2, 3, 224, 224) batch"
    return verdict("image batch", run)


def stretched_white(white_value: object) -> bool:
    """00 · Exercise 4: the value drawn white when a map in [−0.1, 2] is stretched min → max."""
    def run() -> str:
        if white_value is None:
            raise Mismatch("white_value is still None: set it to a number")
        try:
            value = float(white_value)
        except (TypeError, ValueError):
            raise Mismatch(f"white_value should be a number, got {white_value!r}") from None
        expected = (-0.1 + 2.0) / 2
        if math.isclose(value, expected, abs_tol=1e-6):
            return ("white sits at 0.95, so pixels between 0 and 0.95 look blue (negative) "
                    "although they raise the score")
        if math.isclose(value, 0.0, abs_tol=1e-6):
            raise Mismatch("0 is white only when the colormap is *centred*; stretched from the "
                           "minimum to the maximum, white is the middle of the range")
        if math.isclose(value, (2.0 + 0.1) / 2, abs_tol=1e-6):
            raise Mismatch("that is half the width of the range; the middle of [−0.1, 2] is "
                           "(min + max) / 2")
        raise Mismatch(f"{value:g} is not the middle of [−0.1, 2]: a stretched colormap puts its "
                       "white at (min + max) / 2")
    return verdict("stretched colormap", run)
