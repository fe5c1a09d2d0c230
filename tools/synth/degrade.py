"""Scan and phone-photo degradations of a grayscale page, each a seeded function.

Every function takes a uint8 grayscale image (white paper) and returns a new
one; :func:`degrade` composes them into a preset and returns a record of what
it did (JSON-serialisable), which goes into the expected values.

Presets:

- ``clean``: nothing but the resolution change and a light JPEG (a control).
- ``scanner``: a sheet-fed scanner -- any of the four orientations, a skew of up
  to 3 degrees, 200-300 dpi, a feed-speed stretch of up to 1.5%, sensor noise,
  slight blur, JPEG 40-85, sometimes a faint uneven lamp.
- ``phone``: a phone photo -- the page on a darker table, perspective, an uneven
  light and a shadow, a colour cast removed by grayscale conversion, lower
  resolution, JPEG.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "PRESETS",
    "add_noise",
    "blur",
    "degrade",
    "jpeg",
    "phone_photo",
    "rescale",
    "rotate",
    "uneven_light",
]

PRESETS = ("clean", "scanner", "phone")


def rotate(img: np.ndarray, quarter_turns: int = 0, angle: float = 0.0, fill: int = 255) -> np.ndarray:
    """Turn the page ``quarter_turns`` x 90 degrees, then ``angle`` degrees more (both anticlockwise).

    The small angle grows the image so no corner of the page is cut off, the
    way a skewed sheet still lies wholly inside a scanner's larger bed.
    """
    out = np.ascontiguousarray(np.rot90(img, quarter_turns % 4))
    if abs(angle) < 1e-6:
        return out
    h, w = out.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    return cv2.warpAffine(out, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=fill)


def rescale(img: np.ndarray, factor: float, stretch: float = 1.0) -> np.ndarray:
    """Resample by ``factor`` (e.g. 200/300 to go from 300 to 200 dpi), and vertically by ``stretch`` more.

    ``stretch`` is a sheet feeder's speed error: the page comes out a little
    long or short along the feed direction.
    """
    if abs(factor - 1.0) < 1e-6 and abs(stretch - 1.0) < 1e-6:
        return img.copy()
    h, w = img.shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor * stretch))))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian sensor noise of ``sigma`` gray levels."""
    if sigma <= 0:
        return img.copy()
    # OpenCV's generator is several times faster than numpy's on a full page;
    # seeding it from ``rng`` on every call keeps the result deterministic.
    cv2.setRNGSeed(int(rng.integers(2**31 - 1)))
    noise: np.ndarray = np.empty(img.shape, np.float32)
    cv2.randn(noise, 0.0, float(sigma))  # type: ignore[call-overload]  # (its stubs want arrays, it takes numbers)
    noisy = cv2.add(img.astype(np.float32), noise)
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels (optics, focus, motion averaged)."""
    if sigma <= 0:
        return img.copy()
    return cv2.GaussianBlur(img, (0, 0), sigma)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (blocking and ringing)."""
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    out = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert out is not None  # decoding what OpenCV just encoded
    return out


def _light_field(shape: tuple[int, int], rng: np.random.Generator, strength: float, shadow: bool) -> np.ndarray:
    """A multiplicative light map in (0, 1]: a linear gradient, a vignette, maybe a soft shadow."""
    full_h, full_w = shape
    # Light varies slowly: compute it on a coarse grid and interpolate up.
    h, w = max(2, full_h // 8), max(2, full_w // 8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx /= max(w - 1, 1)
    yy /= max(h - 1, 1)
    theta = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5)) + 0.5  # 0..1 across the page
    cx, cy = rng.uniform(0.2, 0.8, 2)
    vignette = (xx - cx) ** 2 + (yy - cy) ** 2
    light = 1.0 - strength * (0.7 * grad + 0.3 * vignette / max(vignette.max(), 1e-6))
    if shadow:  # a hand or the phone over one side: a soft-edged darker half-plane
        phi = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(0.25, 0.45)
        d = np.cos(phi) * (xx - 0.5) + np.sin(phi) * (yy - 0.5) - off
        edge = 1.0 / (1.0 + np.exp(-d / rng.uniform(0.02, 0.06)))
        light *= 1.0 - rng.uniform(0.2, 0.4) * edge
    return cv2.resize(light.astype(np.float32), (full_w, full_h), interpolation=cv2.INTER_LINEAR)


def uneven_light(img: np.ndarray, rng: np.random.Generator, strength: float = 0.15, shadow: bool = False) -> np.ndarray:
    """Darken the page by a gradient and vignette of ``strength`` (0..1), with an optional shadow."""
    light = _light_field(img.shape[:2], rng, strength, shadow)
    return cv2.convertScaleAbs(cv2.multiply(img.astype(np.float32), light))


def phone_photo(img: np.ndarray, rng: np.random.Generator, long_side: int = 2000) -> tuple[np.ndarray, dict]:
    """The page photographed on a table: perspective, background, light, colour cast, then gray.

    Returns the photo (``long_side`` pixels on its longer side) and a record
    with the page's four corners in the photo (tl, tr, br, bl of the image given).
    """
    h, w = img.shape[:2]
    frame_long = long_side
    portrait = h >= w
    fw, fh = (int(frame_long * 0.75), frame_long) if portrait else (frame_long, int(frame_long * 0.75))
    # The page fills 70-88% of the frame; each corner moves independently (tilt).
    fill = rng.uniform(0.7, 0.88)
    scale = fill * min(fw / w, fh / h)
    pw, ph = w * scale, h * scale
    ox, oy = (fw - pw) / 2 + rng.uniform(-0.04, 0.04) * fw, (fh - ph) / 2 + rng.uniform(-0.04, 0.04) * fh
    dst = np.array([[ox, oy], [ox + pw, oy], [ox + pw, oy + ph], [ox, oy + ph]], np.float32)
    dst += rng.uniform(-0.06, 0.06, (4, 2)).astype(np.float32) * np.array([pw, ph], np.float32)
    # Shrink first (area averaging), so the warp itself does not alias fine print.
    img = rescale(img, scale)
    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    # A colour cast followed by grayscale conversion is, for gray paper and
    # gray ink, one brightness factor: the luma of the cast (B, G, R gains).
    cast = np.array([rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.0), rng.uniform(0.9, 1.05)], np.float32)
    gain = float(cast @ np.array([0.114, 0.587, 0.299], np.float32)) * rng.uniform(0.85, 0.95)
    table_level = rng.uniform(40, 110)
    small = rng.standard_normal((fh // 4 + 1, fw // 4 + 1), dtype=np.float32) * np.float32(12)
    texture = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1), (fw, fh), interpolation=cv2.INTER_LINEAR)
    table = np.float32(table_level * gain) + texture
    warped = cv2.warpPerspective(img, m, (fw, fh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full(img.shape[:2], 255, np.uint8), m, (fw, fh), flags=cv2.INTER_LINEAR)
    a = mask.astype(np.float32) * np.float32(1 / 255)
    photo = warped.astype(np.float32) * np.float32(gain) * a + table * (1 - a)
    light_strength, shadow = rng.uniform(0.15, 0.35), rng.random() < 0.6
    gray = uneven_light(cv2.convertScaleAbs(photo), rng, strength=light_strength, shadow=shadow)
    return gray, {"corners": np.round(dst, 1).tolist(), "frame": [fw, fh], "table": round(float(table_level), 1),
                  "cast_bgr": np.round(cast, 3).tolist(), "light": round(float(light_strength), 3), "shadow": bool(shadow)}


def degrade(
    img: np.ndarray,
    preset: str,
    rng: np.random.Generator,
    dpi: float = 300,
    *,
    quarter_turns: int | None = None,
    out_dpi: float | None = None,
    quality: int | None = None,
    noise: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Apply a preset (``clean``, ``scanner``, ``phone``) to a page rendered at ``dpi``.

    ``quarter_turns``, ``out_dpi`` (scanner), ``quality`` and ``noise`` (sigma)
    fix what the preset would otherwise draw at random. Returns the degraded image and a
    record: preset, quarter_turns and angle (anticlockwise, as applied to the
    upright page), dpi of the result (for a phone photo: the page's approximate
    resolution), noise, blur, light and jpeg_quality. The result has already
    been through JPEG at that quality.
    """
    # Draw every random parameter first, so overrides do not shift the stream.
    drawn_turns = int(rng.integers(4))
    if preset == "clean":
        turns = 0 if quarter_turns is None else int(quarter_turns) % 4
        quality = 90 if quality is None else int(quality)
        out = jpeg(rotate(img, turns), quality)
        return out, {"preset": preset, "quarter_turns": turns, "angle": 0.0, "dpi": dpi, "jpeg_quality": quality}
    turns = drawn_turns if quarter_turns is None else int(quarter_turns) % 4
    if preset == "scanner":
        angle = float(rng.uniform(-3, 3))
        drawn_dpi = float(rng.choice([200, 240, 300]))
        out_dpi = drawn_dpi if out_dpi is None else float(out_dpi)
        drawn_noise, sigma = float(rng.uniform(1, 5)), float(rng.uniform(0, 0.9)) * out_dpi / 300
        noise = drawn_noise if noise is None else float(noise)
        drawn_q = int(rng.integers(40, 86))
        quality = drawn_q if quality is None else int(quality)
        light = float(rng.uniform(0, 0.08)) if rng.random() < 0.4 else 0.0
        stretch = float(rng.uniform(0.985, 1.015))
        out = rescale(img, out_dpi / dpi, stretch)
        if light:
            out = uneven_light(out, rng, light)
        out = rotate(out, turns, angle, fill=int(rng.integers(235, 256)))
        out = jpeg(add_noise(blur(out, sigma), noise, rng), quality)
        record = {"preset": preset, "quarter_turns": turns, "angle": round(angle, 3), "dpi": out_dpi,
                  "stretch": round(stretch, 4), "noise": round(noise, 2), "blur": round(sigma, 2), "light": round(light, 3),
                  "jpeg_quality": quality}
        return out, record
    if preset == "phone":
        angle = float(rng.uniform(-3, 3))
        long_side = int(rng.integers(2200, 3000))
        drawn_q = int(rng.integers(60, 86))
        quality = drawn_q if quality is None else int(quality)
        drawn_noise, sigma = float(rng.uniform(2, 6)), float(rng.uniform(0.4, 1.2))
        noise = drawn_noise if noise is None else float(noise)
        upright = rotate(img, turns, angle)
        photo, extra = phone_photo(upright, rng, long_side)
        out = jpeg(add_noise(blur(photo, sigma), noise, rng), quality)
        corners = np.array(extra["corners"])
        page_px = np.linalg.norm(corners[1] - corners[0])  # top edge of the turned page
        page_pt = upright.shape[1] / dpi * 72
        record = {"preset": preset, "quarter_turns": turns, "angle": round(angle, 3),
                  "dpi": round(float(page_px / page_pt * 72), 1), "noise": round(noise, 2), "blur": round(sigma, 2),
                  "jpeg_quality": quality, **extra}
        return out, record
    raise ValueError(f"unknown degradation preset {preset!r} (use {', '.join(PRESETS)})")
