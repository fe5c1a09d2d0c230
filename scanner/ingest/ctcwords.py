"""Vocabulary correction judged by the line recogniser's own CTC probabilities.

Edit distance alone cannot tell a misread word from a real word the
vocabulary lacks: it once turned a well written "Sunday" into "Strictly".
Here a non-word is replaced by a near vocabulary word only when the network
itself finds that word almost as likely on the same frames as what it read
(the CTC forward probability of each spelling over the word's frames). A
word the network read clearly keeps its reading; a vocabulary word, a
shorthand, a number or a code is never touched (:func:`scanner.ingest.words.correct_word`'s rules).
"""

from __future__ import annotations

import numpy as np

# A candidate word may be at most this much less likely (natural log of the
# probability ratio) than the reading itself. Set on the fit half of the
# real-handwriting dev set (bench/ocr_eval.py --fit), never on the half measured.
MAX_LOG_RATIO = 6.0
_FLOOR = 1e-12


def _extended(labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """CTC's state sequence for ``labels`` (a blank before, between and after them) and where a state may be
    reached from two back (a label different from the one before the blank between them)."""
    ext = np.zeros(2 * len(labels) + 1, dtype=np.int64)
    ext[1::2] = labels
    skip = np.zeros(len(ext), dtype=bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    return ext, skip


def _moves(score: np.ndarray, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scores arriving at each state from one state back and from two back (where allowed)."""
    step = np.concatenate(([-np.inf], score[:-1]))
    jump = np.where(skip, np.concatenate(([-np.inf, -np.inf], score[:-2])), -np.inf)
    return step, jump


def ctc_log_likelihood(log_probs: np.ndarray, labels: list[int]) -> float:
    """log P(labels | frames) under CTC (class 0 is the blank); ``log_probs`` is frames x classes."""
    frames = log_probs.shape[0]
    if not labels:
        return float(log_probs[:, 0].sum())
    if frames < len(labels):
        return -np.inf
    ext, skip = _extended(labels)
    alpha = np.full(len(ext), -np.inf)
    alpha[0] = log_probs[0, 0]
    alpha[1] = log_probs[0, ext[1]]
    for t in range(1, frames):
        step, jump = _moves(alpha, skip)
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + log_probs[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]))


def ctc_align(probs: np.ndarray, labels: list[int]) -> tuple[list[int], list[float]] | None:
    """The best alignment of ``labels`` to the frames (Viterbi): each label's first frame and its highest probability.

    For a text the beam search chose (:mod:`scanner.ingest.lexbeam`), the
    per-character frames and probabilities a best-path reading has. None when
    the line has fewer frames than the text needs.
    """
    frames = probs.shape[0]
    if not labels or frames < len(labels):
        return None
    lp = np.log(np.maximum(probs.astype(np.float64), _FLOOR))
    ext, skip = _extended(labels)
    n = len(ext)
    score = np.full(n, -np.inf)
    score[0], score[1] = lp[0, 0], lp[0, ext[1]]
    back = np.zeros((frames, n), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, frames):
        choice = np.stack([score, *_moves(score, skip)])
        back[t] = choice.argmax(axis=0)
        score = choice.max(axis=0) + lp[t, ext]
    s = n - 1 if score[n - 1] >= score[n - 2] else n - 2
    path = np.empty(frames, dtype=np.int64)
    for t in range(frames - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    starts, confs = [-1] * len(labels), [0.0] * len(labels)
    for t, state in enumerate(path.tolist()):
        if state % 2:
            k = state // 2
            if starts[k] < 0:
                starts[k] = t
            confs[k] = max(confs[k], float(probs[t, ext[state]]))
    if min(starts) < 0:
        return None
    return starts, confs


def word_spans(text: str, starts: list[int], frames: int) -> list[tuple[int, int, int, int]]:
    """(first char, end char, first frame, end frame) of each space-separated word of a best-path reading."""
    spans, at = [], 0
    n = len(text)
    while at < n:
        if text[at] == " ":
            at += 1
            continue
        end = at
        while end < n and text[end] != " ":
            end += 1
        left = 0 if at == 0 else (starts[at - 1] + starts[at]) // 2 + 1
        right = frames if end >= n else (starts[end - 1] + starts[end]) // 2 + 1
        spans.append((at, end, left, max(right, left + 1)))
        at = end
    return spans


class CtcCorrector:
    """Chooses between a word as read and its near vocabulary words by the network's probabilities."""

    def __init__(self, chars: list[str], max_log_ratio: float = MAX_LOG_RATIO):
        self.index = {c: i for i, c in enumerate(chars) if i}
        self.max_log_ratio = max_log_ratio

    def labels(self, word: str) -> list[int] | None:
        out = [self.index.get(c) for c in word]
        return None if any(k is None for k in out) else out  # type: ignore[return-value]

    def choose(self, log_probs: np.ndarray, read: str, candidates: list[str]) -> str:
        """``read`` or the likeliest candidate, if the network finds it nearly as likely as ``read``."""
        base_labels = self.labels(read)
        if base_labels is None or not candidates:
            return read
        base = ctc_log_likelihood(log_probs, base_labels)
        best, best_score = read, -np.inf
        for word in candidates:
            labels = self.labels(word)
            if labels is None:
                continue
            score = ctc_log_likelihood(log_probs, labels)
            if score > best_score:
                best, best_score = word, score
        return best if best_score >= base - self.max_log_ratio else read


def log_probs(probs: np.ndarray) -> np.ndarray:
    """Natural log of the network's (renormalised) probabilities over the kept classes."""
    p = np.maximum(probs.astype(np.float64), _FLOOR)
    return np.log(p / p.sum(axis=1, keepdims=True))
