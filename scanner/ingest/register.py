"""Identification and registration: from a raw page image to a straightened page.

Markers first (their ids give template, page and orientation), then a homography
from every detected marker corner onto the template's geometry, then the QR code
read from the straightened page. PDF points (the template) become pixels of the
straightened page at one scale, :mod:`scanner.pixels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from scanner.pixels import PX_PER_PT, WORK_DPI, to_px  # noqa: F401  (reg.to_px, reg.WORK_DPI: one scale)

# Registration error (RMS of marker corners, px at WORK_DPI) above which a page is
# flagged: 4 px is 0.5 mm, a quarter of the smallest box inset.
POOR_REGISTRATION_PX = 4.0
# Scanned below this resolution (the page's, from its markers), a page is flagged
# ``low_resolution`` and nothing on it is trusted (:mod:`scanner.ingest.read`): the
# reading was measured on scans of 100-600 dpi and phone photos of about 145-220 dpi
# (generated pages: at 100 and 120 dpi no tick or wrong value went unflagged but one),
# and below that nothing says how well it reads.
LOW_RESOLUTION_DPI = 100.0
DETECT_LONG_SIDE = 1400
# Paper added round a page whose markers touch its edge (a share of its long side: 2% is 5 mm on letter).
EDGE_PAD = 0.02
# ... and how far inside the scan's edge such a marker's corners must be (px) to be used: one at the edge may be cut.
EDGE_CLEAR_PX = 1.5
# Ink this long (mm; marks less than 1 mm apart taken together) on a page without markers makes it
# a page to look at, not a blank back.
BLANK_STROKE_MM = 3.0
_CORNERS = ("tl", "tr", "br", "bl")


@dataclass
class MarkerHit:
    marker_id: int
    corners: np.ndarray  # 4x2 float32, full-resolution pixels, marker's own TL,TR,BR,BL


@dataclass
class Registration:
    template: str
    page: int
    page_size: str
    homography: np.ndarray  # raw image px -> work px
    error_px: float
    markers_found: int
    flags: list[str] = field(default_factory=list)
    size_px: tuple[int, int] = (0, 0)  # (width, height) of the registered page
    scan_dpi: float = 0.0  # the scan's resolution on the page (from the homography), 0 when unknown


def scan_dpi(homography: np.ndarray, size_px: tuple[int, int]) -> float:
    """The scan's resolution over the page: the page's area in the scan against its area at WORK_DPI.

    The page's corners are mapped back into the scan (the inverse of the
    homography), so a photo taken at a slant gives its mean resolution.
    """
    w, h = size_px
    if w <= 0 or h <= 0:
        return 0.0
    try:
        inverse = np.linalg.inv(homography)
    except np.linalg.LinAlgError:
        return 0.0
    corners = np.array([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]], np.float32)
    area = abs(float(cv2.contourArea(cv2.perspectiveTransform(corners, inverse).astype(np.float32))))
    return WORK_DPI * float(np.sqrt(area / (w * h)))


class MarkerRegistry:
    """Which template page each marker id belongs to, and where it sits, per page size."""

    def __init__(self, layouts: dict[tuple[str, str], Any]):
        # layouts: (template name, page size) -> forms.catalog.Form (typed pages)
        self.layouts = layouts
        self.by_id: dict[int, tuple[str, int, str]] = {}
        for (name, _size), form in layouts.items():
            for page in form.pages:
                for marker_id, corner, _box in page.markers:
                    self.by_id[int(marker_id)] = (name, int(page.number), corner)

    def page_layout(self, template: str, page: int, page_size: str) -> Any:
        """The page's ``forms.boxes.PageLayout`` (read by attribute; also a mapping of its export)."""
        return self.layouts[(template, page_size)].page(page)

    def layout_digest(self, template: str, page_size: str) -> str:
        """The fingerprint of the template's layout on this paper (``Form.reading_digest``)."""
        return self.layouts[(template, page_size)].reading_digest

    def page_sizes(self, template: str) -> list[str]:
        return [size for (name, size) in self.layouts if name == template]

    def size_pt(self, template: str, page_size: str) -> tuple[float, float]:
        w, h = self.layouts[(template, page_size)].size
        return float(w), float(h)


_DETECTOR: cv2.aruco.ArucoDetector | None = None


def _detector() -> cv2.aruco.ArucoDetector:
    global _DETECTOR
    if _DETECTOR is None:
        params = cv2.aruco.DetectorParameters()
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
        _DETECTOR = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), params)
    return _DETECTOR


def _shrunk(gray: np.ndarray, scale: float) -> np.ndarray:
    """``gray`` scaled by ``scale`` (at most 1) with pixel-area averaging.

    Whole factors first (OpenCV averages 2x2 or 3x3 blocks fast: under 1 ms
    for a 300 dpi page), then the rest on the smaller image: 6 ms instead of
    20 ms for one pass of area averaging by a factor that is not whole.
    """
    if scale >= 1:
        return gray
    h, w = gray.shape[:2]
    whole = int(1 / scale)
    if whole >= 2:
        gray = cv2.resize(gray, (w // whole, h // whole), interpolation=cv2.INTER_AREA)
    return cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def find_markers(gray: np.ndarray) -> list[MarkerHit]:
    """Detect markers on a downscaled copy, then refine their corners at full resolution.

    A marker needs paper round it to be found. A scan cropped to its content
    (scanner software's auto-crop) or trimmed at the edges leaves markers
    touching the image's edge with no paper beside them: when fewer than four
    are found, the page is looked at again inside a border of its own paper
    and the look that finds more markers is kept.
    """
    hits = _detect(gray)
    if len(hits) < len(_CORNERS):
        framed, pad = _framed(gray)
        h, w = gray.shape[:2]
        more = []
        for hit in _detect(framed):
            corners = hit.corners - np.float32(pad)
            # A marker reaching the scan's edge may be cut by it: its corners would be wrong, so it is not used.
            inside = ((corners[:, 0] >= EDGE_CLEAR_PX) & (corners[:, 0] <= w - 1 - EDGE_CLEAR_PX)
                      & (corners[:, 1] >= EDGE_CLEAR_PX) & (corners[:, 1] <= h - 1 - EDGE_CLEAR_PX))
            if inside.all():
                more.append(MarkerHit(hit.marker_id, corners))
        if len(more) > len(hits):
            hits = more
    return hits


def _framed(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """The page inside a border of its own paper (EDGE_PAD of its long side), and the border's width."""
    pad = max(8, round(EDGE_PAD * max(gray.shape[:2])))
    paper = int(np.percentile(gray[:: 8, :: 8], 90))
    return cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=paper), pad


def _detect(gray: np.ndarray) -> list[MarkerHit]:
    h, w = gray.shape[:2]
    scale = min(1.0, DETECT_LONG_SIDE / max(h, w))
    small = _shrunk(gray, scale)
    corners, ids, _ = _detector().detectMarkers(small)
    if ids is None or len(ids) == 0:
        # Faint or low-contrast scans: equalise and try once more.
        eq = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(small)
        corners, ids, _ = _detector().detectMarkers(eq)
        if ids is None:
            return []
    hits = []
    seen: set[int] = set()
    for c, i in zip(corners, ids.flatten()):
        if int(i) in seen:  # the same id twice on one page: keep the first
            continue
        seen.add(int(i))
        full = (c.reshape(4, 2) / scale).astype(np.float32)
        side = float(np.linalg.norm(full[0] - full[1]))
        win = max(2, min(10, int(side / 12)))
        refined = cv2.cornerSubPix(
            gray, full.reshape(-1, 1, 2).copy(), (win, win), (-1, -1),
            (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01),
        )
        hits.append(MarkerHit(int(i), refined.reshape(4, 2)))
    return hits


def _template_corners(bbox: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32) * PX_PER_PT


def _fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray | None, float]:
    if len(src) >= 8:
        H, _mask = cv2.findHomography(src, dst, cv2.RANSAC, 6.0)
    else:
        H, _mask = cv2.findHomography(src, dst, 0)
    if H is None or not np.isfinite(H).all():
        return None, float("inf")
    proj = cv2.perspectiveTransform(src.reshape(-1, 1, 2), H).reshape(-1, 2)
    err = np.sqrt(np.mean(np.sum((proj - dst) ** 2, axis=1)))
    return H, float(err)


def register(gray: np.ndarray, registry: MarkerRegistry, hits: list[MarkerHit] | None = None,
             page_size: str | None = None) -> Registration | None:
    """Fit the page to its template from the markers; None when no known marker is seen."""
    hits = find_markers(gray) if hits is None else hits
    known = [h for h in hits if h.marker_id in registry.by_id]
    if not known:
        return None
    groups: dict[tuple[str, int], list[MarkerHit]] = {}
    for h in known:
        name, page, _corner = registry.by_id[h.marker_id]
        groups.setdefault((name, page), []).append(h)
    (name, page), group = max(groups.items(), key=lambda kv: len(kv[1]))
    sizes = [page_size] if page_size else registry.page_sizes(name)
    best: Registration | None = None
    for size in sizes:
        pl = registry.page_layout(name, page, size)
        src = np.concatenate([h.corners for h in group]).astype(np.float32)
        dst = np.concatenate([_template_corners(pl.marker_box(h.marker_id)) for h in group])
        H, err = _fit(src, dst)
        if H is None:
            continue
        wpt, hpt = registry.size_pt(name, size)
        reg = Registration(name, page, size, H, err, len(group),
                           size_px=(round(wpt * PX_PER_PT), round(hpt * PX_PER_PT)))
        if best is None or reg.error_px < best.error_px:
            best = reg
    if best is None:
        return None
    if best.markers_found < 3:
        best.flags.append("markers_missing")
    if best.markers_found < 2 or best.error_px > POOR_REGISTRATION_PX:
        best.flags.append("poor_registration")
    best.scan_dpi = scan_dpi(best.homography, best.size_px)
    if 0 < best.scan_dpi < LOW_RESOLUTION_DPI:
        best.flags.append("low_resolution")
    return best


def find_qr(gray: np.ndarray) -> tuple[str, np.ndarray] | None:
    """The page's QR code read on the raw scan: (its text, its corners TL, TR, BR, BL as printed), or None.

    Looked for inside a border of paper too (a QR code at the scan's edge has lost its quiet zone).
    """
    import zxingcpp

    framed, pad = _framed(gray)
    for image, shift in ((gray, 0), (framed, pad)):
        for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):  # type: ignore[arg-type]
            if result.text:
                p = result.position
                corners = [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
                return result.text.strip(), np.array([[c.x - shift, c.y - shift] for c in corners], dtype=np.float32)
    return None


def register_by_qr(corners: np.ndarray, registry: MarkerRegistry, template: str, page: int,
                   page_size: str) -> Registration | None:
    """Fit the page from its QR code's corners alone, for a page whose markers are all cut off or covered.

    An affine fit (least squares: turn, scale, shift and a scanner's slight
    stretch), since four corners 27 mm apart say nothing reliable about
    perspective. On 40 generated scans turned 7-9 degrees inside the scanner's
    frame (every marker cut off) or trimmed at the sides, 338 of 340 ticks and
    bubbles were read right (324 with a similarity fit). Nothing on the page
    checks the fit, so it is flagged ``markers_missing`` and
    ``poor_registration``: no value on it is trusted.
    """
    pl = registry.page_layout(template, page, page_size)
    dst = _template_corners(pl.qr)
    src = np.hstack([corners.astype(np.float64), np.ones((4, 1))])
    affine, *_ = np.linalg.lstsq(src, dst.astype(np.float64), rcond=None)
    if not np.isfinite(affine).all():
        return None
    homography = np.vstack([affine.T, [0.0, 0.0, 1.0]])
    proj = cv2.perspectiveTransform(corners.reshape(-1, 1, 2).astype(np.float32), homography).reshape(-1, 2)
    err = float(np.sqrt(np.mean(np.sum((proj - dst) ** 2, axis=1))))
    wpt, hpt = registry.size_pt(template, page_size)
    reg = Registration(template, page, page_size, homography, err, 0, ["markers_missing", "poor_registration"],
                       size_px=(round(wpt * PX_PER_PT), round(hpt * PX_PER_PT)))
    reg.scan_dpi = scan_dpi(homography, reg.size_px)
    if 0 < reg.scan_dpi < LOW_RESOLUTION_DPI:
        reg.flags.append("low_resolution")
    return reg


def warp(gray: np.ndarray, reg: Registration) -> np.ndarray:
    """The straightened page at WORK_DPI, paper white where the scan had nothing."""
    return cv2.warpPerspective(gray, reg.homography, reg.size_px, flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def crop(page: np.ndarray, bbox: Sequence[float], margin_pt: float = 0.0) -> np.ndarray:
    x0, y0, x1, y1 = to_px([bbox[0] - margin_pt, bbox[1] - margin_pt, bbox[2] + margin_pt, bbox[3] + margin_pt])
    h, w = page.shape[:2]
    return page[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]


def read_qr(page: np.ndarray, qr_bbox: Sequence[float] | None) -> str | None:
    """Decode the page's QR code, first from its known place, then from the whole page."""
    import zxingcpp

    regions = []
    if qr_bbox is not None:
        regions.append(crop(page, qr_bbox, margin_pt=14))
    regions.append(page)
    for region in regions:
        if region.size == 0:
            continue
        # (zxing-cpp takes one format where its stubs want a set of them)
        for result in zxingcpp.read_barcodes(region, formats=zxingcpp.BarcodeFormat.QRCode):  # type: ignore[arg-type]
            if result.text:
                return result.text.strip()
        ok, text = _cv_qr(region)
        if ok:
            return text
    return None


def _cv_qr(region: np.ndarray) -> tuple[bool, str]:
    try:
        text, _pts, _ = cv2.QRCodeDetector().detectAndDecode(region)
    except cv2.error:
        return False, ""
    return bool(text), (text or "").strip()


def paper_normalised(gray: np.ndarray) -> np.ndarray:
    """Divide by a local paper estimate, so 1.0 is paper and ink is low, whatever the lighting."""
    h, w = gray.shape[:2]
    f = 8
    small = cv2.resize(gray, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    # Dilation removes dark strokes (pen, print) and keeps the paper level.
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9)))
    bg = cv2.GaussianBlur(bg, (0, 0), 3)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(gray.astype(np.float32) / np.maximum(bg.astype(np.float32), 16.0), 0.0, 1.0)


def is_blank(gray: np.ndarray) -> bool:
    """A page with (almost) no ink: a duplex back or an empty sheet.

    Blank pages are not stored, so a written page must never pass for one: the
    page is looked at about 180 dpi (long side 2000 px) without erasing thin
    strokes, and ink at least ``BLANK_STROKE_MM`` long (a word) makes it a page
    (unmatched, for review). At 1000 px with an opening of 2 px, as before, four
    lines in a thin pen on a sheet's back counted as blank and were lost. Paper
    specks and faint show-through stay under the bar.
    """
    h, w = gray.shape[:2]
    scale = min(1.0, 2000 / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    norm = paper_normalised(small)
    mh, mw = int(norm.shape[0] * 0.04), int(norm.shape[1] * 0.04)
    inner = norm[mh:norm.shape[0] - mh, mw:norm.shape[1] - mw]
    if inner.size == 0:
        return True
    ink = (inner < 0.6).astype(np.uint8)
    if float(ink.mean()) >= 0.0015:
        return False
    px_per_mm = max(small.shape[:2]) / (11.0 * 25.4)  # the page's long side taken as letter's 11 in (A4: 5% off)
    # Marks closer than 1 mm join (the letters of a word, even in small block capitals); a speck stays a speck.
    reach = max(3, round(px_per_mm)) | 1
    joined = cv2.dilate(ink, np.ones((reach, reach), np.uint8))
    _n, _labels, stats, _c = cv2.connectedComponentsWithStats(joined, connectivity=8)
    marks = stats[1:]
    long_side = (np.maximum(marks[:, cv2.CC_STAT_WIDTH], marks[:, cv2.CC_STAT_HEIGHT]) - reach + 1) / px_per_mm
    return not bool(np.any(long_side >= BLANK_STROKE_MM))
