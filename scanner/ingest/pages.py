"""Page loading: turn the paths a user gives into a stream of page images.

Pages are produced one at a time (a generator), so memory does not grow with
the batch. A scanner's PDF page that is one embedded image is taken out as it
is (pikepdf); any other PDF page is rendered with pdf2image/poppler at 300 dpi,
through a pipe (no temp files). Problems with one file become a
:class:`FileProblem` in the stream; the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

from scanner.errors import BadInput
from forms.payload import PACKET_CREATOR, PACKET_TITLE

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = IMAGE_SUFFIXES | PDF_SUFFIXES
# Picture files a folder of scans or phone photos may hold that are not read; other
# files in a folder (a scanner's sidecar, a hidden file) are passed over quietly.
OTHER_IMAGE_SUFFIXES = {".heic", ".heif", ".webp", ".bmp", ".gif", ".jp2", ".jxl", ".avif", ".dng"}
RENDER_DPI = 300
# A letter page at 600 dpi is 34 Mpx; anything far beyond is a decompression bomb.
MAX_PIXELS = 80_000_000
# A page so large that it fits MAX_PIXELS only below this resolution is no scanned form.
MIN_RENDER_DPI = 50


class PageUnreadable(Exception):
    """A page whose image could not be decoded; ``message`` is the sentence its problem is reported with."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class PageImage:
    """One page of one input file; ``image`` is its 8-bit grayscale array.

    A scanner's JPEG taken out of a PDF comes as the file's own bytes
    (``encoded``) and is decoded on first use of ``image``, so in the worker
    that reads the page: the pipe to the workers carries its half megabyte,
    not 9 MB of pixels (which cost 30 ms of both processes' time a page).
    """

    source: Path
    sha256: str
    index: int  # 0-based page index within the source file
    pixels: np.ndarray | None
    dpi: float | None = None
    encoded: bytes = b""

    @property
    def image(self) -> np.ndarray:
        """The page as 8-bit grey; raises :class:`PageUnreadable` when its image cannot be decoded."""
        if self.pixels is None:
            try:
                with _quiet():
                    self.pixels = _decoded(self.encoded)
            except Exception as exc:  # noqa: BLE001 -- a damaged image may break the decoder in any way
                raise PageUnreadable(_page_problem(self.source, self.index, exc)) from exc
            self.encoded = b""
        return self.pixels


@dataclass
class FileProblem:
    """A file (or one page of it) that could not be read; ``message`` is one sentence."""

    source: Path
    sha256: str | None
    message: str
    index: int | None = None


@dataclass
class FileStart:
    """Marks the start of a file in the stream, with its page count."""

    source: Path
    sha256: str
    pages: int


def shown_path(path: str | Path) -> str:
    """A path as text that can be printed and stored: bytes that are not UTF-8 shown as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def special_kind(path: Path) -> str | None:
    """What ``path`` (followed if a link) is when it is not a regular file or folder, else None."""
    from scanner.outfile import kind_of_special

    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return None if stat.S_ISDIR(mode) else kind_of_special(mode)


def special_problem(path: Path, kind: str) -> FileProblem:
    return FileProblem(path, None, f"{shown_path(path)} is {kind}, not a regular file; "
                       "Inklock reads only scanned files.")


def file_sha256(path: Path) -> str:
    from scanner.outfile import open_regular

    h = hashlib.sha256()
    with open_regular(path, "scan") as fh:  # never blocks on a FIFO swapped in after the check
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expand_paths(paths: list[Path]) -> Iterator[Path | FileProblem]:
    """Files named directly and the supported files inside named folders (sorted)."""
    for path in paths:
        if path.is_dir():
            try:
                children = sorted(p for p in path.iterdir() if p.is_file())
            except OSError as exc:
                yield FileProblem(path, None, f"The folder {path} cannot be read ({exc.strerror or exc}).")
                continue
            found = False
            for child in children:
                if child.suffix.lower() in SUPPORTED:
                    found = True
                    yield child
                elif child.suffix.lower() in OTHER_IMAGE_SUFFIXES:
                    # Likely a page (a phone's HEIC photo): say so rather than skip it silently.
                    found = True
                    yield FileProblem(child, None, f"{child} is an image Inklock cannot read; "
                                      "save it as JPEG, PNG or TIFF and ingest it again.")
            if not found:  # a wrong folder named, or the scans not yet there: not "0 pages read"
                yield FileProblem(path, None, f"The folder {path} holds no scans (PDF, PNG, JPEG or TIFF files); "
                                  "nothing was read from it.")
        elif not path.exists():
            yield FileProblem(path, None, f"{path} does not exist.")
        elif kind := special_kind(path):
            yield special_problem(path, kind)
        elif path.suffix.lower() not in SUPPORTED:
            yield FileProblem(
                path, None, f"{path} is not a PDF, PNG, JPEG or TIFF file; Inklock reads only those."
            )
        else:
            yield path


def _to_gray(img: Image.Image) -> np.ndarray:
    """The page as 8-bit grey; ``img`` is the caller's own copy and may be changed (no copies made here)."""
    ImageOps.exif_transpose(img, in_place=True)  # a scanner's page: 9 MB not copied when it needs no turn
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode.startswith("I") or img.mode == "F":
        return _deep_to_gray(img)
    return np.asarray(img if img.mode == "L" else img.convert("L"), dtype=np.uint8)


def _deep_to_gray(img: Image.Image) -> np.ndarray:
    """A 16-bit (or 32-bit, or float) grey page as 8-bit grey, by its own bit depth.

    Pillow's ``convert("L")`` clips such values at 255: a 16-bit scan (paper near
    62,000) came out all white but its darkest ink, and the page passed for a blank back.
    """
    values = np.asarray(img, dtype=np.float32)
    top = float(values.max()) if values.size else 0.0
    if img.mode == "F" and top <= 1.0:
        values = values * 255.0
    elif top > 255.0:
        values = values / (257.0 if top <= 65535.0 else top / 255.0)
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def _limit_pixels() -> None:
    # Pillow refuses images beyond twice this at open (and at each TIFF frame);
    # _check_size refuses the band between once and twice, where Pillow only warns.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _check_size(img: Image.Image) -> None:
    """Refuse an image too large to be a page before it is decoded."""
    if img.width * img.height > MAX_PIXELS:
        raise Image.DecompressionBombError(f"{img.width} x {img.height} pixels")


def _decoded(data: bytes) -> np.ndarray:
    """A page's image file, held in memory, as 8-bit grey (what reading the file itself gives)."""
    _limit_pixels()
    img = Image.open(io.BytesIO(data))
    _check_size(img)
    return _to_gray(img)


def _open_image(path: Path) -> Image.Image:
    _limit_pixels()
    return Image.open(path)


def _image_pages(path: Path, sha: str) -> Iterator[FileStart | PageImage | FileProblem]:
    try:
        with _quiet():
            img = _open_image(path)
            n = getattr(img, "n_frames", 1)
        with img:
            yield FileStart(path, sha, n)
            for i in range(n):
                with _quiet():
                    img.seek(i)
                    item: PageImage | FileProblem
                    if img.width * img.height == 0:
                        item = FileProblem(path, sha, f"{path} page {i + 1} is an empty image.", i)
                    else:
                        _check_size(img)
                        item = PageImage(path, sha, i, _to_gray(img.copy()), _dpi(img.info.get("dpi")))
                yield item
    except Image.DecompressionBombError:
        yield FileProblem(path, sha, f"{path} is far too large an image to be a scanned page; it was not read.")
    except MemoryError:
        yield FileProblem(path, sha, f"{path} is too large an image to read in memory; it was not read.")
    except Exception as exc:  # noqa: BLE001 -- a damaged file may break a decoder in any way; the batch goes on
        yield FileProblem(path, sha, f"{path} is not a readable image ({_short(exc)}).")


@contextmanager
def _quiet() -> Iterator[None]:
    """Decoders keep quiet: a damaged file is one reported problem, not noise on stderr.

    Python warnings (corrupt EXIF, Pillow's size warning) are ignored, and file
    descriptor 2 points at /dev/null meanwhile, because libtiff writes its
    complaints there itself. Never held across a ``yield``: both are process-wide.
    """
    saved = os.dup(2)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _dpi(value) -> float | None:
    """The resolution an image file states, if it is a sensible number."""
    try:
        dpi = float(value[0] if isinstance(value, (tuple, list)) else value)
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if 1.0 <= dpi <= 10_000.0 else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    # qpdf names the Python stream it read ("stream <_io.BufferedReader name='x.pdf'>: ..."): not for a person.
    text = re.sub(r"^stream <[^>]*>:\s*", "", text)
    return text.splitlines()[0][:160]


def _single_image(page) -> Image.Image | bytes | None:
    """The page's one embedded image if the page is just that (a scanner's page), else None.

    A plain JPEG comes as its bytes (:func:`_plain_jpeg`), its size checked
    from its header; any other image decoded.
    """
    import pikepdf
    from pikepdf import PdfImage

    images = list(page.get_images().values())
    if len(images) != 1:
        return None
    # A page with text drawn on it is not a plain scan.
    try:
        content = b"".join(c.read_bytes() for c in _contents(page))
    except (pikepdf.PdfError, AttributeError):
        return None
    if b"Tj" in content or b"TJ" in content:
        return None
    pdfimage = PdfImage(images[0])
    if pdfimage.width * pdfimage.height > MAX_PIXELS:
        raise Image.DecompressionBombError("image too large")
    if pdfimage.width * pdfimage.height < 250_000:
        return None  # a logo or stamp, not a page scan
    if _decode_changed(pdfimage):
        return None  # pikepdf's extraction skips /Decode (an inverted image came out a negative): render it
    jpeg = _plain_jpeg(pdfimage)
    if jpeg is not None:
        header = Image.open(io.BytesIO(jpeg))  # reads the header only
        _check_size(header)  # the image data may state other dimensions than the PDF does
        return jpeg
    pil = pdfimage.as_pil_image()
    _check_size(pil)  # the image data may state other dimensions than the PDF does
    return pil


def _decode_changed(pdfimage) -> bool:
    """Whether a grey image's /Decode array maps its values other than as stored ([0 1]).

    Only grey: a CMYK JPEG's [1 0 1 0 1 0 1 0] is the Adobe convention, which the decoder already handles.
    """
    try:
        decode = pdfimage.obj.get("/Decode")
        if decode is None or pdfimage.mode != "L":
            return False
        return [float(v) for v in decode] != [0.0, 1.0]
    except Exception:  # noqa: BLE001 -- an unreadable array: let the renderer judge it
        return True


def _plain_jpeg(pdfimage) -> bytes | None:
    """The image's JPEG file as stored, when it decodes to just what ``as_pil_image`` would give; else None.

    That is one DCTDecode filter on a grey or ordinary (YCbCr) colour image,
    8 bits, no mask: pikepdf then hands Pillow these very bytes itself (its
    direct extraction, where the /Decode array does not apply).
    """
    try:
        if pdfimage.filters != ["/DCTDecode"] or pdfimage.image_mask or pdfimage.bits_per_component != 8:
            return None
        if "/SMask" in pdfimage.obj or "/Mask" in pdfimage.obj:
            return None
        parms = pdfimage.filter_decodeparms[0][1]
        transform = 1 if parms is None else parms.get("/ColorTransform", 1)
        if not (pdfimage.mode == "L" or (pdfimage.mode == "RGB" and transform == 1)):
            return None
        return bytes(pdfimage.obj.read_raw_bytes())
    except Exception:  # noqa: BLE001 -- anything unusual takes the decoding path, which says what is wrong
        return None


def _contents(page):
    import pikepdf

    contents = page.obj.get("/Contents")
    if contents is None:
        return []
    if isinstance(contents, pikepdf.Array):
        return list(contents)
    return [contents]


def page_inches(page) -> tuple[float, float]:
    """Width and height of a PDF page as it is rendered (crop box, in user units), in inches."""
    box = [float(v) for v in page.cropbox]
    unit = float(page.obj.get("/UserUnit", 1.0))
    return abs(box[2] - box[0]) * unit / 72.0, abs(box[3] - box[1]) * unit / 72.0


def render_dpi(width_in: float, height_in: float) -> int:
    """RENDER_DPI, or less for a page that would otherwise exceed MAX_PIXELS; refuses absurd sizes."""
    area = width_in * height_in
    if not area > 0.01:  # also catches NaN
        raise BadInput("it has no printable area")
    dpi = min(RENDER_DPI, int((MAX_PIXELS / area) ** 0.5))
    if dpi < MIN_RENDER_DPI:
        raise Image.DecompressionBombError(f"{width_in:.0f} x {height_in:.0f} inches")
    return dpi


def _render(path: Path, index: int, size_in: tuple[float, float]) -> tuple[np.ndarray, int]:
    from pdf2image import convert_from_path

    dpi = render_dpi(*size_in)
    # No output_folder: pdftoppm writes to a pipe, never to a temp file.
    pages = convert_from_path(
        str(path), dpi=dpi, first_page=index + 1, last_page=index + 1, grayscale=True
    )
    if not pages:
        raise BadInput("the renderer returned nothing")
    gray = np.asarray(pages[0].convert("L"), dtype=np.uint8)
    # pdftoppm answers a page it cannot draw with a tiny image, which would pass for a blank page.
    expected = sorted(round(v * dpi) for v in size_in)
    if any(got < 0.5 * want for got, want in zip(sorted(gray.shape), expected)):
        raise BadInput(f"the renderer made {gray.shape[1]} x {gray.shape[0]} pixels of it")
    return gray, dpi


def _pdf_pages(path: Path, sha: str) -> Iterator[FileStart | PageImage | FileProblem]:
    import pikepdf

    _limit_pixels()
    try:
        # Through an open file: pikepdf takes no path whose name is not valid UTF-8.
        fh = open(path, "rb")
    except OSError as exc:
        yield FileProblem(path, sha, f"{path} cannot be opened ({exc.strerror or exc}).")
        return
    try:
        pdf = pikepdf.open(fh)
    except pikepdf.PasswordError:
        fh.close()
        yield FileProblem(path, sha, f"{path} is a password-protected PDF; save it without a password and ingest it again.")
        return
    except Exception as exc:  # noqa: BLE001 -- a damaged file may break the parser in any way
        fh.close()
        yield FileProblem(path, sha, f"{path} is not a readable PDF ({_short(exc)}).")
        return
    with fh, pdf:
        try:
            n = len(pdf.pages)
        except pikepdf.PdfError as exc:
            yield FileProblem(path, sha, f"{path} is a damaged PDF ({_short(exc)}).")
            return
        if n == 0:
            yield FileProblem(path, sha, f"{path} has no pages.")
            return
        if _printed_packet(pdf):
            # Read as a scan, its empty fields would mark every session received with nothing written.
            yield FileProblem(path, sha, f"{path} is a packet Inklock printed, not a scan: print it, write on it "
                                         "and scan the pages; nothing was stored.")
            return
        yield FileStart(path, sha, n)
        for i in range(n):
            yield _pdf_page(pdf, path, sha, i)


def _printed_packet(pdf) -> bool:
    """Whether a PDF is one of Inklock's own packets (forms.render names itself in the PDF's information)."""
    try:
        info = pdf.docinfo
        return str(info.get("/Creator", "")) == PACKET_CREATOR and str(info.get("/Title", "")) == PACKET_TITLE
    except Exception:  # noqa: BLE001 -- a damaged information dictionary is no packet of ours
        return False


def _pdf_page(pdf, path: Path, sha: str, i: int) -> PageImage | FileProblem:
    """Page ``i`` of an open PDF: its scan image taken out as is, or the page rendered."""
    try:
        with _quiet():
            page = pdf.pages[i]
            found = _single_image(page)
            if isinstance(found, bytes):
                return PageImage(path, sha, i, None, None, found)  # decoded where it is read
            if found is not None:
                return PageImage(path, sha, i, _to_gray(found), None)
            gray, dpi = _render(path, i, page_inches(page))
            return PageImage(path, sha, i, gray, float(dpi))
    except Exception as exc:  # noqa: BLE001 -- one bad page must not stop the batch
        return FileProblem(path, sha, _page_problem(path, i, exc), i)


def _page_problem(path: Path, i: int, exc: BaseException) -> str:
    """What is said of page ``i`` of ``path`` that could not be read."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"{path} page {i + 1} is far too large to be a scanned page; it was not read."
    if isinstance(exc, MemoryError):
        return f"{path} page {i + 1} is too large to read in memory; it was not read."
    return f"{path} page {i + 1} could not be read ({_short(exc)})."


def iter_pages(paths: list[Path]) -> Iterator[FileStart | PageImage | FileProblem]:
    """Stream every page of every input, with a FileStart before each file's pages."""
    for item in expand_paths(paths):
        if isinstance(item, FileProblem):
            yield item
            continue
        path = item
        try:
            if kind := special_kind(path):  # a FIFO or a device is not "an empty file"
                yield special_problem(path, kind)
                continue
            if path.stat().st_size == 0:
                yield FileProblem(path, None, f"{path} is an empty file.")
                continue
            sha = file_sha256(path)
        except BadInput as exc:
            yield FileProblem(path, None, exc.message)
            continue
        except OSError as exc:
            yield FileProblem(path, None, f"{path} cannot be read ({exc.strerror or exc}).")
            continue
        if path.suffix.lower() in PDF_SUFFIXES:
            yield from _pdf_pages(path, sha)
        else:
            yield from _image_pages(path, sha)
