"""Synthetic handwriting: Debian handwriting fonts drawn one character at a time.

Each character gets its own small jitter (baseline, size, rotation, spacing) on
top of a per-writer slant and ink, so no two words look machine-set. Fonts are
found with ``fc-list`` (installed by ``make setup``); DejaVu Sans stands in only
when none of them is installed.

Everything draws into a grayscale page (``np.ndarray`` of uint8, white paper)
in place. Boxes are pixels ``(x0, y0, x1, y1)``, origin top-left, y down.
"""

from __future__ import annotations

import functools
import math
import subprocess
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "HandFont",
    "Writer",
    "as_written",
    "blend_ink",
    "handwriting_fonts",
    "ink_gray",
    "random_writer",
    "write_digits",
    "write_line",
    "write_lines",
]

# (package, fc-list family, preferred style). Several Because-We faces and the
# Comic Neue styles are distinct hands, so each counts as a writer.
_FAMILIES = [
    ("fonts-dkg-handwriting", "DkgHandwriting", "Roman"),
    ("fonts-dkg-handwriting", "DkgHandwriting", "Oblique"),
    ("fonts-breip", "Breip", "Regular"),
    ("fonts-bwht", "Because We Build", "Regular"),
    ("fonts-bwht", "Because We Create", "Regular"),
    ("fonts-bwht", "Because We Learn", "Regular"),
    ("fonts-bwht", "Because We Mentor", "Regular"),
    ("fonts-femkeklaver", "femkeklaver", "Regular"),
    ("fonts-humor-sans", "Humor Sans", "Regular"),
    ("fonts-sjfonts", "Steve", "Regular"),
    ("fonts-sjfonts", "Delphine", "Regular"),
    ("fonts-dancingscript", "Dancing Script", "Regular"),
    ("fonts-kristi", "Kristi", "Regular"),
    ("fonts-rufscript", "Rufscript", "Regular"),
    ("fonts-comic-neue", "Comic Neue", "Regular"),
    ("fonts-comic-neue", "Comic Neue", "Italic"),
]
# femkeklaver draws its digits as hollow outlines, which no pen does.
_OUTLINE_DIGITS = {"femkeklaver"}
_FALLBACK = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_REFERENCE_SIZE = 100


@dataclass(frozen=True)
class HandFont:
    """One installed handwriting face: its family, file and shape figures at size 100."""

    package: str
    family: str
    path: str
    cap_height: float  # pixels at size 100
    caps_only: bool  # lower case drawn as small capitals (Because We ..., Humor Sans)
    pen_digits: bool  # digits drawn as strokes (not outlines)


def _measure(package: str, family: str, path: str) -> HandFont:
    font = ImageFont.truetype(path, _REFERENCE_SIZE)
    cap = font.getbbox("H")
    x = font.getbbox("x")
    cap_h = float(cap[3] - cap[1])
    caps_only = (x[3] - x[1]) > 0.9 * cap_h
    return HandFont(package, family, path, cap_h, caps_only, family not in _OUTLINE_DIGITS)


def _fc_file(family: str, style: str) -> str | None:
    """The font file of ``family`` in ``style``; a one-style family gives its only file."""
    try:
        out = subprocess.run(
            ["fc-list", f":family={family}", "file", "style"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:  # no fontconfig at all: use the fallback
        return None
    fonts = []
    for line in sorted(out.splitlines()):
        path, _, styles = line.partition(": :style=")
        if path.lower().endswith((".ttf", ".otf")):
            fonts.append((path, [n.strip() for n in styles.split(",")]))
    # A face's own style name first ("Light,Regular" is Light, not Regular).
    for path, names in fonts:
        if names[0] == style:
            return path
    for path, names in fonts:
        if style in names:
            return path
    plain = [p for p, names in fonts if not {"Bold", "Italic", "Oblique"} & set(" ".join(names).split())]
    return plain[0] if plain and style in ("Regular", "Roman") else None


@functools.lru_cache(maxsize=1)
def handwriting_fonts() -> tuple[HandFont, ...]:
    """The installed Debian handwriting faces (DejaVu Sans alone if none is installed)."""
    found: list[HandFont] = []
    seen: set[str] = set()
    for package, family, style in _FAMILIES:
        path = _fc_file(family, style)
        if path and path not in seen:
            seen.add(path)
            found.append(_measure(package, family, path))
    if not found:
        found.append(_measure("fonts-dejavu-core", "DejaVu Sans", _FALLBACK))
    return tuple(found)


@functools.lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class Writer:
    """One person's hand: face, pen colour (as gray), slant and how unsteady it is."""

    font: HandFont
    digit_font: HandFont
    ink: int  # gray level of the ink on white paper (blue or black pen)
    slant: float  # horizontal shear, positive leans right
    jitter: float  # 0.5 (neat) .. 1.5 (hurried)
    size: float  # relative letter size
    spacing: float  # relative letter spacing


def ink_gray(rgb: tuple[int, int, int]) -> int:
    """The gray a colour pen gives once a page is scanned in grayscale (ITU-R 601 luma)."""
    r, g, b = rgb
    return int(round(0.299 * r + 0.587 * g + 0.114 * b))


def random_writer(rng: np.random.Generator, fonts: tuple[HandFont, ...] | None = None) -> Writer:
    """A random writer: one of the installed faces, a blue or black pen, a slant, a steadiness."""
    fonts = fonts or handwriting_fonts()
    font = fonts[int(rng.integers(len(fonts)))]
    digit_font = font
    if not font.pen_digits:
        pens = [f for f in fonts if f.pen_digits] or [font]
        digit_font = pens[int(rng.integers(len(pens)))]
    if rng.random() < 0.6:  # blue ballpoint
        rgb = (int(rng.integers(10, 40)), int(rng.integers(20, 60)), int(rng.integers(90, 160)))
    else:  # black
        v = int(rng.integers(10, 40))
        rgb = (v, v, v + int(rng.integers(0, 10)))
    return Writer(
        font=font,
        digit_font=digit_font,
        ink=ink_gray(rgb),
        slant=float(rng.uniform(-0.15, 0.25)),
        jitter=float(rng.uniform(0.5, 1.5)),
        size=float(rng.uniform(0.85, 1.1)),
        spacing=float(rng.uniform(0.95, 1.12)),
    )


def as_written(text: str, writer: Writer) -> str:
    """What the writer's letters actually show: capitals for caps-only faces."""
    return text.upper() if writer.font.caps_only else text


def blend_ink(canvas: np.ndarray, alpha: np.ndarray, x: int, y: int, ink: int) -> None:
    """Lay ink of gray ``ink`` with coverage ``alpha`` (0..1) at (x, y) on ``canvas``, in place.

    Multiplying (not replacing) is how ink on paper behaves: a stroke over a
    printed grey line is darker than either.
    """
    h, w = alpha.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    region *= 1.0 - a * (1.0 - ink / 255.0)
    canvas[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)


def _glyph(ch: str, font: ImageFont.FreeTypeFont, angle: float, shear: float, scale: float) -> tuple[np.ndarray, float, float]:
    """A character's coverage (0..1) after rotation, shear and scale, and where its origin landed.

    The origin is the left end of the character's baseline.
    """
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    pad = int(max(right - left, bottom - top) * 0.5) + 4
    w, h = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
    ox, oy = pad - left, pad - top  # origin inside the tile
    tile = Image.new("L", (w, h), 0)
    ImageDraw.Draw(tile).text((ox, oy), ch, fill=255, font=font, anchor="ls")
    # Forward map about the origin: rotate, then shear (slant), then scale.
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    m = np.array([[c, -s], [s, c]]) @ np.array([[1.0, -shear], [0.0, 1.0]]) * scale
    inv = np.linalg.inv(m)
    # PIL wants output -> input; keep the origin fixed.
    off = np.array([ox, oy]) - inv @ np.array([ox, oy])
    data = (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1])
    tile = tile.transform((w, h), Image.Transform.AFFINE, data, resample=Image.Resampling.BICUBIC)
    return np.asarray(tile, dtype=np.float32) / 255.0, float(ox), float(oy)


def _size_for(face: HandFont, cap_px: float) -> int:
    return max(6, int(round(cap_px * _REFERENCE_SIZE / face.cap_height)))


def _advance(text: str, font: ImageFont.FreeTypeFont, spacing: float) -> float:
    return sum(font.getlength(ch) for ch in text) * spacing


def write_line(
    canvas: np.ndarray,
    text: str,
    box: tuple[float, float, float, float],
    writer: Writer,
    rng: np.random.Generator,
    baseline: float | None = None,
    ink: int | None = None,
) -> None:
    """Handwrite ``text`` inside ``box`` (pixels), on ``baseline`` (default: 78% down the box).

    Letters are sized from the box height and shrunk until the line fits its
    width, as a person writes smaller near the end of a short line.
    """
    if not text:
        return
    text = as_written(text, writer)
    x0, y0, x1, y1 = box
    height = y1 - y0
    base = baseline if baseline is not None else y0 + 0.78 * height
    # Room above the baseline for capitals and ascenders.
    cap_px = min(0.55 * height, 0.75 * (base - y0)) * writer.size
    width = (x1 - x0) * 0.96
    face = writer.font
    font = _font(face.path, _size_for(face, cap_px))
    while _advance(text, font, writer.spacing) > width and cap_px > 4:
        cap_px *= 0.92
        font = _font(face.path, _size_for(face, cap_px))
    _draw_run(canvas, text, font, x0 + 0.02 * (x1 - x0) + rng.uniform(0, 0.02) * (x1 - x0), base, cap_px, writer, rng, ink)


def _draw_run(
    canvas: np.ndarray,
    text: str,
    font: ImageFont.FreeTypeFont,
    x: float,
    base: float,
    cap_px: float,
    writer: Writer,
    rng: np.random.Generator,
    ink: int | None,
) -> None:
    """Lay ``text`` from ``x`` along ``base``, one jittered character at a time."""
    j = writer.jitter
    drift = rng.uniform(-0.015, 0.015)  # the whole line drifts up or down a little
    start = x
    for ch in text:
        if ch == " ":
            x += font.getlength(" ") * writer.spacing * rng.uniform(0.9, 1.3)
            continue
        scale = 1.0 + rng.normal(0, 0.04 * j)
        angle = rng.normal(0, 2.5 * j)
        shear = writer.slant + rng.normal(0, 0.04 * j)
        alpha, ox, oy = _glyph(ch, font, angle, shear, scale)
        alpha *= rng.uniform(0.85, 1.0)  # pen pressure
        y = base + (x - start) * drift + rng.normal(0, 0.04 * j * cap_px)
        blend_ink(canvas, alpha, int(round(x - ox)), int(round(y - oy)), writer.ink if ink is None else ink)
        x += font.getlength(ch) * writer.spacing * scale + rng.normal(0, 0.03 * j * cap_px)


def write_lines(
    canvas: np.ndarray,
    lines: list[str],
    line_boxes: list[tuple[float, float, float, float]],
    writer: Writer,
    rng: np.random.Generator,
) -> None:
    """Handwrite one string per ruled line; each sits on the bottom of its line box."""
    for text, box in zip(lines, line_boxes):
        write_line(canvas, text, box, writer, rng, baseline=box[3] - 0.12 * (box[3] - box[1]))


def write_digits(
    canvas: np.ndarray,
    digits: str,
    cells: list[tuple[float, float, float, float]],
    writer: Writer,
    rng: np.random.Generator,
) -> None:
    """Handwrite one digit per comb cell (pixels), roughly centred, a space leaves a cell empty."""
    face = writer.digit_font
    for ch, (x0, y0, x1, y1) in zip(digits, cells):
        if not ch.strip():
            continue
        h, w = y1 - y0, x1 - x0
        cap_px = min(h * rng.uniform(0.5, 0.68), w * 0.9) * writer.size
        font = _font(face.path, _size_for(face, cap_px))
        j = writer.jitter
        angle = rng.normal(0, 3 * j)
        shear = writer.slant + rng.normal(0, 0.05 * j)
        alpha, ox, oy = _glyph(ch, font, angle, shear, 1.0)
        ys, xs = np.nonzero(alpha > 0.2)
        if not len(xs):
            continue
        # Centre the ink (not the advance box) in the cell, then nudge it.
        cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        tx = (x0 + x1) / 2 + rng.normal(0, 0.06 * w) - cx
        ty = (y0 + y1) / 2 + rng.normal(0, 0.05 * h) - cy
        blend_ink(canvas, alpha * rng.uniform(0.85, 1.0), int(round(tx)), int(round(ty)), writer.ink)
