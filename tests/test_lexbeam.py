"""The word-aware beam search over the line recogniser's frames (scanner/ingest/lexbeam.py)."""

from __future__ import annotations

import numpy as np
import pytest

from scanner.ingest.ctcwords import ctc_align
from scanner.ingest.lexbeam import WordPrior, decode
from scanner.shorthand import Shorthand
from tests.helpers import ctc_frames

CHARS = ["", " ", *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/0123456789"]
INDEX = {c: i for i, c in enumerate(CHARS)}


def frames(text: str, sure: float = 0.99) -> np.ndarray:
    return ctc_frames(text, CHARS, sure)


def hesitate(probs: np.ndarray, at: int, options: dict[str, float]) -> np.ndarray:
    """Frame ``at`` split between characters (the rest of its mass spread thin)."""
    rest = (1 - sum(options.values())) / (len(CHARS) - len(options))
    probs[at] = rest
    for c, p in options.items():
        probs[at, INDEX[c] if c else 0] = p
    return probs


@pytest.fixture(scope="module")
def prior():
    return WordPrior(Shorthand())


def best_path(probs: np.ndarray) -> str:
    out, prev = [], 0
    for k in probs.argmax(1):
        if k and k != prev:
            out.append(CHARS[k])
        prev = k
    return "".join(out)


def test_a_common_word_wins_where_the_network_hesitated(prior):
    # "thy" by a hair on the last letter: the text is "the".
    probs = hesitate(frames("thy"), 4, {"y": 0.5, "e": 0.45})
    assert best_path(probs) == "thy"
    assert decode(probs, CHARS, prior) == "the"


def test_what_was_read_clearly_stays_as_read(prior):
    # A rare word, an unknown word, a name in capitals, shorthand and a code, each read clearly.
    for text in ("thy", "Zorblat", "NARDONE", "f/u", "SI", "x20"):
        assert decode(frames(text), CHARS, prior) == text, text


def test_two_words_run_together_are_cut_where_a_space_was_likely(prior):
    probs = frames("tothe")
    # Between "to" and "the" the network half saw a space.
    probs = np.insert(probs, 4, 0, axis=0)
    hesitate(probs, 4, {" ": 0.4, "": 0.55})
    assert best_path(probs) == "tothe"
    assert decode(probs, CHARS, prior) == "to the"


def test_an_unknown_word_pays_once_and_block_capitals_not_at_all(prior):
    assert prior.word("the") > prior.word("thy") > prior.unknown
    assert prior.word("Zorblat") == prior.unknown
    assert prior.finished("Zorblat") == 0.0  # already paid when its spelling left the vocabulary
    assert prior.finished("th") == prior.unknown  # a start of words, but no word
    assert prior.word("NARDONE") == 0.0 and prior.word("12/03") == 0.0
    assert prior.spelling_ok("thera") and not prior.spelling_ok("thx")


def test_alignment_of_a_best_path_reading_gives_its_frames_and_probabilities():
    probs = frames("to be", 0.9)
    labels = [INDEX[c] for c in "to be"]
    starts, confs = ctc_align(probs, labels)
    assert starts == [0, 2, 4, 6, 8]
    assert confs == pytest.approx([0.9] * 5)
    assert ctc_align(probs[:3], labels) is None  # too few frames for the text


def _thy_or_the(chars: list[str], p_y: float, p_e: float):
    """ "we went to thy park" with the network torn at the y between it and an e."""
    from scanner.ingest.linerec import LineReading

    index = {c: i for i, c in enumerate(chars)}
    text = "we went to thy park"
    probs = ctc_frames(text, chars)
    at = 2 * text.index("y")
    probs[at] = (1.0 - p_y - p_e) / (len(chars) - 2)
    probs[at, index["y"]], probs[at, index["e"]] = p_y, p_e
    starts = [2 * i for i in range(len(text))]
    return LineReading(text, [float(probs[s].max()) for s in starts], probs, starts)


def test_the_engine_takes_the_words_reading_and_trusts_it_only_when_the_network_agrees():
    """A reading the beam search changed is offered with the network's own as the alternative.

    It is judged by the beam's share when the network itself finds the text
    likely enough (here "the" at 0.45 against "thy" at 0.5); when the network
    all but rules the text out (0.045 against 0.93) it stays below 0.8, however
    much likelier the word makes it.
    """
    from scanner.ingest.confidence import BEAM_MIN_LOG_P
    from scanner.ingest.ocr import LOW_CONFIDENCE, OcrEngine

    engine = OcrEngine()
    chars = engine._line_reader().chars
    result = engine._finish_line(_thy_or_the(chars, 0.5, 0.45))
    assert result.text == "we went to the park"
    assert result.alternative == "we went to thy park"
    assert result.evidence is not None and result.evidence.searched == 1 and result.evidence.changed == 0
    assert result.evidence.share is not None and result.evidence.share >= 0.95
    assert result.confidence >= LOW_CONFIDENCE and not result.flags

    doubted = engine._finish_line(_thy_or_the(chars, 0.93, 0.045))
    assert doubted.text == "we went to the park" and doubted.evidence is not None
    assert doubted.evidence.log_p < BEAM_MIN_LOG_P and doubted.evidence.searched == 1
    assert doubted.confidence < LOW_CONFIDENCE and "low_confidence" in doubted.flags

    plain = OcrEngine(lexicon=False)
    plain._line_reader()
    assert plain._finish_line(_thy_or_the(chars, 0.5, 0.45)).text == "we went to thy park"


def test_shorthand_is_spelt_as_written_and_a_lone_letter_is_doubtful(prior):
    # "wks" with a k the network half took for an o: shorthand, not the rarer word "woks".
    probs = hesitate(frames("2 wks"), 6, {"k": 0.55, "o": 0.4})
    assert decode(probs, CHARS, prior) == "2 wks"
    assert prior.spelling_ok("wk")  # shorthand's spellings are spellings too
    # A lone letter other than "a" or "I" is an initial at best: less likely than a word.
    assert prior.word("e") < 0 < prior.word("a")
    # Units and times are words: "3pm" is not a reason to drop the p.
    assert prior.word("3pm") > prior.word("3m")


def test_an_engine_given_the_vaults_shorthand_after_loading_searches_with_it():
    """A worker takes an engine loaded before the vault was known; its search must know the clinician's own shorthand."""
    from scanner.ingest.ocr import OcrEngine

    engine = OcrEngine()
    engine.load()
    assert not engine._word_prior().spelling_ok("zq")
    engine.shorthand = Shorthand({"zqx": "a clinician's own abbreviation"})
    prior = engine._word_prior()
    assert prior.spelling_ok("zq") and prior.word("zqx") > prior.unknown
    assert OcrEngine(lexicon=False)._word_prior() is None


def test_word_frequencies_read_from_wordfreqs_file_are_wordfreqs_own(monkeypatch):
    """The fast read of wordfreq's data file gives wordfreq's figures, and a file it cannot read falls back to wordfreq."""
    import importlib.util

    import wordfreq

    from scanner.ingest import lexbeam

    words = {"the", "anxious", "sleep", "rumination", "zzqxv"}
    every = wordfreq.get_frequency_dict("en")
    want = {w: every[w] for w in words if w in every}
    assert lexbeam._frequencies(words) == want
    assert "zzqxv" not in want and want["the"] > want["anxious"] > 0

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no data file where it is looked for
    assert lexbeam._frequencies(words) == want
