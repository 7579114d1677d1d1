r"""A synthetic data set whose class evidence is known pixel by pixel.

On real photos nobody can say which pixels a classifier *should* use. Here we
can: every image is drawn by this module, and exactly one object in it decides
the class. :func:`make_shapes` returns the images, the labels and the **evidence
mask** (the pixels of that object), so an attribution map can be scored against
ground truth (:mod:`course_lib.evaluation.localisation`).

Each ``64 × 64`` RGB image in [0, 1] holds, drawn in this order:

1. **textured clutter** — a random base colour, smooth colour blobs (low-frequency
   noise), stripes of random direction and frequency, pixel noise; all muted
   (every channel in [0.25, 0.75]);
2. **distractors** — 2 to 4 filled discs and short bars of random size,
   direction and colour, away from the object; they appear in every class, so
   they carry no class information;
3. **the class object** — one of :data:`CLASS_NAMES` (cross, ring, triangle,
   square), 14 to 24 pixels across, at a random place, fully inside the image,
   in a random vivid colour. The triangle points up, right, down or left.

Object and distractors draw their colours from the same distribution (each
channel dark, in [0, 0.15], or bright, in [0.85, 1]), so colour is no clue and
the clutter is never mistaken for an object: a classifier has to find the one
shape that is a cross, ring, triangle or square. The object is drawn last and
never overlaps a distractor, so the mask is exactly the object's visible pixels.

Generation is vectorised with NumPy (a few thousand images per second) and
fully determined by ``seed`` through a private ``numpy.random.Generator``: the
global random state is neither used nor changed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

CLASS_NAMES: tuple[str, ...] = ("cross", "ring", "triangle", "square")
IMAGE_SIZE = 64
OBJECT_SIZE = (14, 24)        # side of the object's bounding box, pixels (inclusive range)
N_DISTRACTORS = (2, 4)        # distractors per image (inclusive range)
_CHUNK = 512                  # images generated per vectorised step (fixed: part of the recipe)


class ShapesData(NamedTuple):
    """``images`` (N, 3, 64, 64) float32 in [0, 1]; ``labels`` (N,) int64 indices into
    :data:`CLASS_NAMES`; ``masks`` (N, 64, 64) bool, the pixels of the class object."""

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor


def _vivid_colours(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Colours (…, 3): every channel dark (0–0.15) or bright (0.85–1)."""
    bright = rng.random((*shape, 3)) < 0.5
    level = rng.uniform(0.0, 0.15, (*shape, 3))
    return np.where(bright, 1.0 - level, level).astype(np.float32)


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """Textured clutter (n, 3, 64, 64): base colour + smooth blobs + stripes + noise."""
    size = IMAGE_SIZE
    base = rng.uniform(0.35, 0.65, (n, 3, 1, 1))
    coarse = torch.from_numpy(rng.normal(0.0, 1.0, (n, 3, 6, 6)).astype(np.float32))
    blobs = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).numpy()
    angle = rng.uniform(0, np.pi, (n, 1, 1, 1))
    frequency = rng.uniform(0.3, 1.2, (n, 1, 1, 1))  # radians per pixel
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1, 1))
    tint = rng.uniform(-1, 1, (n, 3, 1, 1))
    strength = rng.uniform(0.0, 0.08, (n, 1, 1, 1))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    stripes = strength * tint * np.sin(frequency * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    noise = rng.normal(0.0, 0.03, (n, 3, size, size))
    image = base + 0.07 * blobs + stripes + noise
    return np.clip(image, 0.25, 0.75).astype(np.float32)


def object_masks(labels: np.ndarray, cx: np.ndarray, cy: np.ndarray, size: np.ndarray,
                 turn: np.ndarray) -> np.ndarray:
    """Pixel masks (n, 64, 64) of the class objects, one per row of the arguments.

    ``cx, cy`` centre (pixels), ``size`` side of the bounding box, ``turn`` the number
    of quarter turns of the triangle (0 = pointing up).
    """
    grid = np.arange(IMAGE_SIZE, dtype=np.float32)
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    h = (size / 2)[:, None, None]
    adx, ady = np.abs(dx), np.abs(dy)
    square = (adx <= h) & (ady <= h)
    arm = h / 3
    cross = ((adx <= arm) & (ady <= h)) | ((ady <= arm) & (adx <= h))
    radius = np.sqrt(dx ** 2 + dy ** 2)
    ring = (radius <= h + 0.5) & (radius >= 0.55 * h)
    # Triangle pointing "up" along the axis u (depth from the apex) with half-width v.
    t = turn[:, None, None]
    u = np.select([t == 0, t == 1, t == 2], [dy, -dx, -dy], default=dx)
    v = np.select([t == 0, t == 1, t == 2], [adx, ady, adx], default=ady)
    triangle = (u >= -h) & (u <= h) & (v <= (u + h) / 2 + 0.5)
    shapes = np.stack([cross, ring, triangle, square], axis=1)  # order of CLASS_NAMES
    return shapes[np.arange(len(labels)), labels]


def _distractor_masks(rng: np.random.Generator, n: int, cx: np.ndarray, cy: np.ndarray,
                      size: np.ndarray) -> list[np.ndarray]:
    """One mask (n, 64, 64) per distractor slot; slots an image does not use are empty."""
    count = rng.integers(N_DISTRACTORS[0], N_DISTRACTORS[1] + 1, n)
    grid = np.arange(IMAGE_SIZE, dtype=np.float32)
    masks = []
    for slot in range(N_DISTRACTORS[1]):
        is_bar = rng.random(n) < 0.5
        radius = rng.uniform(2.5, 6.0, n)             # discs
        half_length = rng.uniform(4.0, 9.0, n)        # bars
        half_width = rng.uniform(0.8, 1.6, n)
        angle = rng.uniform(0, np.pi, n)
        extent = np.where(is_bar, half_length, radius)
        # 12 candidate centres; take the first that keeps clear of the object.
        px = rng.uniform(2, IMAGE_SIZE - 3, (n, 12))
        py = rng.uniform(2, IMAGE_SIZE - 3, (n, 12))
        clear = np.hypot(px - cx[:, None], py - cy[:, None]) > (
            size[:, None] / 2 * np.sqrt(2) + extent[:, None] + 3)
        pick = clear.argmax(axis=1)
        used = (slot < count) & clear.any(axis=1)
        px, py = px[np.arange(n), pick], py[np.arange(n), pick]
        dx = grid[None, None, :] - px[:, None, None]
        dy = grid[None, :, None] - py[:, None, None]
        along = dx * np.cos(angle)[:, None, None] + dy * np.sin(angle)[:, None, None]
        across = -dx * np.sin(angle)[:, None, None] + dy * np.cos(angle)[:, None, None]
        bar = (np.abs(along) <= half_length[:, None, None]) & (
            np.abs(across) <= half_width[:, None, None])
        disc = dx ** 2 + dy ** 2 <= (radius ** 2)[:, None, None]
        masks.append(np.where(is_bar[:, None, None], bar, disc) & used[:, None, None])
    return masks


def _paint(images: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """In place: pixels of ``mask`` (n, H, W) take ``colour`` (n, 3)."""
    np.copyto(images, colour[:, :, None, None], where=mask[:, None])


def _make_chunk(rng: np.random.Generator, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(labels)
    images = _background(rng, n)
    size = rng.integers(OBJECT_SIZE[0], OBJECT_SIZE[1] + 1, n).astype(np.float32)
    low, high = size / 2 + 1, IMAGE_SIZE - 2 - size / 2
    cx, cy = rng.uniform(low, high), rng.uniform(low, high)
    turn = rng.integers(0, 4, n)
    for mask in _distractor_masks(rng, n, cx, cy, size):
        _paint(images, mask, _vivid_colours(rng, (n,)))
    masks = object_masks(labels, cx, cy, size, turn)
    _paint(images, masks, _vivid_colours(rng, (n,)))
    return images, masks


def make_shapes(n: int, seed: int = 0) -> ShapesData:
    """``n`` synthetic images with labels and evidence masks; the same ``seed`` gives the same data.

    The classes are balanced (each appears ``n // 4`` or ``n // 4 + 1`` times) in random
    order. Use different seeds for training and test sets.

    >>> images, labels, masks = make_shapes(8, seed=1)
    >>> images.shape, labels.shape, masks.shape
    (torch.Size([8, 3, 64, 64]), torch.Size([8]), torch.Size([8, 64, 64]))
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES))
    chunks = [_make_chunk(rng, labels[start:start + _CHUNK]) for start in range(0, n, _CHUNK)]
    images = np.concatenate([c[0] for c in chunks])
    masks = np.concatenate([c[1] for c in chunks])
    return ShapesData(torch.from_numpy(images), torch.from_numpy(labels).long(),
                      torch.from_numpy(masks))
