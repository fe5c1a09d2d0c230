"""The page worker: one raw page in, one :class:`PageResult` out.

Pure: it reads nothing from and writes nothing to the vault, so pages can be
read in worker processes while one writer stores results (OCRmyPDF's pattern).
Engines (the line recogniser, the digit model; Tesseract when an unruled area needs it) are loaded once per worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from forms.boxes import FieldBox, PageLayout
from scanner import pixels
from scanner.hand import fieldwords
from scanner.ingest import register as reg
from scanner.ingest.omr import read_marks
from scanner.pixels import CROP_MARGIN_PT

from scanner.values import HAND_KINDS, MARK_KINDS, is_risk_field
JPEG_QUALITY = 85
# Field crops (grey scans, lossless): zlib level 1, every row filtered by its left
# neighbour, run-length matching. On a 20-page batch's 320 crops this took 0.31 s
# and 9.2 MB where level 1 with the default adaptive filters took 0.55 s and
# 10.1 MB (Paeth: 0.36 s, 8.2 MB; level 0: 0.23 s, 30 MB).
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
# A value read from a badly registered page, or one scanned at too low a resolution
# (``register.LOW_RESOLUTION_DPI``), is never trusted above this.
POOR_REGISTRATION_CAP = 0.5
UNTRUSTED_PAGE_FLAGS = ("poor_registration", "low_resolution")
# Why a page without a usable marker or QR code is unmatched, and what to do.
CHANGED_FORM = ("sheet {sheet} was printed from an earlier form of '{template}', edited since (its boxes may "
                "have moved): put that template file back as it was when printed, or save the edited form "
                "under a new name")
UNKNOWN_FORM = ("its corner markers are those of no form this vault knows (a template removed, renamed or left "
                "out as broken): put it back in the vault's templates folder, then place the page in review")
NO_MARKERS = "no registration markers or QR code were found on the page (rescan it with the whole page inside the scan)"
# The header crop reaches this far above the boxes, to include their printed labels.
HEADER_LABEL_PT = 14.0


@dataclass
class FieldRead:
    key: str
    kind: str
    privacy: str
    page: int
    value: Any
    confidence: float
    flags: list[str]
    crop_png: bytes
    raw: dict[str, Any] = field(default_factory=dict)
    # A risk-screen answer (scanner.values.is_risk_field): a confirmed one a rescan reads otherwise goes back to review.
    risk: bool = False
    # Line/text fields: the draft's word vectors for search by hand (scanner.hand.fieldwords),
    # cut here from the crop in memory; the writer stores them with the page.
    draft_vectors: np.ndarray | None = None


@dataclass
class PageResult:
    status: str  # identified | unmatched | blank | error
    source: str
    sha256: str
    index: int
    message: str = ""
    template: str | None = None
    page: int | None = None
    page_size: str | None = None
    sheet_id: str | None = None
    registration_error_px: float | None = None
    scan_dpi: float | None = None  # the page's resolution in the scan (from its markers)
    flags: list[str] = field(default_factory=list)
    image_jpeg: bytes = b""
    thumb_jpeg: bytes = b""
    fields: list[FieldRead] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Page 1 only: the handwritten header (client, date, session boxes) and what
    # recognition made of it. Kept by the writer for blank sheets (SPEC 3), as a
    # suggestion beside the crop: {"client", "date" (YYYY-MM-DD or None), "session"}.
    header_png: bytes = b""
    header_guess: dict[str, Any] = field(default_factory=dict)


# Engines loaded before this process forked its workers (``preload_engines``); one Reader takes them.
_PRELOADED: dict[str, Any] = {}


def preload_engines() -> None:
    """Load the engines, and what a first page would load, now: a Reader made later here (or in a fork) takes them.

    Run once by the workers' server (:mod:`scanner.ingest.warmup`) before it
    forks the workers: the line recogniser (with one run on a blank line, which
    sets up its buffers), the digit model, the vocabulary and word-frequency tables,
    and the modules reading imports on first use. The same engines, loaded the
    same way, read the same; only the loading moves.
    """
    import numpy.ma  # noqa: F401  (numpy's median imports it on first use)
    import rapidfuzz.distance  # noqa: F401
    import rapidfuzz.process  # noqa: F401
    import threadpoolctl  # noqa: F401
    import zxingcpp  # noqa: F401

    import forms.payload  # noqa: F401
    from scanner.ingest import words
    from scanner.ingest.digits import DigitReader
    from scanner.ingest.ocr import OcrEngine

    ocr = OcrEngine()
    ocr.load()
    words.vocabulary()
    words._vocabulary_by_length()
    _PRELOADED.update(ocr=ocr, digits=DigitReader())


def forget_preloaded() -> None:
    """Drop what ``preload_engines`` loaded (after a failure: each Reader then loads its own)."""
    _PRELOADED.clear()


class Reader:
    """Everything a worker needs to read pages; build once per process."""

    def __init__(self, registry: reg.MarkerRegistry, sheet_sizes: dict[str, str] | None = None,
                 codes: dict[str, str] | None = None, abbreviations: dict[str, str] | None = None,
                 blank_sheets: set[str] | frozenset[str] | None = None,
                 sheet_layouts: dict[str, str] | None = None):
        self.registry = registry
        # The layout fingerprint each sheet was printed with (``store.sheet_layouts``):
        # a sheet whose template was edited since is not read against the new boxes.
        self.sheet_layouts = sheet_layouts or {}
        # Sheets printed blank still waiting for a client: only their header is read
        # (``store.blank_sheet_ids``). None: read the header of every page 1.
        self.blank_sheets = blank_sheets
        self.sheet_sizes = sheet_sizes or {}
        self.codes = codes or {}  # template code (SES) -> template name
        self.abbreviations = abbreviations or {}  # the clinician's own, kept intact by post-correction
        self._ocr: Any = None
        self._digits: Any = None

    @property
    def ocr(self):
        if self._ocr is None:
            from scanner.ingest.ocr import OcrEngine
            from scanner.shorthand import Shorthand

            engine = _PRELOADED.pop("ocr", None)  # a worker's preloaded one, given this vault's shorthand
            if engine is None:
                engine = OcrEngine()
            engine.shorthand = Shorthand(self.abbreviations)
            self._ocr = engine
        return self._ocr

    @property
    def digits(self):
        if self._digits is None:
            from scanner.ingest.digits import DigitReader

            self._digits = _PRELOADED.pop("digits", None) or DigitReader()
            # The line recogniser reads each digit too: a digit is sure only when both readers are (digits.agree).
            self._digits.second = self.ocr.digit_probabilities
        return self._digits

    # -- the page pipeline, stage by stage ---------------------------------
    def process(self, source: str, sha256: str, index: int, gray: np.ndarray) -> PageResult:
        t = {}
        start = time.perf_counter()
        result = PageResult("unmatched", source, sha256, index)
        hits = reg.find_markers(gray)
        registration = reg.register(gray, self.registry, hits)
        t["markers"] = time.perf_counter() - start
        payload = None
        if registration is None:
            if reg.is_blank(gray):
                result.status = "blank"
                result.timings = t
                return result
            found = self._by_qr(gray)
            if found is None:
                if not hits:
                    return self._unmatched(result, gray, NO_MARKERS, t)
                qr = reg.find_qr(gray)  # a form left out: its sheet is offered in review once it is back
                ref = _decode(qr[0]) if qr else None
                result.sheet_id = ref.sheet_id if ref else None
                return self._unmatched(result, gray, UNKNOWN_FORM, t)
            registration, payload = found

        stamp = time.perf_counter()
        page = reg.warp(gray, registration)
        layout = self.registry.page_layout(registration.template, registration.page, registration.page_size)
        payload = payload or reg.read_qr(page, layout.qr)
        t["register"] = time.perf_counter() - stamp
        ref = _decode(payload)
        result.template, result.page = registration.template, registration.page
        by_eye = ref is None
        if by_eye:
            ref = self._printed_sheet_id(page, layout, registration)
        if ref is None:
            return self._unmatched(result, gray, "the QR code could not be read", t,
                                   guess={"template": registration.template, "page": registration.page})
        if self.codes.get(ref.code) != registration.template or ref.page != registration.page:
            return self._unmatched(result, gray, "the QR code and the corner markers disagree", t,
                                   guess={"template": registration.template, "page": registration.page,
                                          "sheet_id": ref.sheet_id})
        wanted = self.sheet_sizes.get(ref.sheet_id)
        if wanted and wanted != registration.page_size:
            registration = reg.register(gray, self.registry, hits, page_size=wanted) or registration
            page = reg.warp(gray, registration)
            layout = self.registry.page_layout(registration.template, registration.page, registration.page_size)
        printed = self.sheet_layouts.get(ref.sheet_id)
        if printed and printed != self.registry.layout_digest(registration.template, registration.page_size):
            result.sheet_id = ref.sheet_id  # review offers this sheet once the template is back
            return self._unmatched(result, gray, CHANGED_FORM.format(sheet=ref.sheet_id, template=registration.template),
                                   t, guess={"template": registration.template, "page": registration.page,
                                             "sheet_id": ref.sheet_id})

        result.status = "identified"
        result.sheet_id = ref.sheet_id
        result.page_size = registration.page_size
        result.registration_error_px = round(registration.error_px, 2)
        result.scan_dpi = round(registration.scan_dpi, 1) or None
        result.flags = list(registration.flags) + (["qr_unread"] if by_eye else [])

        stamp = time.perf_counter()
        result.fields = self.read_fields(page, layout, registration)
        if result.page == 1 and (self.blank_sheets is None or ref.sheet_id in self.blank_sheets):
            result.header_png, result.header_guess = self.read_header(page, layout)
        t["read"] = time.perf_counter() - stamp
        stamp = time.perf_counter()
        result.image_jpeg = encode_jpeg(page)
        t["encode"] = time.perf_counter() - stamp
        result.timings = t
        return result

    def _by_qr(self, gray: np.ndarray) -> tuple[reg.Registration, str] | None:
        """A page without a marker found (cut off by the scan's edge, covered) placed by its QR code alone."""
        found = reg.find_qr(gray)
        ref = _decode(found[0]) if found else None
        template = self.codes.get(ref.code) if ref else None
        if found is None or ref is None or template is None:
            return None
        size = self.sheet_sizes.get(ref.sheet_id) or self.registry.page_sizes(template)[0]
        try:
            registration = reg.register_by_qr(found[1], self.registry, template, ref.page, size)
        except (KeyError, IndexError):  # a page number the template does not have
            return None
        return (registration, found[0]) if registration else None

    def _printed_sheet_id(self, page: np.ndarray, layout: PageLayout, registration: reg.Registration):
        """The sheet id printed beside the QR code ("SHEET 7KQ2M9XD"), read by Tesseract, when the QR is not
        readable (a pen stroke, a sticky note): taken only if it is a sheet this vault printed."""
        from forms.payload import SHEET_ID_ALPHABET, SHEET_ID_LENGTH, SheetRef
        from scanner.ingest.ocr import PSM_SINGLE_LINE

        code = next((c for c, name in self.codes.items() if name == registration.template), None)
        crop = reg.crop(page, layout.sheet_id, margin_pt=3)
        if code is None or crop.size == 0 or not self.sheet_sizes:
            return None
        text, _words = self.ocr._recognise(crop, PSM_SINGLE_LINE)
        found = {t for t in text.upper().split() if len(t) == SHEET_ID_LENGTH and set(t) <= set(SHEET_ID_ALPHABET)}
        known = [t for t in found if t in self.sheet_sizes]
        return SheetRef(code, 0, known[0], registration.page) if len(known) == 1 else None

    def read_fields(self, page: np.ndarray, layout: PageLayout, registration: reg.Registration) -> list[FieldRead]:
        untrusted = [flag for flag in UNTRUSTED_PAGE_FLAGS if flag in registration.flags]
        # All handwritten lines of the page go through the line recogniser together.
        texts = [f for f in layout.fields if f.kind in HAND_KINDS]
        jobs = [self.ocr.line_job(reg.crop(page, f.bbox)) if f.kind == "line"
                else self.ocr.area_job(reg.crop(page, f.bbox), _line_boxes(f)) for f in texts]
        ocr = dict(zip((f.key for f in texts), self.ocr.finish(jobs)))
        reads = []
        for f in layout.fields:
            read = self.read_field(page, f, registration.page, ocr.get(f.key))
            if untrusted:
                read.flags = list(dict.fromkeys(read.flags + untrusted))
                read.confidence = min(read.confidence, POOR_REGISTRATION_CAP)
            reads.append(read)
        return reads

    def read_header(self, page: np.ndarray, layout: PageLayout) -> tuple[bytes, dict[str, Any]]:
        """The header strip of a registered page 1 as PNG, and a guess at what is written in it.

        Read for page 1 of the sheets in ``blank_sheets`` (every page 1 when
        that is None; 30-140 ms here, mostly the digit cells); the writer keeps
        it only for a sheet with no client. A header that cannot be read gives
        an empty guess, never a failed page.
        """
        header = layout.header
        if not header or not all(k in header for k in ("client", "date", "session")):
            return b"", {}
        boxes = [header[k] for k in ("client", "date", "session")]
        # Up to the printed labels above the boxes ("DATE (MM DD YYYY)" tells the order).
        strip = [min(b[0] for b in boxes) - 4, min(b[1] for b in boxes) - HEADER_LABEL_PT,
                 max(b[2] for b in boxes) + 4, max(b[3] for b in boxes) + 4]
        png = encode_png(reg.crop(page, strip))
        try:
            return png, self._header_guess(page, layout)
        except (cv2.error, ValueError, RuntimeError) as exc:  # engines fail in their own ways
            return png, {"problem": type(exc).__name__}

    def _header_guess(self, page: np.ndarray, layout: PageLayout) -> dict[str, Any]:
        header, cells = layout.header, layout.header_cells or {}
        client = self.ocr.read_line(reg.crop(page, header["client"]))
        guess: dict[str, Any] = {"client": client.text.strip(), "client_confidence": round(float(client.confidence), 3),
                                 "date": None, "session": ""}
        if cells.get("date"):
            text, confidence, _flags = self.digits.read_cells([reg.crop(page, c) for c in cells["date"]])
            guess["date"] = _header_date(text, layout.date_order or "MDY")
            guess["date_confidence"] = round(float(confidence), 3)
        if cells.get("session"):
            text, confidence, _flags = self.digits.read_cells([reg.crop(page, c) for c in cells["session"]])
            guess["session"] = text.lstrip("0")
            guess["session_confidence"] = round(float(confidence), 3)
        return guess

    def read_field(self, page: np.ndarray, f: FieldBox, page_no: int, res=None) -> FieldRead:
        """One field of a registered page; ``res`` is its OCR result when already read (``read_fields``)."""
        kind = f.kind
        crop = reg.crop(page, f.bbox, CROP_MARGIN_PT)
        raw: dict[str, Any] = {}
        vectors = None
        if kind in MARK_KINDS:
            marks = read_marks(page, kind, f.options, bool(f.field.multiple))
            value, confidence, flags = marks.value, marks.confidence, marks.flags
            raw["fills"] = {k: round(v, 4) for k, v in marks.fills.items()}
        elif kind == "digits":
            cells = [reg.crop(page, c) for c in f.cells]
            value, confidence, flags = self.digits.read_cells(cells, _digit_range(f))
            confidence, flags = _check_digits(value, confidence, list(flags), f)
        else:
            if res is None:
                inner = reg.crop(page, f.bbox)
                res = self.ocr.read_line(inner) if kind == "line" else self.ocr.read_area(inner, _line_boxes(f))
            value, confidence, flags = res.text, res.confidence, list(res.flags)
            if getattr(res, "raw_text", None) and res.raw_text != res.text:
                raw["ocr_raw"] = res.raw_text
            if res.alternative:
                raw["alternative"] = res.alternative
            vectors = _draft_vectors(crop, value, f)
        return FieldRead(f.key, kind, f.field.privacy, page_no, value, float(confidence), list(flags),
                         encode_png(crop), raw, risk=is_risk_field(f.field), draft_vectors=vectors)

    def _unmatched(self, result: PageResult, gray: np.ndarray, why: str, t: dict[str, float],
                   guess: dict[str, Any] | None = None) -> PageResult:
        result.status = "unmatched"
        result.message = why
        result.flags = ["unmatched"]
        if guess:
            result.flags.append("guess:" + ",".join(f"{k}={v}" for k, v in guess.items()))
        result.image_jpeg = encode_jpeg(_downscale(gray, 1700))
        result.thumb_jpeg = encode_jpeg(_downscale(gray, 300))
        result.timings = t
        return result


def _digit_range(f: FieldBox) -> tuple[int, int] | None:
    """A digits field's allowed values (min, max): the one range of scanner.values (confirm, review, ingest)."""
    from scanner.values import digit_range

    return digit_range(f)


def _check_digits(value: str, confidence: float, flags: list[str], f: FieldBox) -> tuple[float, list[str]]:
    """An impossible number (outside the field's range) is never trusted."""
    from scanner.ingest.digits import check_range, lower_if_implausible

    allowed = _digit_range(f)
    if value and value.isdigit() and allowed:
        ok = check_range(value, *allowed)
        confidence = lower_if_implausible(confidence, ok)
        if not ok:
            flags = flags + ["implausible", "low_confidence"]
    return confidence, list(dict.fromkeys(flags))


def _header_date(digits: str, order: str) -> str | None:
    """Eight digits written in the header's date cells (``order`` e.g. "MDY") as YYYY-MM-DD, if a real date."""
    import datetime as dt

    widths = {"D": 2, "M": 2, "Y": 4}
    if len(digits) != 8 or not digits.isdigit() or sorted(order) != ["D", "M", "Y"]:
        return None
    parts, at = {}, 0
    for c in order:
        parts[c], at = int(digits[at:at + widths[c]]), at + widths[c]
    try:
        return dt.date(parts["Y"], parts["M"], parts["D"]).isoformat()
    except ValueError:
        return None


def _decode(payload: str | None):
    if not payload:
        return None
    from forms.payload import PayloadError, decode

    try:
        return decode(payload)
    except PayloadError:
        return None


def _draft_vectors(crop: np.ndarray, text: Any, f: FieldBox) -> np.ndarray | None:
    """Word vectors of the stored crop for search by handwriting, cut as learning and suggestions cut it."""
    try:
        boxes = fieldwords.crop_line_boxes(f.kind, f.bbox, f.lines or None)
        return fieldwords.draft_vectors(crop, text if isinstance(text, str) else "", boxes)
    except fieldwords.CUT_ERRORS:
        return None  # searchable by hand after ``inklock reindex``


def _line_boxes(f: FieldBox) -> list[pixels.Box] | None:
    """Ruled-line boxes of a line/text field, in pixels relative to its box (what OCR reads)."""
    return pixels.line_boxes(f.bbox, f.lines or None)


def _downscale(gray: np.ndarray, long_side: int) -> np.ndarray:
    h, w = gray.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s >= 1.0:
        return gray
    return cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def encode_jpeg(gray: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return buf.tobytes() if ok else b""


def encode_png(gray: np.ndarray) -> bytes:
    if gray.size == 0:
        gray = np.full((4, 4), 255, np.uint8)
    ok, buf = cv2.imencode(".png", gray, PNG_PARAMS)
    return buf.tobytes() if ok else b""
