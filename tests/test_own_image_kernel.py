"""A learner's own bad image, end to end: a clear message in the notebook, and the kernel lives.

The files a workshop participant might bring — huge, truncated, 16-bit, CMYK,
animated, not an image at all, or a wrong path — go through
``course.open_own_image`` in a real Jupyter kernel (nbclient), cell by cell, as
in notebook 00's "use your own photo" exercise. Every cell must finish without an
error output, print a message that names the problem or the conversion, and the
same kernel process must still answer at the end.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image


def make_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, text the helper's message must contain)."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    files = {}

    path = folder / "huge.png"  # 9000 × 5000 = 45 megapixels, tiny on disk
    Image.new("1", (9000, 5000)).save(path)
    files["huge"] = (path, "megapixels; the limit is 40")

    whole = folder / "whole.jpg"
    photo.save(whole, quality=90)
    path = folder / "truncated.jpg"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    files["truncated"] = (path, "truncated or damaged")

    path = folder / "deep.png"
    Image.fromarray(np.linspace(1000, 60000, 200 * 300).reshape(200, 300).astype(np.uint16)
                    ).save(path)
    files["16-bit"] = (path, "16-bit grayscale: its range 1000..60000 was scaled to 0..255")

    path = folder / "print.jpg"
    photo.convert("CMYK").save(path)
    files["CMYK"] = (path, "CMYK (print colours): converted to RGB")

    path = folder / "moving.gif"
    frames = [photo.convert("P"), photo.rotate(90).convert("P"), photo.rotate(180).convert("P")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    files["animated"] = (path, "animated image with 3 frames: the first frame is used")

    path = folder / "notes.jpg"
    path.write_text("shopping list: eggs, milk\n")
    files["not an image"] = (path, "is not an image Pillow can read")

    files["missing"] = (folder / "no_such_photo.jpg", "no such image file")
    return files


def test_bad_images_give_messages_and_the_kernel_survives(tmp_path: Path):
    files = make_files(tmp_path)
    cells = ["import os\nimport course_lib as course\nprint('kernel', os.getpid())"]
    for path, _ in files.values():
        cells.append(f"image = course.open_own_image({str(path)!r})\n"
                     "print('result:', None if image is None else tuple(image.shape))")
    cells.append("print('kernel', os.getpid())")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # No per-cell wall-clock limit (nbclient's default): on a busy machine a slow cell is not
    # a failure. nbclient's own startup_timeout still catches a kernel that never starts.
    NotebookClient(notebook, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    def text(cell) -> str:
        assert all(o["output_type"] == "stream" for o in cell.outputs), \
            f"unexpected output (an error?) in: {cell.source}\n{cell.outputs}"
        return "".join(o["text"] for o in cell.outputs)

    first, *middle, last = notebook.cells
    assert text(first) == text(last), "the kernel was restarted"
    for (name, (_, expected)), cell in zip(files.items(), middle):
        out = text(cell)
        assert expected in out, f"{name}: expected {expected!r} in the message, got {out!r}"
        if name in ("16-bit", "CMYK", "animated"):  # converted and usable
            assert out.startswith("✓") and "result: (3, 224, 224)" in out, out
        else:  # refused, with advice, and no tensor
            assert out.startswith("✗ cannot use this image") and "result: None" in out, out
            assert "JPEG or PNG" in out


@pytest.mark.parametrize("mode, note", [("L", "grayscale"), ("RGBA", "white background"),
                                        ("RGB", None)])
def test_own_image_notes_name_each_conversion(tmp_path, capsys, mode, note):
    image = Image.new("RGBA", (50, 40), (10, 200, 30, 128)).convert(mode)
    path = tmp_path / "mine.png"
    image.save(path)
    x = __import__("course_lib").open_own_image(path)
    out = capsys.readouterr().out
    assert x.shape == (3, 224, 224) and out.startswith("✓ mine.png: 50×40 pixels")
    if note:
        assert note in out
    else:
        assert "  - " not in out  # an ordinary RGB photo needs no conversion
