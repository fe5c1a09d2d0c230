"""A second handwriting reader: PaddleOCR's PP-OCRv4 line recogniser, run in memory by ONNX Runtime.

Tesseract's LSTM was trained on print; on joined-up or idiosyncratic hands
it often misses letters another recogniser gets. PP-OCRv4's recogniser (a
small CTC network, Apache-2.0) was trained on far more varied text. On two
generated batches of handwriting-font scans it read lines with character
error .098/.101 where Tesseract read .131/.132, and the two are wrong on
different lines, so :class:`scanner.ocr.OcrEngine` reads an unclear line with
both and keeps the more plausible reading (README, "How handwriting is read").

The model file is the one bundled in the PyPI wheel ``rapidocr-onnxruntime``
(1.4.4), installed by ``make setup`` without its dependencies: Inklock uses
the file only, never the package's code, which would pull a second OpenCV.
Nothing is downloaded at run time and no image leaves memory.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import cv2
import numpy as np

from scanner.errors import UsageError

MODEL_PACKAGE = "rapidocr_onnxruntime"
MODEL_FILE = "models/ch_PP-OCRv4_rec_infer.onnx"
MODEL_NAME = "PP-OCRv4 rec"
# The network reads a line scaled to this height (its training size).
INPUT_HEIGHT = 48
# ... and at least this wide (narrower inputs are padded, as in training).
MIN_INPUT_WIDTH = 320


def model_path() -> Path:
    """Where the recogniser's ONNX file is, without importing the package that ships it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise UsageError(
        "The handwriting line model is missing: run `make setup` "
        "(it installs rapidocr-onnxruntime==1.4.4 --no-deps for its model file)."
    )


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
        path = path or model_path()
        try:
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors on a bad file
            raise UsageError(f"The handwriting line model could not be loaded ({exc.__class__.__name__}): "
                             "run `make setup` again.") from exc
        labels = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        # CTC class 0 is "no character"; the network's last class is the space.
        classes = ["", *labels, " "]
        # English forms: only printable ASCII may be read (the model also knows
        # about 6,000 Chinese characters, which a smudge must never become).
        keep = [i for i, c in enumerate(classes) if i == 0 or (len(c) == 1 and " " <= c <= "~")]
        self._keep = np.array(keep)
        self._chars = [classes[i] for i in keep]
        self._input = self._session.get_inputs()[0].name

    def read(self, image: np.ndarray) -> tuple[str, list[float]]:
        """The text on one line (dark ink on white, cropped to the ink), with each character's probability."""
        h, w = image.shape[:2]
        width = max(1, math.ceil(INPUT_HEIGHT * w / max(1, h)))
        interp = cv2.INTER_AREA if h > INPUT_HEIGHT else cv2.INTER_LINEAR
        line = cv2.resize(image, (width, INPUT_HEIGHT), interpolation=interp).astype(np.float32) / 127.5 - 1.0
        batch = np.zeros((1, 3, INPUT_HEIGHT, max(MIN_INPUT_WIDTH, width)), np.float32)
        batch[0, :, :, :width] = line
        probs = self._session.run(None, {self._input: batch})[0][0][:, self._keep]
        # Best path (CTC): repeated classes merge, class 0 separates.
        best = probs.argmax(axis=1)
        text, confidences, previous = [], [], 0
        for step, k in enumerate(best):
            if k and k != previous:
                text.append(self._chars[k])
                confidences.append(float(probs[step, k]))
            previous = k
        return "".join(text), confidences
