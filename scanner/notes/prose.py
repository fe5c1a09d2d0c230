"""Progress-note prose: confirmed progress values as short clinical sentences.

Pure functions of template fields and their confirmed values; no vault, no
privacy decisions (:mod:`scanner.notes.progress` hands in progress fields only).

Known fields of the bundled templates (attendance, length, format, mood,
homework, participation, ...) have their own phrasing, used only when the
answer is one of the options this module knows; everything else is written
from the field's kind and label ("Speech was normal and slow."), so a user's
own template still reads as sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

from scanner.shorthand import Shorthand
from scanner.values import HAND_KINDS

# A risk item whose answer is one of these is a negative screen.
NEGATIVE_ANSWERS = {"none", "no", "denied", "denies", "deny", "absent", "negative", "nil", "not_present", "never"}
_RISK_NAMES = ("suicid", "homicid", "self-harm", "self harm", "harm to self", "harm to others")
_RISK_KEY_TOKENS = {"si", "hi", "sh", "nssi"}
# Attendance answers that mean the session took place, and those that mean it did not.
ATTENDED = {"attended", "present", "on time", "late", "left early"}
NOT_ATTENDED = {"cancelled", "canceled", "no-show", "no show", "absent", "did not attend", "dna"}
# "Next visit (weeks)" or help "in weeks": a number answer reads "in 2 weeks".
_UNIT_LABEL = re.compile(r"\s*\((days|weeks|months)\)\s*$", re.I)
_UNIT_HELP = re.compile(r"^in (days|weeks|months)$", re.I)
_BARE_UNITS = {"minutes", "hours", "days", "weeks", "months"}
_SCALE_RANGE = re.compile(r"\s*\(\s*\d+\s*(?:-|–|to)\s*\d+\s*\)\s*$")
_BAND = re.compile(r"^\s*(\d{1,3})\s*(?:-|–|to)\s*(\d{1,3})\s*$")
_OPEN_BAND = re.compile(r"^\s*(\d{1,3})\s*\+\s*$")
# Psychotherapy service codes by minutes (CPT 90832/90834/90837): only ever a
# suggestion the clinician confirms; a band is mapped only when it is exactly
# one of these (a group sheet's 45-74 is not), a number when it falls in one.
SERVICE_CODES = ((16, 37, "90832"), (38, 52, "90834"), (53, None, "90837"))
# Published severity bands of two common measures (total score -> words).
_SEVERITY = {"phq-9": ((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 19, "moderately severe"),
                       (20, 27, "severe")),
             "gad-7": ((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe"))}
_HOMEWORK = {"done": "Client completed the homework set at the last session.",
             "partly": "Client partly completed the homework set at the last session.",
             "not done": "Client did not complete the homework set at the last session.",
             "none set": "No homework had been set at the last session."}
# The session form's interventions as printed (short, to fit a box) and as a note says them.
_INTERVENTION = {"supportive": "supportive therapy", "behav. activation": "behavioral activation",
                 "psychodynamic": "psychodynamic exploration", "exposure": "exposure work"}
_ORIENTATION = {"oriented": "Client was oriented.", "impaired": "Orientation was impaired."}
_PARTICIPATION = {"active": "Client participated actively in the group.",
                  "moderate": "Client participated moderately in the group.",
                  "minimal": "Client participated minimally in the group.",
                  "silent": "Client was silent in the group.",
                  "disruptive": "Client's participation was disruptive to the group."}
_CONTINUATION = {"continue in group": "Client will continue in the group.",
                 "review fit": "Client's fit with the group will be reviewed.",
                 "individual session": "An individual session is planned.",
                 "discharge": "Client is to be discharged from the group."}
_FORMAT_ADJ = {"in person": "in-person", "video": "video", "phone": "phone", "telephone": "phone"}
_FORMAT_HOW = {"in person": "in person", "video": "by video", "phone": "by phone", "telephone": "by phone"}
_TODAY = re.compile(r"\btoday\b")


@dataclass(frozen=True)
class Context:
    """What a sentence may need beyond its own field: all values, the session noun, the risk state."""

    values: dict[str, Any]
    noun: str = "session"  # "group session" on a group sheet
    risk_endorsed: bool = False


# ---------------------------------------------------------------- roles of fields


def role(f) -> str | None:
    """'attendance', 'duration' or 'format' for the fields that describe the session itself.

    Said by ``role``, else only by the built-in forms' keys or whole labels (not "Minutes late").
    """
    if getattr(f, "role", None):
        return f.role
    names = {f.key, f.label.strip().lower()}
    single = f.kind == "choice" and not f.multiple
    if single and names & {"attendance", "session_attendance"}:
        return "attendance"
    if f.kind in ("choice", "digits") and names & _DURATION_NAMES:
        return "duration"
    return "format" if single and names & {"session_format", "format", "session format"} else None


_DURATION_NAMES = frozenset({"session_length", "session_minutes", "session_duration", "duration", "minutes",
                             "length", "session length", "session duration", "session minutes"})


def is_risk_item(f) -> bool:
    """Whether a field is an item of the risk screen (always documented, even when empty).

    A choice or scale counts when it names a risk (suicidal or homicidal
    ideation, self-harm) or sits under a risk heading; a checkbox only when it
    names a risk itself, because an unticked "Safety plan" box denies nothing.
    """
    key_words = f.key.replace("_", " ")
    text = f"{key_words} {f.label}".lower()
    names_risk = any(w in text for w in _RISK_NAMES) or bool(set(f.key.split("_")) & _RISK_KEY_TOKENS)
    if f.kind == "checkbox":
        return names_risk
    if f.kind in ("choice", "scale"):
        return names_risk or "risk" in (f.group or "").lower() or "risk" in f.key.split("_")
    return False


def is_safety_plan(f) -> bool:
    return f.kind == "checkbox" and ("safety plan" in f.label.lower() or "safety" in f.key.split("_"))


def attendance_answer(fields, values: dict[str, Any]) -> str | None:
    """The attendance answer in words (its option label, lower case), or None when not given."""
    for f in fields:
        if role(f) == "attendance":
            words = option_words(f, values.get(f.key))
            return words[0].lower() if words else None
    return None


def did_not_attend(fields, values: dict[str, Any]) -> str | None:
    """The attendance answer when it says the session did not take place (cancelled, no-show)."""
    answer = attendance_answer(fields, values)
    return answer if answer in NOT_ATTENDED else None


def duration_words(fields, values: dict[str, Any]) -> tuple[bool, str | None]:
    """(has a duration field, its answer as '38-52' or '45'); the answer is None when left blank."""
    for f in fields:
        if role(f) == "duration":
            words = option_words(f, values.get(f.key)) if f.kind == "choice" else (
                [str(values.get(f.key)).strip()] if str(values.get(f.key) or "").strip() else [])
            return True, (words[0] if words else None)
    return False, None


def service_code(minutes: str | None) -> str | None:
    """The psychotherapy code a minutes answer maps to (a band exactly, a number within one), else None."""
    if not minutes:
        return None
    text = minutes.strip()
    if text.isdigit():
        n = int(text)
        return next((c for lo, hi, c in SERVICE_CODES if n >= lo and (hi is None or n <= hi)), None)
    band = _BAND.match(text)
    if band:
        lo, hi = int(band.group(1)), int(band.group(2))
        return next((c for a, b, c in SERVICE_CODES if (a, b) == (lo, hi)), None)
    open_band = _OPEN_BAND.match(text)
    if open_band:
        return next((c for a, b, c in SERVICE_CODES if b is None and a == int(open_band.group(1))), None)
    return None


# ---------------------------------------------------------------- sentences of a section


def section_sentences(fields: list, ctx: Context, shorthand: Shorthand) -> list[tuple[str, list]]:
    """The sentences of one section, each with the fields it was written from (template order)."""
    out: list[tuple[str, list]] = []
    screen = [f for f in fields if is_risk_item(f)]
    facts = [f for f in fields if role(f)]
    keys = {f.key for f in fields}
    i = 0
    while i < len(fields):
        f = fields[i]
        if f in screen:
            if f is screen[0]:  # the whole screen goes where its first item is
                out.append((risk_text(screen, ctx.values), screen))
            i += 1
            continue
        if f in facts:
            if f is facts[0]:
                out.extend(session_sentences(facts, ctx))
            i += 1
            continue
        if f.kind == "checkbox":
            # Consecutive boxes under one heading read as one list of what was ticked.
            run = [f]
            while (i + len(run) < len(fields) and fields[i + len(run)].kind == "checkbox"
                   and fields[i + len(run)].group == f.group and fields[i + len(run)] not in screen):
                run.append(fields[i + len(run)])
            ticked = [g for g in run if ctx.values.get(g.key) is True]
            if ticked and len(run) > 1 and f.group:
                out.append((sentence(f"{f.group}: {', '.join(soft_lower(box_phrase(g)) for g in ticked)}"), ticked))
            else:
                out.extend((sentence(box_phrase(g)), [g]) for g in ticked)
            for g in run:
                if is_safety_plan(g) and ctx.values.get(g.key) is not True and ctx.risk_endorsed:
                    out.append(("The safety plan was not reviewed in this session.", [g]))
            i += len(run)
            continue
        if f.key == "mood_rating" and "mood" in keys and option_words_of(fields, "mood", ctx.values):
            i += 1  # said with the reported mood
            continue
        text = field_sentence(f, ctx, shorthand, fields)
        if text:
            cited = [f] + [g for g in fields if f.key == "mood" and g.key == "mood_rating"
                           and ctx.values.get(g.key) is not None]
            out.append((text, cited))
        i += 1
    return out


def option_words_of(fields, key: str, values: dict[str, Any]) -> list[str]:
    f = next((g for g in fields if g.key == key), None)
    return option_words(f, values.get(key)) if f is not None and f.kind == "choice" else []


def session_sentences(facts: list, ctx: Context) -> list[tuple[str, list]]:
    """Attendance, format and length in one sentence ('Client attended a video session of 38-52 minutes.')."""
    by_role = {role(f): f for f in facts}
    att_f, dur_f, fmt_f = by_role.get("attendance"), by_role.get("duration"), by_role.get("format")
    attendance = next(iter(option_words(att_f, ctx.values.get(att_f.key))), None) if att_f else None
    _, minutes = duration_words([dur_f], ctx.values) if dur_f else (False, None)
    fmt = next(iter(option_words(fmt_f, ctx.values.get(fmt_f.key))), None) if fmt_f else None
    fmt_l = fmt.lower() if fmt else None
    out: list[tuple[str, list]] = []
    cited = [f for f in (att_f, fmt_f, dur_f) if f is not None]
    att_l = attendance.lower() if attendance else None
    if att_f is not None and att_l in ATTENDED:
        adj = _FORMAT_ADJ.get(fmt_l, fmt_l) if fmt_l else None
        if minutes and minutes.isdigit():
            phrase = " ".join(w for w in (f"{minutes}-minute", adj, ctx.noun) if w)
        else:
            phrase = " ".join(w for w in (adj, ctx.noun) if w)
            if minutes:
                phrase += f" of {minutes} minutes"
        phrase = f"the {phrase}" if phrase == ctx.noun else f"{article(phrase)} {phrase}"  # BIRP: format elsewhere
        if att_l == "late":
            text = f"Client arrived late for {phrase}."
        elif att_l == "left early":
            text = f"Client attended {phrase} and left early."
        else:
            text = f"Client attended {phrase}."
        out.append((text, cited))
    else:
        if att_f is not None:
            out.append((sentence(f"Attendance: {attendance}") if attendance else "Attendance was not recorded.",
                        [att_f]))
        held = []
        if fmt_l:
            held.append(f"was held {_FORMAT_HOW.get(fmt_l, 'by ' + fmt_l)}")
        if minutes:
            held.append(f"lasted {minutes} minutes")
        if held:
            out.append((f"The {ctx.noun} {' and '.join(held)}.", [f for f in (fmt_f, dur_f) if f is not None]))
    if dur_f is not None and not minutes:
        out.append(("The duration was not recorded.", [dur_f]))
    return out


def field_sentence(f, ctx: Context, shorthand: Shorthand | None, fields: Sequence = ()) -> str | None:
    """One field's answer as a sentence; None when it was left blank."""
    value = ctx.values.get(f.key)
    if value is None or value == "" or value == []:
        return None
    if f.kind == "choice":
        words = option_words(f, value)
        if not words:
            return None
        known = _known_choice(f, words, ctx, fields)
        if known:
            return known
        unit = _UNIT_LABEL.search(f.label) or _UNIT_HELP.match(f.help or "")
        label = prose_label(f)
        if unit and len(words) == 1 and words[0].isdigit():
            return sentence(f"{label} in {words[0]} {_unit(unit.group(1).lower(), words[0])}")
        verb = "were" if _plural(label) else "was"
        return sentence(f"{label} {verb} {join(words)}")
    if f.kind == "scale":
        return sentence(f"{prose_label(f)} was rated {scale_words(f, value)}")
    if f.kind == "checkbox":
        return sentence(box_phrase(f)) if value else None
    text = written_text(f, value, shorthand)
    if not text:
        return None
    if f.kind == "digits":
        label = prose_label(f)
        text = str(int(text)) if text.isdigit() else text  # "02" written in two boxes is 2
        band = severity(label, text)
        return sentence(f"{label} was {text}" + (f" ({band} range)" if band else ""))
    if f.key == "focus":
        return sentence(f"The {ctx.noun} focused on {text}")  # as written: a capital may be a name
    label = prose_label(f)
    if f.help and f.help.lower().startswith(("to ", "for ")) and not label.lower().startswith("how "):
        label = f"{label} {f.help}"
    return sentence(f"{label}: {text}")


def _known_choice(f, words: list[str], ctx: Context, fields) -> str | None:
    lower = [w.lower() for w in words]
    one = lower[0] if len(lower) == 1 else None
    table = {"homework_status": _HOMEWORK, "orientation": _ORIENTATION, "participation": _PARTICIPATION,
             "continuation": _CONTINUATION}.get(f.key)
    if table is not None:
        return table.get(one) if one else None
    if f.key == "mood":
        rating = next((g for g in fields if g.key == "mood_rating" and g.kind == "scale"), None)
        tail = ""
        if rating is not None and ctx.values.get(rating.key) is not None:
            tail = f" ({scale_words(rating, ctx.values[rating.key])})"
        return f"Mood was reported as {join(words)}{tail}."
    if f.key == "interventions" and f.multiple:
        return f"The clinician used {join([_INTERVENTION.get(w, w) for w in words])}."
    if f.key == "next_visit" and one:
        return ("The next session is planned as needed." if one == "as needed"
                else f"The next session is planned in {one} {_unit('weeks', one)}." if one.isdigit() else None)
    return None


# ---------------------------------------------------------------- the risk screen


def risk_parts(screen: list, values: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(endorsed as 'suicidal ideation: active, with plan', denied names, not recorded names)."""
    positive: list[str] = []
    negative: list[str] = []
    unknown: list[str] = []
    for f in screen:
        value = values.get(f.key)
        names = _screened(f)
        if f.kind == "checkbox":
            (positive if value is True else negative).extend(names)
            continue
        chosen = value if isinstance(value, list) else ([] if value is None else [value])
        if not chosen:
            unknown.extend(names)
        elif f.kind == "choice" and all(_is_negative(f, v) for v in chosen):
            negative.extend(names)
        elif f.kind == "scale" and value is not None and int(value) == (f.min or 0):
            negative.extend(names)
        elif _is_checklist(f):
            labels = {o.value: o.label for o in f.options or ()}
            positive.extend(soft_lower(str(labels.get(v, v))) for v in chosen if not _is_negative(f, v))
        elif f.kind == "scale":
            positive.append(f"{names[0]}: {scale_words(f, value)}")
        else:
            positive.append(f"{names[0]}: {', '.join(_answer_words(f, v) for v in chosen if not _is_negative(f, v))}")
    return positive, negative, unknown


def risk_text(screen: list, values: dict[str, Any]) -> str:
    """The risk screen in words: each endorsed answer, then what was denied, then what was not recorded."""
    positive, negative, unknown = risk_parts(screen, values)
    parts = []
    checklist_found = [p for p in positive if ":" not in p]
    parts += [sentence(capital(p)) for p in positive if ":" in p]
    if checklist_found:
        parts.append(f"{capital(join(checklist_found))} {'was' if len(checklist_found) == 1 else 'were'} noted.")
    if negative:
        parts.append(f"No {join(negative, 'or')} was reported.")
    if unknown:
        parts.append(f"{capital(join(unknown))} {'was' if len(unknown) == 1 else 'were'} not recorded.")
    return " ".join(parts)


def risk_statements(template_fields, values: dict[str, Any]) -> list[str]:
    """Endorsed risk answers as words ('suicidal ideation: active, with plan'), and 'safety plan: not
    reviewed' beside any of them when a safety-plan box was left unticked."""
    screen = [f for f in template_fields if is_risk_item(f) and f.key in values]
    positive, _, _ = risk_parts(screen, values)
    if positive and any(is_safety_plan(f) and values.get(f.key) is not True
                        for f in template_fields if f.key in values):
        positive.append("safety plan: not reviewed")
    return positive


def _answer_words(f, value: str) -> str:
    """An option label, with a 'with ...' option read after the one before it ('active, with plan')."""
    options = list(f.options or ())
    idx = next((i for i, o in enumerate(options) if o.value == value), None)
    if idx is None:
        return str(value)
    label = soft_lower(options[idx].label)
    if label.lower().startswith("with ") and idx > 0 and not _is_negative(f, options[idx - 1].value):
        return f"{soft_lower(options[idx - 1].label)}, {label}"
    return label


def _is_checklist(f) -> bool:
    """A multiple choice with a 'none' box: each other box names one risk."""
    return f.kind == "choice" and bool(f.multiple) and any(_is_negative(f, o.value) for o in f.options or ())


def _screened(f) -> list[str]:
    """What a risk item screens for, in words ('suicidal ideation')."""
    if _is_checklist(f):
        return [soft_lower(o.label) for o in f.options if not _is_negative(f, o.value)]
    return [soft_lower(prose_label(f))]


def _is_negative(f, value: str) -> bool:
    label = next((o.label for o in f.options or () if o.value == value), value)
    return str(value).lower() in NEGATIVE_ANSWERS or label.strip().lower() in NEGATIVE_ANSWERS


# ---------------------------------------------------------------- words


def option_words(f, value: Any) -> list[str]:
    """The chosen options' printed labels (acronyms kept, other words lower case)."""
    if value is None or value == "" or value == []:
        return []
    chosen = value if isinstance(value, list) else [value]
    labels = {o.value: o.label for o in f.options or ()}
    return [soft_lower(labels.get(v, str(v))) for v in chosen]


def written_text(f, value: Any, shorthand: Shorthand | None) -> str:
    """Written text on one line: each written line is its own thought, kept apart by '; '."""
    lines = [" ".join(line.split()) for line in str(value).splitlines()]
    text = "; ".join(line.rstrip(";,") for line in lines if line)
    if f.kind in HAND_KINDS and shorthand is not None:
        text = shorthand.expand(text)
    return text


def scale_words(f, value: Any) -> str:
    lo, hi = (f.min or 0), (f.max if f.max is not None else 10)
    return f"{value}/{hi}" if lo == 0 else f"{value} on a scale of {lo} to {hi}"


def severity(label: str, text: str) -> str | None:
    """The published severity band of a PHQ-9 or GAD-7 total, when the label names one."""
    name = next((k for k in _SEVERITY if label.lower().startswith(k)), None)
    if name is None or not text.isdigit():
        return None
    n = int(text)
    return next((words for lo, hi, words in _SEVERITY[name] if lo <= n <= hi), None)


def box_phrase(f) -> str:
    """A ticked box in words: label and help, the sheet's "today" as "in this session" (a dated record)."""
    return f"{prose_label(f)} {_TODAY.sub('in this session', f.help)}" if f.help else prose_label(f)


def prose_label(f) -> str:
    """The label for prose, chosen from what the template prints.

    A written field whose help says how ("how the client interacted with the
    group") is introduced by that help; a bare unit label ("Minutes") by the
    short label ("Length"); otherwise the printed label, or the short one when
    it says more ("Thought" -> "Thought process"). A qualifier after a comma
    ("Affect, observed"), a scale's range, a unit in brackets and a trailing
    colon are dropped.
    """
    label = f.label
    if f.kind in HAND_KINDS and f.help and f.help.lower().startswith("how "):
        label = f.help[0].upper() + f.help[1:]
    elif f.short and f.label.lower() in _BARE_UNITS:
        label = f.short
    elif f.short and f.short.lower().startswith(label.lower()) and len(f.short) > len(label):
        label = f.short
    elif "," in label and f.kind in ("choice", "scale"):
        label = label.split(",", 1)[0]
    label = _UNIT_LABEL.sub("", _SCALE_RANGE.sub("", label))
    return label.rstrip(" :?")


def _plural(label: str) -> bool:
    last = label.split()[-1].lower() if label.split() else ""
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))


def _unit(unit: str, number: str) -> str:
    return unit[:-1] if number == "1" else unit


def article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def soft_lower(text: str) -> str:
    """'Anxious' -> 'anxious' inside a sentence; acronyms such as 'CBT' or 'SI' stay."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:] == first[1:].lower():
        return text[0].lower() + text[1:]
    return text


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(words: list[str], last: str = "and") -> str:
    return f" {last} ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def sentence(text: str) -> str:
    text = capital(text.strip())
    return text if text.endswith((".", "!", "?")) else text + "."
