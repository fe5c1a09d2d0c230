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


def _pdf_pages(tmp_path, images: list[Image.Image], mode: str):
    """iter_pages over a PDF of one JPEG page per image, saved by Pillow (DCTDecode, DeviceGray or DeviceRGB)."""
    from scanner.ingest.pages import PageImage, iter_pages

    path = tmp_path / f"scan-{mode}.pdf"
    images[0].convert(mode).save(path, save_all=True, append_images=[i.convert(mode) for i in images[1:]], resolution=100)
    return path, [p for p in iter_pages([path]) if isinstance(p, PageImage)]


def test_a_pdfs_jpeg_page_goes_to_the_worker_as_its_bytes_and_reads_as_pikepdf_gives_it(tmp_path):
    """Half a megabyte crosses the pipe instead of 9 MB of pixels; the pixels are the same."""
    import pickle

    import pikepdf
    from pikepdf import PdfImage

    rng = np.random.default_rng(5)
    images = [Image.fromarray((rng.random((480, 640, 3)) * 255).astype(np.uint8)) for _ in range(2)]
    for mode in ("L", "RGB", "CMYK"):
        path, pages = _pdf_pages(tmp_path, images, mode)
        with pikepdf.open(path) as pdf:
            for page in pages:
                assert bool(page.encoded) == (mode != "CMYK")  # a CMYK JPEG is decoded as before
                sent = pickle.loads(pickle.dumps(page))
                want = _to_gray(PdfImage(next(iter(pdf.pages[page.index].get_images().values()))).as_pil_image())
                assert np.array_equal(sent.image, want)


def test_a_pdfs_damaged_jpeg_is_one_unreadable_page_said_as_the_loader_says_it(tmp_path):
    import pikepdf
    import pytest

    from scanner.ingest.pages import PageUnreadable

    rng = np.random.default_rng(6)
    path, _pages = _pdf_pages(tmp_path, [Image.fromarray((rng.random((480, 640)) * 255).astype(np.uint8))], "L")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        image = next(iter(pdf.pages[0].get_images().values()))
        data = image.read_raw_bytes()
        image.write(data[: len(data) // 3], filter=pikepdf.Name.DCTDecode)  # cut short
        pdf.save(path)
    from scanner.ingest.pages import PageImage, iter_pages

    (page,) = [p for p in iter_pages([path]) if isinstance(p, PageImage)]
    with pytest.raises(PageUnreadable) as caught:
        _ = page.image
    assert caught.value.message.startswith(f"{path} page 1 could not be read (image file is truncated")


def test_a_16_bit_grey_scan_keeps_its_ink_and_paper(tmp_path):
    """Pillow's convert("L") clips 16-bit values at 255: the page came out white and passed for a blank back."""
    from pathlib import Path

    from scanner.ingest.pages import PageImage, iter_pages

    page = np.full((40, 60), 242 * 257, np.uint16)
    page[10:30, 10:50] = 25 * 257  # ink
    for name, kwargs in (("scan.png", {}), ("scan.tif", {}), ("scan-be.tif", {"big": True})):
        path = Path(tmp_path) / name
        image = Image.fromarray(page.byteswap().view(page.dtype.newbyteorder()) if kwargs else page)
        image.save(path)
        [gray] = [p.image for p in iter_pages([path]) if isinstance(p, PageImage)]
        assert gray.dtype == np.uint8 and abs(int(gray[20, 30]) - 25) <= 1 and abs(int(gray[2, 2]) - 242) <= 1, name


def test_a_written_back_is_never_a_blank_page_and_specks_are():
    """Small block capitals in a thin pen on a sheet's back were judged blank (and never stored)."""
    import cv2

    from scanner.ingest.register import is_blank

    rng = np.random.default_rng(3)
    paper = np.clip(rng.normal(245, 2, (3300, 2550)), 0, 255).astype(np.uint8)  # letter at 300 dpi
    specks = paper.copy()
    for _ in range(60):  # dust: dots of 0.1-0.2 mm
        y, x = (int(v) for v in rng.integers(200, 2300, 2))
        cv2.circle(specks, (x, y), int(rng.integers(1, 3)), int(rng.integers(40, 160)), -1)
    assert is_blank(paper) and is_blank(specks)
    written = specks.copy()
    cv2.putText(written, "CONTINUED FROM FRONT: CLIENT REPORTED", (400, 600), cv2.FONT_HERSHEY_PLAIN, 1.6, 40, 1)
    assert not is_blank(written)


def test_a_file_whose_page_was_judged_blank_is_looked_at_again_not_called_already_stored(cli, vault_dir, tmp_path):
    """Nothing of a blank page is stored, so "already in the vault" would not be true of it."""
    import json

    path = tmp_path / "back.png"
    Image.new("L", (850, 1100), 246).save(path)
    for _ in range(2):
        run = cli("--vault", vault_dir, "ingest", path, "--json", "--workers", "1")
        assert run.code == 0, run.err
        summary = json.loads(run.out)
        assert summary["blank"] == 1 and summary["duplicates"] == 0


def test_a_pdf_image_stored_inverted_with_a_decode_array_reads_as_drawn(tmp_path):
    """/Decode [1 0] turns the stored values over; pikepdf's extraction skips it, so such a page is rendered."""
    import pikepdf

    from scanner.ingest.pages import PageImage, iter_pages

    page = np.full((1100, 850), 240, np.uint8)
    page[100:300, 100:400] = 20  # ink
    stored = Image.fromarray(255 - page)  # the negative, as stored
    path = tmp_path / "scan.pdf"
    stored.save(path, resolution=100)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        image = next(iter(pdf.pages[0].get_images().values()))
        image.Decode = pikepdf.Array([1, 0])
        pdf.save(path)
    [gray] = [p.image for p in iter_pages([path]) if isinstance(p, PageImage)]
    k = gray.shape[0] / 1100  # the page as rendered, at whatever resolution
    ink = gray[int(150 * k):int(250 * k), int(150 * k):int(350 * k)].mean()
    paper = gray[int(600 * k):int(900 * k), int(200 * k):int(600 * k)].mean()
    assert ink < 80 and paper > 200, (ink, paper)
