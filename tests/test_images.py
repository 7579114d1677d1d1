"""Sample photos, a learner's own files of every awkward kind, preprocessing and its inverse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import course_lib as course
from course_lib.data.images import MAX_PIXELS, MissingImageError


@pytest.mark.parametrize("name", course.SAMPLE_PHOTOS)
def test_sample_photos_are_rgb_uint8(name):
    photo = course.sample_photo(name)
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3


def test_unknown_sample_photo():
    with pytest.raises(ValueError, match="unknown sample photo"):
        course.sample_photo("dog")


def test_preprocess_shape_range_and_inverse():
    photo = course.sample_photo("coffee")  # 400 × 600: the centre square is kept
    x = course.preprocess(photo)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    shown = course.to_display(x)
    assert shown.shape == (224, 224, 3)
    # Inverse: a 224 × 224 image survives preprocess → to_display unchanged.
    square = photo[:224, :224]
    np.testing.assert_allclose(course.to_display(course.preprocess(square)) * 255, square,
                               atol=1e-3)


def test_preprocess_refuses_wrong_arrays():
    with pytest.raises(TypeError, match="uint8"):
        course.preprocess(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="RGB image"):
        course.preprocess(np.zeros((10, 10, 5), dtype=np.uint8))
    with pytest.raises(TypeError, match="numpy array or PIL image"):
        course.preprocess([[0, 1]])


def test_to_display_refuses_batches():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        course.to_display(torch.rand(2, 3, 8, 8))


def save(tmp_path, image: Image.Image, name: str, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


@pytest.fixture
def rgb() -> Image.Image:
    return Image.fromarray(course.sample_photo("chelsea"))


@pytest.mark.parametrize("mode, name", [("L", "gray.png"), ("P", "palette.png"),
                                        ("RGBA", "alpha.png"), ("CMYK", "cmyk.jpg"),
                                        ("LA", "gray_alpha.png"), ("RGB", "photo.jpg")])
def test_own_image_modes_become_rgb(tmp_path, rgb, mode, name):
    loaded = course.load_image(save(tmp_path, rgb.convert(mode), name))
    assert loaded.dtype == np.uint8 and loaded.shape == (300, 451, 3)
    assert course.preprocess(loaded).shape == (3, 224, 224)


def test_transparent_pixels_become_white(tmp_path):
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert (course.load_image(save(tmp_path, image, "clear.png")) == 255).all()


def test_16_bit_image_uses_its_full_range(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 … 65520
    loaded = course.load_image(save(tmp_path, Image.fromarray(ramp), "deep.png"))
    assert loaded.min() == 0 and loaded.max() == 255  # rescaled, not clipped at 255


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert tuple(course.load_image(path)[0, 0]) == (255, 0, 0)


def test_missing_file(tmp_path):
    with pytest.raises(MissingImageError, match="no such image file") as info:
        course.load_image(tmp_path / "absent.jpg")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ValueError, match="not a file"):
        course.load_image(tmp_path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture")
    with pytest.raises(ValueError, match="not an image"):
        course.load_image(path)


def test_truncated_image(tmp_path, rgb):
    path = save(tmp_path, rgb, "whole.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="truncated or damaged"):
        course.load_image(cut)


def test_huge_image_is_refused_before_decoding(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 10
    path = save(tmp_path, Image.new("1", (side, side)), "huge.png")
    with pytest.raises(ValueError, match="megapixels"):
        course.load_image(path)
