"""Plausible filled-in values for a layout page, and how each answer is marked.

Values have the shapes of SPEC section 8 ``show --json``: checkbox -> bool,
choice -> list of option values (``multiple``) or a value / None (single),
scale -> int or None, digits -> string (one digit per cell, "" when empty),
line/text -> string ("" when empty; a text field's lines joined by "\\n").

The phrases are invented: short, clinical-sounding, and no real person's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MARK_WEIGHTS", "plan_marks", "random_values", "phrase_for"]

# How often each mark style (marks.MARK_STYLES) is used; faint marks are rarer.
MARK_WEIGHTS = {"check": 0.42, "cross": 0.25, "fill": 0.25, "faint": 0.08}
CROSSED_OUT_RATE = 0.1  # of answered single-choice and scale fields
EMPTY_RATE = 0.15

# Key fragment -> phrases; the first matching fragment wins.
_PHRASES: list[tuple[str, list[str]]] = [
    ("focus", ["sleep and worry at work", "grief after loss of dad", "conflict with partner", "panic in supermarket",
               "low mood since move", "anger at work", "exam stress", "return to work plan"]),
    ("response", ["engaged well with CBT", "found grounding helpful", "some resistance to homework",
                  "open to exposure", "tearful but engaged", "sleep improving, less worry", "keen to try MI"]),
    ("plan", ["thought record daily", "walk 3x this week", "practise grounding", "call sister on Sunday",
              "sleep diary", "f/u in 2 wks", "review safety plan"]),
    ("behaviour", ["fidgeting, poor eye contact", "tearful re dad", "arrived early, calm", "laughed off questions",
                   "long pauses", "arms crossed", "spoke fast, restless"]),
    ("hypothes", ["avoidance keeps fear going", "anger masks grief?", "perfectionism from school",
                  "fear of rejection", "self-worth tied to work", "attachment to mother?"]),
    ("unfinished", ["return to sister conflict", "ask about the move", "finish loss timeline", "revisit dream",
                    "talk about brother"]),
    ("task", ["send worksheet", "check insurance form", "book 2 sessions", "find DBT group info", "letter for GP"]),
    ("theme", ["withdraws after conflict", "sleep worse pre deadline", "seeks reassurance", "people pleasing",
               "all or nothing thinking"]),
    ("progress", ["used breathing at work", "one panic attack Tue", "gym twice", "skipped exposure task",
                  "fewer nightmares"]),
    ("reflection", ["I felt rushed today", "pace felt right", "too directive early", "good alliance",
                    "missed a cue on grief"]),
    ("countertrans", ["felt protective", "irritated when late", "bored mid session", "urge to fix things",
                      "felt tired, distant"]),
    ("supervision", ["how to pace trauma work?", "refer for med review?", "missed sessions policy",
                     "gift from client?"]),
    ("cultur", ["eldest son role", "faith helps coping", "prefers English", "stigma about therapy",
                "family expects silence"]),
]
_GENERIC = ["sleep improving, less worry", "mood better this week", "pt calmer", "discussed boundaries",
            "worried about job", "denies SI", "HW done"]
_DIGIT_MAX = {"phq": 27, "gad": 21}


def phrase_for(key: str, rng: np.random.Generator, max_chars: int = 40) -> str:
    """A short invented phrase that suits field ``key`` and has at most ``max_chars`` characters."""
    pool = next((p for frag, p in _PHRASES if frag in key), _GENERIC)
    fitting = [p for p in pool if len(p) <= max_chars] or [min(pool, key=len)[:max(1, max_chars)].rstrip()]
    return fitting[int(rng.integers(len(fitting)))]


def _max_chars(box: list[float]) -> int:
    """How many handwritten characters fit on a line box (about 0.3 x its height each)."""
    width, height = box[2] - box[0], box[3] - box[1]
    return max(4, int(width / (0.32 * height)))


def _digits(key: str, cells: int, rng: np.random.Generator) -> str:
    top = next((v for frag, v in _DIGIT_MAX.items() if frag in key), 10**cells - 1)
    return str(int(rng.integers(0, min(top, 10**cells - 1) + 1))).zfill(cells)


def random_values(layout_page: dict, rng: np.random.Generator, empty_rate: float = EMPTY_RATE) -> dict:
    """A plausible value for every field of a page of :func:`forms.geometry.layout`; some left empty."""
    values: dict = {}
    for f in layout_page["fields"]:
        kind, key = f["kind"], f["key"]
        empty = rng.random() < empty_rate
        if kind == "checkbox":
            values[key] = bool(rng.random() < 0.6)
        elif kind == "choice":
            opts = [o["value"] for o in f["options"]]
            if f.get("multiple"):
                n = 0 if empty else int(rng.integers(1, min(3, len(opts)) + 1))
                picked = set(rng.choice(len(opts), size=n, replace=False).tolist()) if n else set()
                values[key] = [v for i, v in enumerate(opts) if i in picked]  # in printed order
            else:
                values[key] = None if empty else opts[int(rng.integers(len(opts)))]
        elif kind == "scale":
            values[key] = None if empty else int(f["options"][int(rng.integers(len(f["options"])))]["value"])
        elif kind == "digits":
            values[key] = "" if empty else _digits(key, len(f["cells"]), rng)
        elif kind == "line":
            values[key] = "" if empty else phrase_for(key, rng, _max_chars(f["lines"][0] if f.get("lines") else f["bbox"]))
        elif kind == "text":
            boxes = f.get("lines") or [f["bbox"]]
            n = 0 if empty else int(rng.integers(1, min(3, len(boxes)) + 1))
            used: list[str] = []
            for box in boxes[:n]:
                phrase = phrase_for(key, rng, _max_chars(box))
                used.append(phrase if phrase not in used else phrase_for("", rng, _max_chars(box)))
            values[key] = "\n".join(used)
        else:
            raise ValueError(f"unknown field kind {kind!r}")
    return values


def _style(rng: np.random.Generator) -> str:
    names = list(MARK_WEIGHTS)
    return names[int(rng.choice(len(names), p=np.array(list(MARK_WEIGHTS.values())) / sum(MARK_WEIGHTS.values())))]


def plan_marks(layout_page: dict, values: dict, rng: np.random.Generator) -> dict:
    """How each answered tick field is marked: ``{key: {"style", "crossed_out"}}``.

    One style per field (people are consistent within a question). For a
    single-choice or scale answer, sometimes a wrong box was ticked first and
    scribbled out: ``crossed_out`` names that box's value.
    """
    plan: dict = {}
    for f in layout_page["fields"]:
        kind, key = f["kind"], f["key"]
        if kind not in ("checkbox", "choice", "scale"):
            continue
        value = values.get(key)
        entry = {"style": _style(rng), "crossed_out": None}
        single = kind == "scale" or (kind == "choice" and not f.get("multiple"))
        if single and value is not None and len(f["options"]) > 1 and rng.random() < CROSSED_OUT_RATE:
            wrong = [o["value"] for o in f["options"] if o["value"] != str(value)]
            entry["crossed_out"] = wrong[int(rng.integers(len(wrong)))]
            if entry["style"] == "faint":  # a firm correction, not a hesitant one
                entry["style"] = "check"
        plan[key] = entry
    return plan
