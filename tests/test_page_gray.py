"""A page image becomes grey as before now that no copy is made (scanner/ingest/pages.py, _to_gray)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from scanner.ingest.pages import _to_gray


def _jpeg(image: Image.Image, orientation: int | None = None) -> Image.Image:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    buf.seek(0)
    return Image.open(buf)


def test_a_phone_photo_is_turned_by_its_exif_orientation():
    wide = Image.new("L", (60, 20), 255)
    wide.paste(0, (0, 0, 10, 20))  # dark band on the left
    gray = _to_gray(_jpeg(wide, orientation=6))  # 6: shown turned 90 degrees clockwise
    assert gray.shape == (60, 20)
    assert gray[:10].mean() < 60 and gray[-10:].mean() > 200  # the band is now on top


def test_grey_and_colour_pages_read_as_grey():
    rgb = Image.new("RGB", (30, 20), (200, 100, 50))
    assert np.array_equal(_to_gray(rgb.copy()), np.asarray(rgb.convert("L")))
    grey = Image.new("L", (30, 20), 77)
    out = _to_gray(grey)
    assert out.dtype == np.uint8 and out.shape == (20, 30) and (out == 77).all()
