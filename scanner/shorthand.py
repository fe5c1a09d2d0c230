"""The clinician's shorthand: expansion for progress notes, variants for search.

Defaults cover common psychotherapy abbreviations; the vault's ``abbreviations``
table (``short``, ``long``) adds to them and overrides a default with the same
short form. The OCR post-correction asks :meth:`Shorthand.is_shorthand` so that
"SI" or "f/u" is never "corrected" into an English word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

DEFAULT_ABBREVIATIONS: dict[str, str] = {
    "SI": "suicidal ideation",
    "HI": "homicidal ideation",
    "AVH": "auditory/visual hallucinations",
    "AH": "auditory hallucinations",
    "VH": "visual hallucinations",
    "MSE": "mental status exam",
    "CBT": "cognitive behavioral therapy",
    "DBT": "dialectical behavior therapy",
    "ACT": "acceptance and commitment therapy",
    "EMDR": "eye movement desensitization and reprocessing",
    "MI": "motivational interviewing",
    "HW": "homework",
    "f/u": "follow-up",
    "pt": "patient",
    "cl": "client",
    "hx": "history",
    "dx": "diagnosis",
    "tx": "treatment",
    "sx": "symptoms",
    "rx": "prescription",
    "w/": "with",
    "w/o": "without",
    "↑": "increased",
    "↓": "decreased",
    "b/c": "because",
    "c/o": "complains of",
    "r/o": "rule out",
    "s/p": "status post",
    "SUD": "substance use disorder",
    "SUDS": "subjective units of distress",
    "PTSD": "post-traumatic stress disorder",
    "GAD": "generalized anxiety disorder",
    "MDD": "major depressive disorder",
    "ADHD": "attention-deficit/hyperactivity disorder",
    "OCD": "obsessive-compulsive disorder",
    "ETOH": "alcohol",
    "SH": "self-harm",
    "NSSI": "non-suicidal self-injury",
    "SA": "suicide attempt",
    "IPV": "intimate partner violence",
    "PCP": "primary care provider",
    "meds": "medications",
    "appt": "appointment",
    "wk": "week",
    "wks": "weeks",
    "mo": "month",
    "yo": "year-old",
    "approx": "approximately",
    "FHx": "family history",
    "WNL": "within normal limits",
}

# A token is a run of non-space characters; surrounding punctuation is peeled
# off so "SI," and "(f/u)" still match. Slashes and arrows belong to tokens.
_EDGE_PUNCT = ".,;:!?()[]{}\"'"
_TOKEN = re.compile(r"\S+")


def _is_all_caps(short: str) -> bool:
    letters = [c for c in short if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _split_edges(token: str) -> tuple[str, str, str]:
    """Return (leading punctuation, core, trailing punctuation)."""
    start, end = 0, len(token)
    while start < end and token[start] in _EDGE_PUNCT:
        start += 1
    while end > start and token[end - 1] in _EDGE_PUNCT:
        end -= 1
    return token[:start], token[start:end], token[end:]


# British spellings a clinician may type for the American ones the shorthand and the forms use.
_BRITISH = [(re.compile(p, re.IGNORECASE), r) for p, r in (
    (r"(?<=[bilmnv])our(?=(s|ed|ing|al|ally|ite|ites|ism)?\b)", "or"),  # behaviour, colour, labour, humour, tumour
    (r"(?<=\w{3})is(e|es|ed|ing|ation|ations)\b", r"iz\1"),  # organise, minimise (see _ISE_WORDS)
    (r"\bcounsell", "counsel"), (r"(?<=\w{2})tre\b", "ter"), (r"\bprogramme", "program"),
    (r"\bpaed", "ped"), (r"\banaes", "anes"), (r"\boest", "est"), (r"\bhaem", "hem"),
)]
# Words ending in -ise that are spelt so in American English too.
_ISE_WORDS = frozenset(
    "advise exercise otherwise surprise compromise supervise televise revise devise promise premise expertise "
    "franchise merchandise enterprise noise raise praise poise cruise bruise concise precise incise excise demise "
    "disguise despise chastise circumcise improvise treatise reprise paradise likewise clockwise".split())


def american_spelling(text: str) -> str:
    """``text`` with common British spellings made American ("behavioural" -> "behavioral"); else unchanged."""
    def word(match: re.Match[str]) -> str:
        w = match.group(0)
        stem = re.sub(r"(s|d|ing|ation|ations)$", "", w.lower())
        if stem in _ISE_WORDS or stem + "e" in _ISE_WORDS:
            return w
        for pattern, repl in _BRITISH:
            w = pattern.sub(repl, w)
        return w

    return re.sub(r"[A-Za-z]+", word, text)


def _spelling_key(text: str) -> str:
    """What two spellings of one phrase share: American spelling, case folded, no spaces or hyphens."""
    return re.sub(r"[\s\-]+", "", american_spelling(text).casefold())


class Shorthand:
    """Abbreviations known to one vault: defaults plus the clinician's own.

    ``rows`` maps short form to long form (e.g. the ``abbreviations`` table read
    as ``{row["short"]: row["long"]}``). All-caps short forms match
    case-sensitively ("MI" but not "mi"); others match ignoring case ("Pt").
    """

    def __init__(self, rows: Mapping[str, str] | None = None, *, defaults: bool = True):
        merged: dict[str, str] = dict(DEFAULT_ABBREVIATIONS) if defaults else {}
        for short, long in (rows or {}).items():
            short, long = short.strip(), long.strip()
            if short and long:
                merged[short] = long
        self.abbreviations = merged
        self._exact = {s: long for s, long in merged.items() if _is_all_caps(s) or not any(c.isalpha() for c in s)}
        self._folded = {s.lower(): long for s, long in merged.items() if s not in self._exact}

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str]]) -> Shorthand:
        """Build from ``abbreviations`` table rows (dicts with ``short`` and ``long``)."""
        return cls({r["short"]: r["long"] for r in rows})

    def long_form(self, token: str) -> str | None:
        """The expansion of one whole token, or None if it is not shorthand."""
        if token in self._exact:
            return self._exact[token]
        return self._folded.get(token.lower())

    def is_shorthand(self, token: str) -> bool:
        """True if ``token`` (surrounding punctuation ignored) is a known abbreviation."""
        if self.long_form(token) is not None:
            return True
        core = _split_edges(token)[1]
        return bool(core) and self.long_form(core) is not None

    def expand(self, text: str) -> str:
        """Replace whole-token abbreviations by their long forms (for progress notes).

        Only whole tokens are expanded, never parts of words: "MI" becomes
        "motivational interviewing" but "Miami" and "mi" stay as they are. Text
        written all in capitals gets its long forms in capitals too ("ENGAGED
        WELL WITH COGNITIVE BEHAVIORAL THERAPY", not "... WITH cognitive ...").
        """
        def short(match: re.Match[str]) -> bool:
            token = match.group(0)
            core = _split_edges(token)[1]
            return self.long_form(token) is not None or bool(core and self.long_form(core) is not None)

        # Capitals: the words around the abbreviations (not the abbreviations alone) are all in capitals.
        rest = "".join(m.group(0) for m in _TOKEN.finditer(text) if not short(m))
        capitals = any(c.isalpha() for c in rest) and not any(c.islower() for c in rest)

        def one(match: re.Match[str]) -> str:
            token = match.group(0)
            whole = self.long_form(token)
            if whole is not None:
                return whole.upper() if capitals else whole
            lead, core, trail = _split_edges(token)
            found = self.long_form(core) if core else None
            if found is not None and capitals:
                found = found.upper()
            return f"{lead}{found}{trail}" if found is not None else token

        return _TOKEN.sub(one, text)

    def variants(self, query: str) -> list[str]:
        """The query and its other spellings, both ways, for search.

        "SI" -> ["SI", "suicidal ideation"]; "suicidal ideation" -> [..., "SI"].
        A query that matches no abbreviation comes back alone.
        """
        q = query.strip()
        out = [q]
        long = self.long_form(q)
        if long is not None:
            out.append(long)
        key = _spelling_key(q)
        for short, full in self.abbreviations.items():
            if _spelling_key(full) == key:
                out.append(short)
        american = american_spelling(q)
        if american != q:
            out.append(american)
        expanded = self.expand(q)
        if expanded != q:
            out.append(expanded)
        return list(dict.fromkeys(out))  # each once, first place kept
