"""Photos for the course: scikit-image's bundled samples or a learner's own file.

Everything becomes a float tensor ``(3, 224, 224)`` with pixels in [0, 1]: the
shorter side is resized to 224 and the centre cropped (torchvision transforms).
The models normalise inside their first layer, so the inverse for display,
:func:`to_display`, only moves the channels last and clips.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision import transforms

IMAGE_SIZE = 224
MAX_PIXELS = 40_000_000  # 40 megapixels, e.g. 8000 × 5000: larger files are refused
SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
ORIENTATION_TAG = 0x0112  # EXIF "Orientation"; 1 means upright

_to_model_input = transforms.Compose([
    transforms.Resize(IMAGE_SIZE, interpolation=transforms.InterpolationMode.BILINEAR,
                      antialias=True),
    transforms.CenterCrop(IMAGE_SIZE),
    transforms.ToTensor(),  # uint8 H×W×3 → float 3×H×W in [0, 1]
])


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
