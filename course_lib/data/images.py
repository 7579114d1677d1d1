"""Photos for the course: scikit-image's bundled samples or a learner's own file.

Everything becomes a float tensor ``(3, 224, 224)`` with pixels in [0, 1]: the
shorter side is resized to 224 (Pillow's antialiased bilinear filter) and the centre
cropped — pixel for pixel what torchvision's ``Resize(224) → CenterCrop(224) → ToTensor()``
gives (a test checks it), without importing torchvision (~0.2 GB of memory).
The models normalise inside their first layer, so the inverse for display,
:func:`to_display`, only moves the channels last and clips.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SIZE = 224
MAX_PIXELS = 40_000_000  # 40 megapixels, e.g. 8000 × 5000: larger files are refused
SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
ORIENTATION_TAG = 0x0112  # EXIF "Orientation"; 1 means upright

def _to_model_input(image: Image.Image) -> torch.Tensor:
    """RGB Pillow image → ``(3, 224, 224)`` float tensor in [0, 1]: resize, centre crop."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(IMAGE_SIZE * long / short)  # the shorter side becomes IMAGE_SIZE
    size = (IMAGE_SIZE, new_long) if width <= height else (new_long, IMAGE_SIZE)
    image = image.resize(size, Image.Resampling.BILINEAR)  # antialiased when shrinking
    left = int(round((size[0] - IMAGE_SIZE) / 2.0))
    top = int(round((size[1] - IMAGE_SIZE) / 2.0))
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W, 3)
    return pixels.permute(2, 0, 1).float().div(255)


class MissingImageError(FileNotFoundError, ValueError):
    """The image file does not exist (both a FileNotFoundError and a ValueError)."""


def sample_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos as ``uint8`` ``(H, W, 3)``; no download."""
    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; choose one of {SAMPLE_PHOTOS}")
    return getattr(skimage.data, name)()


def _pil_to_rgb(image: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """Any Pillow image (grayscale, palette, RGBA, CMYK, 16-bit, animated) as 8-bit RGB.

    Each conversion made is described in ``notes`` (when given), for the learner.
    """
    notes = [] if notes is None else notes
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"animated image with {frames} frames: the first frame is used")
    image.seek(0)  # animated GIF/PNG/WebP: use the first frame
    if image.getexif().get(ORIENTATION_TAG, 1) != 1:
        notes.append("turned upright as its EXIF orientation says")
    image = ImageOps.exif_transpose(image)  # phone photos stored sideways
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit / 32-bit grayscale: rescale the full range to 0..255 instead of clipping.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255 if high > low else values * 0
        image = Image.fromarray(scaled.round().astype(np.uint8))
        notes.append(f"{'16' if image.mode != 'F' else '32'}-bit grayscale: its range "
                     f"{low:g}..{high:g} was scaled to 0..255")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Put transparent pixels on white, the way a browser shows them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
        notes.append("transparent pixels were put on a white background")
    if image.mode != "RGB":
        notes.append({"L": "grayscale: the gray value was copied to R, G and B",
                      "1": "black-and-white: converted to RGB",
                      "P": "palette colours: converted to RGB",
                      "CMYK": "CMYK (print colours): converted to RGB"}.get(
                          image.mode, f"{image.mode} pixels: converted to RGB"))
    return image.convert("RGB")


def load_image(path: str | Path, notes: list[str] | None = None) -> np.ndarray:
    """A learner's own image file as ``uint8`` ``(H, W, 3)`` RGB.

    Grayscale, palette, transparent, CMYK, 16-bit and animated images are converted
    (first frame; transparency on white); pass a list as ``notes`` to learn which
    conversions were made. Files that are missing, not images, truncated, or over
    40 megapixels (decompression bombs) raise a clear ``ValueError``.
    """
    path = Path(path)
    if not path.exists():
        raise MissingImageError(f"no such image file: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError(
                        f"{path.name} is {width}×{height} = {width * height / 1e6:.0f} "
                        f"megapixels; the limit is {MAX_PIXELS / 1e6:.0f}. Shrink it first.")
                image.load()
                return np.asarray(_pil_to_rgb(image, notes))
    except UnidentifiedImageError as err:
        raise ValueError(f"{path.name} is not an image Pillow can read") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(f"{path.name} is too large to open safely: {err}") from err
    except (OSError, SyntaxError) as err:  # truncated or corrupt data
        raise ValueError(f"{path.name} could not be decoded ({err}); "
                         "the file may be truncated or damaged") from err


def open_own_image(path: str | Path) -> torch.Tensor | None:
    """The notebook helper for a learner's own photo: ``(3, 224, 224)`` in [0, 1], or ``None``.

    Never raises for a bad file: it prints what went wrong and what to do instead,
    so a workshop kernel keeps running. For a good file it prints its size and every
    conversion made (16-bit, CMYK, animated, transparent, rotated, grayscale).
    """
    notes: list[str] = []
    try:
        image = load_image(path, notes)
    except ValueError as err:  # MissingImageError is a ValueError too
        print(f"✗ cannot use this image: {err}\n"
              "  Try a JPEG or PNG photo of at most 40 megapixels (e.g. re-save it from an "
              "image viewer), and check the path.")
        return None
    height, width = image.shape[:2]
    print(f"✓ {Path(path).name}: {width}×{height} pixels, resized and centre-cropped to "
          f"{IMAGE_SIZE}×{IMAGE_SIZE}")
    for note in notes:
        print(f"  - {note}")
    return preprocess(image)


def preprocess(image: np.ndarray | Image.Image) -> torch.Tensor:
    """``uint8`` ``(H, W, 3)`` photo → float tensor ``(3, 224, 224)`` in [0, 1].

    Resize the shorter side to 224, then crop the centre square. Normalisation
    to the network's scale is the model's first layer (``model.normalize``).
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"expected a uint8 image array, got dtype {image.dtype}")
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        image = Image.fromarray(image[..., :3])
    elif isinstance(image, Image.Image):
        image = _pil_to_rgb(image)
    else:
        raise TypeError(f"expected a numpy array or PIL image, got {type(image).__name__}")
    return _to_model_input(image)


def load_photos(names: tuple[str, ...] | list[str] = SAMPLE_PHOTOS) -> torch.Tensor:
    """A batch ``(N, 3, 224, 224)`` of the named sample photos, preprocessed."""
    return torch.stack([preprocess(sample_photo(name)) for name in names])


def to_display(image: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`preprocess` for plotting: ``(3, H, W)`` tensor → ``(H, W, 3)`` array."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected one image shaped (3, H, W), got {tuple(image.shape)}")
    return image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    r"""Blur a batch ``(N, C, H, W)`` with a Gaussian of standard deviation ``sigma`` pixels.

    The kernel spans :math:`\pm 3\sigma` (``2·int(3σ) + 1`` taps) and the border is
    mirrored (``reflect``), as in torchvision's ``gaussian_blur`` with that kernel size;
    it is applied as two 1-D passes (rows, then columns), which is the same filter.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (pixels), got {sigma!r}")
    half = int(3 * sigma)
    if half >= min(images.shape[-2:]):
        raise ValueError(f"a blur of sigma {sigma} needs images larger than {half} pixels per "
                         f"side, got {tuple(images.shape[-2:])}")
    offsets = torch.arange(-half, half + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    columns = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    out = F.conv2d(F.pad(images, (half, half, 0, 0), mode="reflect"), rows, groups=channels)
    return F.conv2d(F.pad(out, (0, 0, half, half), mode="reflect"), columns, groups=channels)
