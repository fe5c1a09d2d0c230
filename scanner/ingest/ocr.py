"""The one OCR wrapper for handwritten ``line`` and ``text`` fields.

Each ruled line with ink is cut from the field as scanned (grey, strokes of
the neighbouring lines painted out, no deslant or scaling) and read by
PaddleOCR's PP-OCRv6 small recogniser (:mod:`scanner.ingest.linerec`), all lines of
a page in a few batched network runs. A non-word is corrected to a near
vocabulary word only when the network's own CTC probabilities find that
word almost as likely (:mod:`scanner.ingest.ctcwords`); shorthand, numbers and codes
are never touched. The reader's character probabilities become an honest
probability that the line is right (isotonic calibration on real handwriting).

Tesseract (in memory through tesserocr, built against Debian's libtesseract
5.3.0) reads what it still reads better: a text area without ruled lines,
whose lines it finds itself. No crop or text ever touches the disk. The text
is only ever a draft for the clinician to confirm (SPEC section 4).
"""


from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from scanner.errors import UsageError
from scanner.ingest.confidence import (  # noqa: F401  (TESSERACT, LINE_READER, calibrate: also this module's API)
    _CORRECTED_CAP,
    LINE_READER,
    TESSERACT,
    LineEvidence,
    calibrate,
    line_confidence,
    mean_word_confidence,
)
from scanner.ingest.ctcwords import (
    MAX_LOG_RATIO,
    CtcCorrector,
    ctc_align,
    ctc_log_likelihood,
    log_probs,
    word_spans,
)
from scanner.ingest.ink import (
    _as_gray,
    _prepared,
    _too_dark,
    body_height,
    darkness,
    ink_by_line,
    ink_mask,
    percentile_u8,
    prepare,
)
from scanner.ingest.lexbeam import WordPrior, ranked, share
from scanner.ingest.linerec import INPUT_HEIGHT, MIN_INPUT_WIDTH, LineReader, LineReading
from scanner.ingest.words import (
    _EDGE,
    _is_known,
    _is_protected,
    _match_case,
    _mostly_upper,
    _word_confidences,
    near_words,
    postcorrect,
    split_words,
    vocabulary,
)
from scanner.shorthand import Shorthand

from scanner.values import LOW_CONFIDENCE  # the one doubt threshold
EMPTY_CONFIDENCE = 0.99

# Tesseract page segmentation modes (its stable enum values).
PSM_SINGLE_BLOCK = 6
PSM_SINGLE_LINE = 7
PSM_RAW_LINE = 13



@dataclass
class OcrResult:
    """What OCR made of one field: a draft, never a decision.

    ``confidence`` is an estimate of the probability that ``text`` is exactly
    right (0..1). ``raw_text`` is Tesseract's output before post-correction;
    ``words`` pairs each raw word with Tesseract's own score (0..1).
    """

    text: str
    confidence: float
    flags: list[str] = field(default_factory=list)
    words: list[tuple[str, float]] = field(default_factory=list)
    raw_text: str = ""
    # Share of words that are vocabulary, shorthand or numbers after correction,
    # plus the reader's mean word score: ranks readings of the same ink.
    plausibility: float = 0.0
    # Which reader made ``text``: LINE_READER or TESSERACT (``agreed`` is kept
    # for readers that compare two readings; none does now).
    reader: str = TESSERACT
    agreed: bool = False
    # Another reading of the same ink ("" if none): the recogniser's own
    # before post-correction changed it. Offered in review beside the chosen
    # one (one key takes it) and searched with it.
    alternative: str = ""
    # What the confidence was calibrated from (0..100): Tesseract's mean word
    # score, or the line recogniser's probability of the text it read.
    score: float = 0.0
    # What the line recogniser's confidence was made from (None for Tesseract).
    evidence: LineEvidence | None = None




# ------------------------------------------------------------ whole ruled lines


# Around a line's ink this much of its body's height (:func:`body_height`) is
# kept on every side: the recogniser was trained on detected text lines with
# some paper round them. Chosen on the fit half of the real handwriting: of the
# ink's height, 0.2, 0.35 and 0.5 gave crop CER .222, .218 and .208 (fonts .022,
# .036, .045); of the body's height (issue 12c, whole pipeline, 40 sheets) 0.5
# read cursive lines at .199 where 0.5 of the ink's height read .216 (capitals
# .078 and .074, fonts .021-.024 and .027-.035): ascenders and descenders made the
# image tall, so the letters shrank at the network's 48 px.
LINE_PAD = 0.5
# A line whose every frame has one class at least this likely is read as the network read it, without the
# word-aware search (scanner/ingest/lexbeam.py): on the fit half's real lines it changed none of them.
CLEAR_FRAME = 0.98
# How a line is given to the recogniser: "scan" is the grey crop as scanned
# (other lines' strokes painted out); "ink" keeps only this line's ink, on clean
# paper (guide lines gone). Measured in bench/ocr_eval.py; "scan" is the default.
LINE_IMAGES = ("scan", "ink")
# Other lines' strokes are painted out with this much paper round them (px at 300 dpi): with 3 their
# blurred edges left a ghost of the words (fit half, five seeds, cursive mean .151 with 3, .146 with 7).
FOREIGN_HALO = 7


def whole_line(gray: np.ndarray, own: np.ndarray, other: np.ndarray | None, mode: str = "scan") -> np.ndarray:
    """One line of ``gray`` (a field crop) as the recogniser should see it: grey, no deslant, no scaling.

    ``own`` is this line's ink (a mask the crop's size), ``other`` the ink of
    the field's other lines, painted out with paper so a descender from the
    line above is not read here (stroke ownership, :func:`ink_by_line`).
    The image spans the ink with ``LINE_PAD`` of its body's height around it.
    """
    h, w = gray.shape
    ys, xs = np.nonzero(own)
    pad = max(3, int(LINE_PAD * body_height(own[int(ys.min()):int(ys.max()) + 1])))
    y0, y1 = max(0, int(ys.min()) - pad), min(h, int(ys.max()) + 1 + pad)
    x0, x1 = max(0, int(xs.min()) - pad), min(w, int(xs.max()) + 1 + pad)
    paper = np.uint8(min(255, percentile_u8(gray, 90)))
    out = gray[y0:y1, x0:x1].copy()
    if mode == "ink":
        keep = cv2.dilate(own[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        out[~keep] = paper
    elif other is not None:
        foreign = cv2.dilate(other[y0:y1, x0:x1].astype(np.uint8), np.ones((FOREIGN_HALO,) * 2, np.uint8)) > 0
        foreign &= ~own[y0:y1, x0:x1]
        out[foreign] = paper
    return out


# ------------------------------------------------------------------- the engine


@dataclass
class LineJob:
    """One field's line images waiting for the recogniser (``OcrEngine.finish``), or its result already."""

    images: list[np.ndarray] = field(default_factory=list)
    area: bool = False
    done: OcrResult | None = None
    # Tesseract mode only: (darkness, mask) of each line.
    inks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class OcrEngine:
    """The handwriting reader for one worker: PP-OCRv6 small for lines, Tesseract for unruled blocks.

    Loaded on first use and kept for the worker's life; not thread-safe (make
    one per worker process, never share one).

    ``shorthand`` protects the vault's abbreviations from post-correction.
    The other arguments exist to measure alternatives (``bench/ocr_eval.py``),
    the defaults read better: ``correct=False`` turns post-correction off,
    ``reader=TESSERACT`` reads lines with Tesseract as Inklock did before
    (``binarize=True`` gives it a black-and-white image), ``line_image`` picks
    how a line is cut (:data:`LINE_IMAGES`) and ``max_log_ratio`` how much less
    likely (by the network) a vocabulary word may be than the reading it replaces.
    """

    def __init__(self, shorthand: Shorthand | None = None, *, correct: bool = True, binarize: bool = False,
                 reader: str = LINE_READER, line_image: str = "scan", max_log_ratio: float | None = None,
                 lexicon: bool = True):
        if reader not in (LINE_READER, TESSERACT) or line_image not in LINE_IMAGES:
            raise ValueError(f"unknown reader {reader!r} or line image {line_image!r}")
        self.lexicon = lexicon
        self.shorthand = shorthand or Shorthand()
        self.correct = correct
        self.binarize = binarize
        self.reader = reader
        self.line_image = line_image
        self.max_log_ratio = max_log_ratio
        self._api = None
        self._lines: Any = None
        self._corrector: Any = None

    def _engine(self):
        if self._api is None:
            # Debian's libtesseract parallelises each line with OpenMP, which
            # made a line 2-3x slower on a busy 2-core machine; parallelism
            # comes from one engine per worker process instead. Only applies
            # if nothing in this process has started OpenMP yet.
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")
            try:
                import tesserocr
            except ImportError as exc:
                raise UsageError(
                    "The OCR binding tesserocr is missing: run `make setup` "
                    "(Debian: apt install libtesseract-dev libleptonica-dev pkg-config tesseract-ocr-eng)."
                ) from exc
            try:
                self._api = tesserocr.PyTessBaseAPI(lang="eng", oem=tesserocr.OEM.LSTM_ONLY)
            except RuntimeError as exc:
                raise UsageError(
                    "Tesseract could not load its English model: install tesseract-ocr-eng."
                ) from exc
        return self._api

    def _line_reader(self):
        """The line recogniser (:mod:`scanner.ingest.linerec`), loaded on first use and kept like the engine."""
        if self._lines is None:
            self._lines = LineReader()
            ratio = MAX_LOG_RATIO if self.max_log_ratio is None else self.max_log_ratio
            self._corrector = CtcCorrector(self._lines.chars, ratio)
        return self._lines

    def digit_probabilities(self, images: np.ndarray) -> np.ndarray:
        """The line recogniser's probabilities (n, 10) for MNIST-framed digit cells (:mod:`scanner.ingest.digits`)."""
        return self._line_reader().digit_probabilities(images)

    @property
    def shorthand(self) -> Shorthand:
        """The vault's abbreviations: kept as written by the correction, words to the beam search."""
        return self._shorthand

    @shorthand.setter
    def shorthand(self, shorthand: Shorthand) -> None:
        # A worker takes an engine loaded before it knew the vault (scanner.ingest.read.preload_engines):
        # the beam search's word prior follows the shorthand it is given, never the one it was loaded with.
        self._shorthand = shorthand
        self._prior: WordPrior | None = None

    def _word_prior(self) -> WordPrior | None:
        """The beam search's word prior for this shorthand (made on first use), None without the search."""
        if self.lexicon and self._prior is None:
            self._prior = WordPrior(self._shorthand)
        return self._prior

    def load(self) -> None:
        """Load the line recogniser and word tables now (a worker's server does); Tesseract (unruled areas) on first use."""
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before anything here starts OpenMP (see _engine)
        self._line_reader().read_batch([np.full((INPUT_HEIGHT, MIN_INPUT_WIDTH), 255, np.uint8)])
        self._word_prior()  # the word tables it is made of stay loaded (cached) whatever shorthand comes later

    def version(self) -> str:
        """The Tesseract version (for unruled blocks; recorded beside OCR results)."""
        self._engine()  # loads tesserocr the way reading does (thread limit first)
        import tesserocr

        return tesserocr.tesseract_version().split()[1]

    def close(self) -> None:
        """Free the engines (they are loaded again if the object is used afterwards)."""
        if self._api is not None:
            self._api.End()
            self._api = None
        self._lines = None
        self._corrector = None

    def __enter__(self) -> OcrEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Tesseract ------------------------------------------------------------

    def _recognise(self, image: np.ndarray, psm: int) -> tuple[str, list[tuple[str, float]]]:
        api = self._engine()
        api.SetPageSegMode(psm)
        image = np.ascontiguousarray(image, dtype=np.uint8)
        api.SetImageBytes(image.tobytes(), image.shape[1], image.shape[0], 1, image.shape[1])  # in memory: never a file
        api.SetSourceResolution(300)
        text = api.GetUTF8Text().strip()
        # tesserocr complains on stderr when asked for words of an empty result.
        words = [(w, c / 100.0) for w, c in api.MapWordConfidences() if w.strip()] if text else []
        api.Clear()
        return text, words

    def _finish(self, raw: str, words: list[tuple[str, float]], reader: str = TESSERACT) -> OcrResult:
        """A Tesseract reading, post-corrected by edit distance and calibrated."""
        if not raw:
            # Ink was there but nothing was read: not empty, and not trusted.
            return OcrResult("", 0.0, ["low_confidence"], words, raw, reader=reader)
        corrected, changed, unknown = postcorrect(raw, self.shorthand)
        text = corrected if self.correct else raw
        mean = mean_word_confidence(words)
        tokens = max(1, len(raw.split()))
        plausibility = (1.0 - min(unknown + (0 if self.correct else changed), tokens) / tokens) + mean / 100.0
        # Without correction the words it would have changed are still unknown.
        conf = calibrate(mean, unknown == 0 and (self.correct or changed == 0), reader)
        if self.correct and changed:
            conf = min(conf, _CORRECTED_CAP)
        flags = ["low_confidence"] if conf < LOW_CONFIDENCE else []
        return OcrResult(text, conf, flags, words, raw, plausibility, reader, score=mean)

    def _read_prepared(self, image: np.ndarray | None) -> OcrResult:
        if image is None:  # no ink left once prepared
            return OcrResult("", EMPTY_CONFIDENCE, ["empty"])
        text, words = self._recognise(image, PSM_SINGLE_LINE)
        if not text:
            # Page segmentation 7 still runs layout analysis, which sometimes
            # finds no text in joined-up writing; 13 reads the image as one line.
            text, words = self._recognise(image, PSM_RAW_LINE)
        return self._finish(" ".join(text.split()), words)

    # -- the line recogniser -----------------------------------------------------

    def _finish_line(self, reading: LineReading) -> OcrResult:
        """A recogniser reading (:class:`scanner.ingest.linerec.LineReading`), post-corrected by its own probabilities."""
        raw = " ".join(reading.text.split())
        if not raw:
            return OcrResult("", 0.0, ["low_confidence"], [], "", reader=LINE_READER)
        self._line_reader()
        reading, searched, share = self._by_words(reading, raw)
        changed = 0
        words = _word_confidences(reading.text, reading.char_conf)
        lp = log_probs(reading.probs)
        # The network's probability of the text it read (over all its alignments).
        labels = self._corrector.labels(reading.text)
        log_p = float(ctc_log_likelihood(lp, labels)) if labels else -50.0
        score = 100.0 * float(np.exp(log_p)) if labels else 0.0
        tokens, unknown, names = [], 0, 0
        spans = word_spans(reading.text, reading.starts, len(reading.probs))
        for a, b, f0, f1 in spans:
            token = reading.text[a:b]
            m = _EDGE.match(token)
            lead, core, trail = (m.group(1), m.group(2), m.group(3)) if m else ("", token, "")
            fixed = core
            # A word broken at a line's end ("Fra-") or its rest ("-dered") is a fragment, not a misspelling.
            fragment = trail.startswith("-") or lead.endswith("-")
            if (self.correct and not fragment and not _is_protected(core, self.shorthand)
                    and core.lower() not in vocabulary()):
                candidates = [_match_case(w, core) for w in near_words(core.lower())] + split_words(core)
                if candidates:
                    chosen = self._corrector.choose(lp[f0:f1], token, [f"{lead}{c}{trail}" for c in candidates])
                    fixed = chosen[len(lead):len(chosen) - len(trail)] if chosen != token else core
            if fixed != core:
                changed += 1
            elif not _is_known(core, self.shorthand):
                unknown += 1
                names += core.isupper() and core.isalpha()
            tokens.append(f"{lead}{fixed}{trail}")
        text = " ".join(tokens)
        mean = mean_word_confidence(words)
        evidence = LineEvidence(
            log_p=log_p, chars=len(raw), words=len(spans), min_char=min(reading.char_conf, default=0.0),
            unknown=unknown, changed=changed, names=names, share=share, searched=searched,
        )
        conf = line_confidence(evidence)
        flags = ["low_confidence"] if conf < LOW_CONFIDENCE else []
        tokens_n = max(1, len(spans))
        plausibility = (1.0 - min(unknown, tokens_n) / tokens_n) + mean / 100.0
        # The reading as the network made it, offered in review (and searched) beside a corrected one.
        return OcrResult(text, conf, flags, words, raw, plausibility, LINE_READER,
                         alternative=raw if text != raw else "", score=score, evidence=evidence)

    def _by_words(self, reading: LineReading, raw: str) -> tuple[LineReading, int, float | None]:
        """The reading the word-aware beam search prefers (:mod:`scanner.ingest.lexbeam`), the words it changed, its share.

        The share is the beam's weight on the text kept (its score against all
        the texts left in the beam): how clearly the network and the words
        prefer it. Lines in block capitals keep the best path (names and
        headings more than words: read letter by letter, as written), and so
        does a line whose every frame the network was sure of (the search would
        not change it, or only against the network): neither is searched, and
        has no share.
        """
        prior = self._word_prior()
        if prior is None or _mostly_upper(raw) or float(reading.probs.max(axis=1).min()) >= CLEAR_FRAME:
            return reading, 0, None
        texts = ranked(reading.probs, self._lines.chars, prior)
        chosen = texts[0][0]
        if chosen == raw:
            return reading, 0, share(texts, raw)
        labels = self._corrector.labels(chosen) if chosen else None
        aligned = ctc_align(reading.probs, labels) if labels else None
        if aligned is None:
            return reading, 0, None
        before, after = raw.split(), chosen.split()
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        changed = sum(j2 - j1 for op, _i1, _i2, j1, j2 in matcher.get_opcodes() if op != "equal")
        return LineReading(chosen, aligned[1], reading.probs, aligned[0]), max(1, changed), share(texts, chosen)

    # -- fields --------------------------------------------------------------------

    def line_job(self, gray: np.ndarray) -> LineJob:
        """A one-line field, cut for the recogniser (read by :meth:`finish`)."""
        if _too_dark(gray):
            return LineJob(done=OcrResult("", 0.0, ["low_confidence"]))
        gray = _as_gray(gray)
        dark = darkness(gray)
        mask = ink_mask(gray, dark=dark)
        if not mask.any():
            return LineJob(done=OcrResult("", EMPTY_CONFIDENCE, ["empty"]))
        if self.reader == TESSERACT:
            return LineJob(inks=[(dark, mask)])
        return LineJob([whole_line(gray, mask, None, self.line_image)])

    def area_job(self, gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]] | None = None) -> LineJob:
        """A multi-line ``text`` field, one image per ruled line with ink (read by :meth:`finish`).

        Without ``line_boxes`` (x0, y0, x1, y1 in pixels within the crop, one
        per ruled line) Tesseract finds the lines itself (page segmentation 6):
        the one thing on a form it still does better than cutting lines by hand.
        """
        gray = _as_gray(gray)
        if _too_dark(gray):
            return LineJob(area=True, done=OcrResult("", 0.0, ["low_confidence"]))
        if not line_boxes:
            return LineJob(area=True, done=self._read_block(gray))
        dark = darkness(gray)
        masks = ink_by_line(gray, line_boxes, dark=dark)
        job = LineJob(area=True)
        if self.reader == TESSERACT:
            job.inks = [(dark, m) for m in masks if m.any()]
        else:
            everything = np.zeros(gray.shape, bool)
            for m in masks:
                everything |= m
            for m in masks:
                if m.any():
                    job.images.append(whole_line(gray, m, everything & ~m, self.line_image))
        if not job.images and not job.inks:
            job.done = OcrResult("", EMPTY_CONFIDENCE, ["empty"])
        return job

    def _read_block(self, gray: np.ndarray) -> OcrResult:
        image = prepare(gray, binarize=self.binarize)
        if image is None:
            return OcrResult("", EMPTY_CONFIDENCE, ["empty"])
        text, words = self._recognise(image, PSM_SINGLE_BLOCK)
        text = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
        return self._finish(text, words)

    def finish(self, jobs: list[LineJob]) -> list[OcrResult]:
        """Read the lines of several fields (a page's) in as few network runs as possible."""
        images = [im for j in jobs if j.done is None for im in j.images]
        readings = iter(self._line_reader().read_batch(images) if images else [])
        results = []
        for job in jobs:
            if job.done is not None:
                results.append(job.done)
                continue
            if job.inks:
                lines = [self._read_prepared(_prepared(d, m, self.binarize)) for d, m in job.inks]
            else:
                lines = [self._finish_line(next(readings)) for _ in job.images]
            results.append(lines[0] if not job.area else _joined(lines))
        return results

    def read_line(self, gray: np.ndarray) -> OcrResult:
        """Read a one-line field."""
        return self.finish([self.line_job(gray)])[0]

    def read_area(self, gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]] | None = None) -> OcrResult:
        """Read a multi-line ``text`` field (see :meth:`area_job`)."""
        return self.finish([self.area_job(gray, line_boxes)])[0]


def _joined(lines: list[OcrResult]) -> OcrResult:
    """The lines of a text field as one result: all must be right for the text to be right."""
    conf = float(np.prod([r.confidence for r in lines]))
    text = "\n".join(r.text for r in lines if r.text)
    alternative = "\n".join(r.alternative or r.text for r in lines if r.alternative or r.text)
    return OcrResult(
        text,
        conf,
        ["low_confidence"] if conf < LOW_CONFIDENCE else [],
        [wc for r in lines for wc in r.words],
        "\n".join(r.raw_text for r in lines if r.raw_text),
        reader=lines[0].reader,
        alternative=alternative if alternative != text else "",
    )
