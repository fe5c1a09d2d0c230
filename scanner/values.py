"""Values by kind: the one place that parses, writes back and checks a field's value.

Every way a value enters the vault goes through here: ``inklock confirm --value``
(:func:`scanner.vault.store.parse_value`), the review page's edit, and ingest
(the page reader flags a read digits value outside :func:`digit_range`). A bad
value is :class:`scanner.errors.BadValue` (a BadInput: exit 4) with one sentence
naming what the field allows.

- :func:`parse` reads what a person typed; :func:`as_text` writes a stored value
  back in the form :func:`parse` reads (the review page prefills its boxes with it).
- :func:`check_digits`, :func:`check_scale`, :func:`check_options` validate.
- The kind groups, the doubt threshold and the note formats are defined here once.

``field`` is the field's box from :mod:`forms.catalog` (a ``forms.boxes.FieldBox``,
read by attribute), a field of the geometry export (a dict, ``cells`` the list of
cell boxes) or a plain dict with ``cells`` as a number; None when unknown.

No "none" rule per caller: a typed "", and for a choice or a scale "none",
"null" or "-", is no answer, except that a choice keeps an option whose value
is literally one of those words (risk screens have a "none" option).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from scanner.errors import BadInput, BadValue

CLIENT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,23}")  # used with fullmatch: "$" would let a newline through

__all__ = [
    "HAND_KINDS",
    "KINDS",
    "LOW_CONFIDENCE",
    "MARK_KINDS",
    "NOTE_FORMATS",
    "WRITTEN_KINDS",
    "Allowed",
    "BadValue",
    "allowed",
    "allowed_words",
    "as_text",
    "cell_count",
    "check_digits",
    "check_options",
    "check_scale",
    "digit_range",
    "parse",
    "shown",
]

# Below this a read is "low confidence": flagged by the readers, shown first on the
# review page, and written kinds show the machine text as a suggestion beside an
# empty box instead of prefilling it.
LOW_CONFIDENCE = 0.8

# The kinds of forms.model.KINDS, in groups (tests check they agree).
KINDS = ("checkbox", "choice", "scale", "digits", "line", "text")
MARK_KINDS = ("checkbox", "choice", "scale")  # read from marks in boxes
WRITTEN_KINDS = ("digits", "line", "text")  # written by hand
HAND_KINDS = ("line", "text")  # written words: the clinician's exemplars can read, search and learn them

# Progress-note formats; each progress field names its section in every one
# (forms.model.SECTION_LETTERS, which tests check against this).
NOTE_FORMATS = ("soap", "birp", "dap")

NO_ANSWER = ("none", "null", "-")
YES_WORDS = ("yes", "y", "true", "1", "x", "ticked")
NO_WORDS = ("no", "n", "false", "0", "", "empty")


@dataclass(frozen=True)
class Allowed:
    """What a field's template allows: digit cells, range, option values, several answers."""

    cells: int | None = None
    min: int | None = None
    max: int | None = None
    options: tuple[str, ...] = ()
    multiple: bool = False
    # Each option's printed label, beside ``options`` (may be empty): how a typed answer may name it, not
    # what is allowed, so two readers of one field agree whatever labels they have.
    labels: tuple[str, ...] = dc_field(default=(), compare=False)


def allowed(field: Any) -> Allowed:
    """What ``field`` allows, from a FieldBox (its attributes) or a geometry dict (its keys)."""
    if field is None:
        return Allowed()
    typed = getattr(field, "field", None)
    if typed is not None and not isinstance(field, dict):  # a forms.boxes.FieldBox
        return Allowed(
            cells=len(field.cells) if field.cells else None,
            min=typed.min,
            max=typed.max,
            options=tuple(str(v) for v, _box in field.options),
            multiple=bool(typed.multiple),
            labels=tuple(o.label for o in typed.options or ()),
        )
    f: Mapping[str, Any] = field
    cells = f.get("cells")
    return Allowed(
        cells=None if cells is None else (cells if isinstance(cells, int) else len(cells)),
        min=f.get("min"),
        max=f.get("max"),
        options=tuple(str(o["value"]) if isinstance(o, dict) else str(o) for o in f.get("options") or []),
        multiple=bool(f.get("multiple")),
        labels=tuple(str(o.get("label", o["value"])) if isinstance(o, dict) else str(o) for o in f.get("options") or []),
    )


def cell_count(field: Any) -> int | None:
    """How many digit cells a digits field has (None when unknown)."""
    return allowed(field).cells


def digit_range(field: Any) -> tuple[int, int] | None:
    """A digits field's allowed values (min, max), when the template gives either."""
    a = allowed(field)
    if a.min is None and a.max is None:
        return None
    n = a.cells
    lo = a.min if a.min is not None else 0
    hi = a.max if a.max is not None else (10 ** n - 1 if n else 10 ** 9)
    return int(lo), int(hi)


def allowed_words(kind: str, field: Any) -> str:
    """What a field accepts, in words (for a message)."""
    if kind == "checkbox":
        return "yes or no"
    a = allowed(field)
    if kind == "digits":
        n, span = a.cells, digit_range(field)
        if span:
            return f"a whole number from {span[0]} to {span[1]}"
        return f"up to {n} digit(s)" if n else "digits"
    if kind == "scale":
        if a.min is not None and a.max is not None:
            return f"a number from {a.min} to {a.max}, or none"
        return f"one of {', '.join(a.options)}, or none" if a.options else "a number, or none"
    if kind == "choice":
        return f"one of {', '.join(a.options)}" if a.options else "an option"
    return "text"


# ---------------------------------------------------------------- validate


def check_digits(text: str, field: Any) -> str:
    """Typed digits (spaces ignored) checked against the cells and range; "" is no answer."""
    t = text.strip().replace(" ", "")
    if t == "":
        return ""
    what = allowed_words("digits", field)
    if not (t.isascii() and t.isdigit()):
        raise BadValue(f"'{shown(text)}' is not a number made of digits; this field takes {what}.")
    n, span = cell_count(field), digit_range(field)
    if n is not None and len(t) > n:
        raise BadValue(f"'{shown(text)}' has more digits than the field's {n} cell(s); it takes {what}.")
    if span and not span[0] <= int(t) <= span[1]:
        raise BadValue(f"'{shown(text)}' is outside the field's range; it takes {what}.")
    return t


def check_scale(text: str, field: Any) -> int | None:
    """A typed point on a scale; "", none, null or - is no answer."""
    t = text.strip()
    if t == "" or t.lower() in NO_ANSWER:
        return None
    a = allowed(field)
    inside = t.lstrip("-").isascii() and t.lstrip("-").isdigit()
    if inside and a.options:
        inside = t in a.options
    elif inside and a.min is not None and a.max is not None:
        inside = int(a.min) <= int(t) <= int(a.max)
    if not inside:
        raise BadValue(f"'{shown(text)}' is not on this scale; it takes {allowed_words('scale', field)}.")
    return int(t)


def _loose(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _option_value(part: str, a: Allowed) -> str:
    """The option value a typed answer means: the value itself, or its label as printed (case and spaces aside)."""
    if part in a.options or not a.options:
        return part
    loose = _loose(part)
    labels = a.labels if len(a.labels) == len(a.options) else a.options
    hits = {v for v, label in zip(a.options, labels) if loose and loose in (_loose(v), _loose(label))}
    return hits.pop() if len(hits) == 1 else part


def check_options(parts: list[str], field: Any) -> None:
    """Each chosen option must be one of the field's options (anything goes when they are unknown)."""
    options = allowed(field).options
    bad = [p for p in parts if options and p not in options]
    if bad:
        raise BadValue(f"'{shown(bad[0])}' is not an option of this field; choose from {', '.join(options)}.")


# ---------------------------------------------------------------- parse and write back


# The most a typed answer may hold: a printed line takes about 100 characters, a text area some lines of it.
MAX_TYPED = {"line": 400, "text": 4000}


def parse(kind: str, text: str, field: Any = None, multiple: bool | None = None) -> Any:
    """The value a person typed, checked against the field's kind, cells, range and options.

    ``multiple`` (a choice takes several answers) defaults to what the field
    says; a caller without the field's geometry may tell it. Text kinds keep
    the text as typed.
    """
    t = text.strip()
    if kind == "checkbox":
        low = t.lower()
        if low in YES_WORDS:
            return True
        if low in NO_WORDS:
            return False
        raise BadValue(f"'{shown(text)}' is not a checkbox value; use yes or no.")
    if kind == "scale":
        return check_scale(text, field)
    if kind == "choice":
        a = allowed(field)
        no_answer = t.lower() in NO_ANSWER and t not in a.options
        parts = [] if no_answer else [_option_value(p.strip(), a) for p in t.split(",") if p.strip()]
        parts = list(dict.fromkeys(parts))  # "cbt,cbt" is one answer ("The clinician used CBT and CBT.")
        check_options(parts, field)
        if a.multiple if multiple is None else multiple:
            return parts
        if len(parts) > 1:
            raise BadValue("This field takes one answer only.")
        return parts[0] if parts else None
    if kind == "digits":
        return check_digits(text, field)
    if kind == "line" and "\n" in t:
        raise BadValue("This field is one line on the sheet: type its answer on one line.")
    if len(t) > MAX_TYPED.get(kind, MAX_TYPED["text"]):
        raise BadValue(f"That is {len(t)} characters, more than this field holds on paper "
                       f"({MAX_TYPED.get(kind, MAX_TYPED['text'])} at most).")
    return text


def as_text(kind: str, value: Any) -> str:
    """A stored value written the way :func:`parse` reads it back."""
    if kind == "checkbox":
        return "yes" if value else "no"
    if kind == "scale":
        return "none" if value is None else str(value)
    if kind == "choice":
        # Empty for no answer: "none" can be a real option value (a risk screen's "none").
        if value is None:
            return ""
        return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "" if value is None else str(value)


def shown(text: str, limit: int = 40) -> str:
    """Typed text made safe and short enough to quote in a message."""
    text = "".join(c if c.isprintable() else "?" for c in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_client(code: str, where: str = "") -> str:
    """A client code as typed (printing, a schedule, a blank sheet given its client); BadInput if it is not one."""
    if not CLIENT_CODE.fullmatch(code or ""):
        raise BadInput(f"{where}'{shown(code)}' is not a client code: use up to 24 letters, digits, '.', '_' or '-' "
                       "(a code, never a name).")
    return code


def check_session(text: Any, where: str = "") -> int | None:
    """A session number as typed (1 to 9999), None when empty; BadInput otherwise."""
    if text is None or str(text).strip() == "":
        return None
    t = str(text).strip()
    if not t.isdigit() or not 0 < int(t) < 10000:
        raise BadInput(f"{where}'{shown(t)}' is not a session number (1 to 9999).")
    return int(t)


def is_risk_field(field) -> bool:
    """A choice field of the risk screen (by its group or key), from a ``forms.model.Field``.

    Read by :mod:`scanner.review.risk` (the risk words) and by the search index
    (a risk answer is found by its field's label).
    """
    group = (getattr(field, "group", None) or "").lower()
    # Progress fields only: these words reach the queue, the next sheet and the progress note.
    return (field.kind == "choice" and getattr(field, "privacy", "progress") == "progress"
            and ("risk" in group or field.key.lower().startswith("risk")))
