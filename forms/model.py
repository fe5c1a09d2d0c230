"""Template model: load a template file (YAML or JSON), validate it, find templates.

A template is data: pages of fields, each field a kind (``checkbox``, ``choice``,
``scale``, ``digits``, ``line``, ``text``) with a privacy (``progress`` fields map
to a section of SOAP, BIRP and DAP; ``private`` fields never enter a progress
note). Users write no coordinates: :mod:`forms.geometry` lays fields out.

Validation happens in two passes so every error names the file, the key path
(``pages[1].fields[3].options``) and the problem: pydantic checks shapes and
types, then :func:`_check_rules` checks what depends on the kind of a field and
on other fields (duplicate keys, marker ids).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from forms.errors import TemplateError, TemplateNotFound
from forms.parsing import parse_text

__all__ = [
    "BUILTIN_DIR",
    "CORNERS",
    "KINDS",
    "SECTION_LETTERS",
    "Field",
    "Option",
    "Page",
    "Template",
    "TemplateError",
    "TemplateNotFound",
    "get_template",
    "list_templates",
    "template_problems",
    "load_template",
    "marker_index",
]

BUILTIN_DIR = Path(__file__).with_name("templates")
KINDS = ("checkbox", "choice", "scale", "digits", "line", "text")
SECTION_LETTERS = {"soap": ("S", "O", "A", "P"), "birp": ("B", "I", "R", "P"), "dap": ("D", "A", "P")}
CORNERS = ("tl", "tr", "br", "bl")
MARKER_IDS = range(50)  # cv2.aruco.DICT_4X4_50
MAX_PAGES = 9  # the page number is one digit of the QR payload
MAX_SCALE_POINTS = 21
MAX_CELLS = 12
MAX_LINES = 30
MAX_FIELDS = 120  # per page; far more than fit (a letter page holds about 60 checkbox rows)
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")

# Which attributes make sense for which kind; anything else is a mistake worth naming.
_KIND_ATTRS = {
    "checkbox": set(),
    "choice": {"options", "multiple"},
    "scale": {"min", "max"},
    "digits": {"cells", "min", "max"},
    "line": set(),
    "text": {"lines"},
}
_KIND_ONLY = {"options", "multiple", "min", "max", "cells", "lines"}

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
OptionValue = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_+\-]{0,23}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _slug(text: str) -> str:
    """An option value from its label: 'Not done' -> 'not_done', '53+' stays."""
    return re.sub(r"[^a-z0-9_+\-]+", "_", text.strip().lower()).strip("_")


class Option(_Model):
    """One box of a choice (or scale / checkbox): the stored ``value`` and the printed ``label``."""

    value: OptionValue
    label: Label


class Field(_Model):
    """One field of a page. Kind-specific attributes are None for other kinds."""

    key: Key
    kind: Literal["checkbox", "choice", "scale", "digits", "line", "text"]
    label: Label
    privacy: Literal["private", "progress"]
    short: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24)] | None = None
    help: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    sections: dict[str, str] | None = None
    options: tuple[Option, ...] | None = None
    multiple: bool | None = None
    min: int | None = None
    max: int | None = None
    cells: int | None = None
    lines: int | None = None
    carry_forward: bool = False
    # Layout hints (no coordinates): a heading shared by consecutive fields, and
    # whether the field takes the full width or half of it (two halves share a row).
    group: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = None
    width: Literal["full", "half"] = "full"
    # What the field says about the session itself, for the progress note's facts (attendance, length in
    # minutes and the service code it suggests, format). Optional: without it only the built-in forms' keys
    # and labels (attendance, session_length / "Minutes", session_format) are taken to mean these.
    role: Literal["attendance", "duration", "format"] | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _options_from_scalars(cls, value: Any) -> Any:
        # Let authors write `options: [attended, late, no-show]`; YAML reads
        # yes/no as booleans, so map those back to the words the author wrote.
        if not isinstance(value, (list, tuple)):
            return value
        out = []
        for item in value:
            if isinstance(item, bool):
                item = "yes" if item else "no"
            if isinstance(item, (str, int)) and not isinstance(item, bool):
                out.append({"value": _slug(str(item)[:40])[:24].rstrip("_") or str(item), "label": str(item)})
            elif isinstance(item, dict) and "value" not in item and isinstance(item.get("label"), str):
                out.append({"value": _slug(item["label"][:40])[:24].rstrip("_") or item["label"], **item})
            else:
                out.append(item)
        return out

    @property
    def title(self) -> str:
        """The short label if there is one, else the label."""
        return self.short or self.label

    def values(self) -> list[str]:
        """The values a reader may return for each box of this field (empty for written kinds)."""
        if self.kind == "checkbox":
            return ["yes"]
        if self.kind == "choice":
            return [o.value for o in self.options or ()]
        if self.kind == "scale":
            assert self.min is not None and self.max is not None  # a validated scale has both
            return [str(v) for v in range(self.min, self.max + 1)]
        return []


class Page(_Model):
    """One printed page: its title, its four marker ids (tl, tr, br, bl) and its fields."""

    number: int | None = None
    title: Label
    markers: tuple[int, ...]
    fields: tuple[Field, ...]

    @property
    def privacy(self) -> str:
        """'private' when every field is private, 'progress' when every field is, else 'mixed'."""
        kinds = {f.privacy for f in self.fields}
        return kinds.pop() if len(kinds) == 1 else "mixed"


class Template(_Model):
    """A whole form: a name, a 3-letter code (in the QR payload), a version and pages."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    version: int
    title: Label
    description: Annotated[str, StringConstraints(max_length=400)] | None = None
    pages: tuple[Page, ...]
    source: str | None = None  # the file it came from; set by the loader, not by authors

    @property
    def fields(self) -> list[Field]:
        """Every field of every page, in order."""
        return [f for p in self.pages for f in p.fields]

    def field(self, key: str) -> Field:
        """The field with this key (KeyError if none)."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def page_of(self, key: str) -> int:
        """The page number that holds field ``key`` (KeyError if none)."""
        for p in self.pages:
            if any(f.key == key for f in p.fields):
                assert p.number is not None  # validated templates number their pages
                return p.number
        raise KeyError(key)


# ---------------------------------------------------------------- loading


def _key_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_ALLOWED_KEYS = {
    "template": [n for n in Template.model_fields if n != "source"],
    "pages": list(Page.model_fields),
    "fields": list(Field.model_fields),
    "options": list(Option.model_fields),
}

_PATTERN_HINTS = {
    "key": "must be lowercase letters, digits and underscores, starting with a letter (at most 40)",
    "name": "must be lowercase letters, digits, '-' or '_', starting with a letter (at most 32)",
    "code": "must be exactly three uppercase letters, such as SES",
    "value": "must be lowercase letters, digits, '_', '+' or '-' (at most 24), such as no_show",
}


def _problem(err: Mapping[str, Any]) -> str:
    """One pydantic error in words a template author understands."""
    loc = err["loc"]
    kind = err["type"]
    if kind == "missing":
        return "this required key is missing"
    if kind == "extra_forbidden":
        container = next((p for p in reversed(loc[:-1]) if isinstance(p, str)), "template")
        allowed = _ALLOWED_KEYS.get(container, [])
        return f"unknown key (allowed here: {', '.join(allowed)})"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, not {err['input']!r}"
    if kind == "string_pattern_mismatch":
        return f"{_PATTERN_HINTS.get(str(loc[-1]), 'has characters that are not allowed')}, not {err['input']!r}"
    msg = err["msg"]
    return msg[:1].lower() + msg[1:]


def _fail(file: str | None, loc: Iterable[Any], problem: str) -> TemplateError:
    return TemplateError(file, _key_path(loc), problem)


def _check_field(file: str | None, loc: tuple, f: Field) -> Field:
    """Kind-specific rules; returns the field with kind defaults filled in."""
    given = {name for name in _KIND_ONLY if getattr(f, name) is not None}
    for name in sorted(given - _KIND_ATTRS[f.kind]):
        owners = [k for k, attrs in _KIND_ATTRS.items() if name in attrs]
        raise _fail(file, loc + (name,), f"'{name}' is only for {' and '.join(owners)} fields, not {f.kind}")
    for name in ("label", "short", "help", "group"):
        _check_printable(file, loc + (name,), getattr(f, name))
    for i, opt in enumerate(f.options or ()):
        _check_printable(file, loc + ("options", i, "label"), opt.label)
    update: dict[str, Any] = {"multiple": bool(f.multiple)}
    if f.role is not None:
        fits = f.kind in ("choice", "digits") if f.role == "duration" else (f.kind == "choice" and not f.multiple)
        if not fits:
            wanted = "a choice or digits field (minutes)" if f.role == "duration" else "a choice of one option"
            raise _fail(file, loc + ("role",), f"role '{f.role}' is for {wanted}, not this {f.kind} field")
        if f.privacy != "progress":
            raise _fail(file, loc + ("role",), "a private field never enters a progress note, so it takes no role")
    if f.kind == "choice":
        if not f.options or len(f.options) < 2:
            raise _fail(file, loc + ("options",), "a choice field needs at least two options (one box is a checkbox)")
        seen: dict[str, int] = {}
        for i, opt in enumerate(f.options):
            if opt.value in seen:
                raise _fail(file, loc + ("options", i), f"option value '{opt.value}' repeats option {seen[opt.value]} "
                            "(a value is made from the label's first 24 letters: give each option its own 'value')")
            seen[opt.value] = i
    elif f.kind == "scale":
        lo, hi = (0 if f.min is None else f.min), (10 if f.max is None else f.max)
        if lo >= hi:
            raise _fail(file, loc + ("min",), f"min ({lo}) must be less than max ({hi})")
        if lo < 0 or hi - lo + 1 > MAX_SCALE_POINTS:
            raise _fail(file, loc + ("max",), f"a scale runs from 0 or more over at most {MAX_SCALE_POINTS} points")
        update.update(min=lo, max=hi)
    elif f.kind == "digits":
        if f.cells is None:
            raise _fail(file, loc + ("cells",), "a digits field needs 'cells' (how many digits)")
        if not 1 <= f.cells <= MAX_CELLS:
            raise _fail(file, loc + ("cells",), f"cells must be 1 to {MAX_CELLS}, not {f.cells}")
        # An optional plausible range (e.g. PHQ-9 0-27): a value outside it is read with low confidence.
        if f.min is not None and f.max is not None and f.min >= f.max:
            raise _fail(file, loc + ("min",), f"min ({f.min}) must be less than max ({f.max})")
        if f.min is not None and f.min < 0:
            raise _fail(file, loc + ("min",), f"digits are written without a sign: min must be 0 or more, not {f.min}")
        if f.max is not None and f.max >= 10 ** f.cells:
            raise _fail(file, loc + ("max",), f"max ({f.max}) needs {len(str(f.max))} digits but the field has "
                        f"{f.cells} cell{'s' * (f.cells != 1)}")
    elif f.kind == "text":
        lines = 3 if f.lines is None else f.lines
        if not 1 <= lines <= MAX_LINES:
            raise _fail(file, loc + ("lines",), f"lines must be 1 to {MAX_LINES}, not {lines}")
        update["lines"] = lines
    if f.privacy == "progress":
        _check_sections(file, loc + ("sections",), f.sections)
    elif f.sections is not None:
        raise _fail(file, loc + ("sections",), "a private field never enters a progress note, so it takes no sections")
    return f.model_copy(update=update)


def _check_printable(file: str | None, loc: tuple, text: str | None) -> None:
    """Refuse text the form's font cannot draw (the standard PDF fonts: Windows-1252 only)."""
    try:
        (text or "").encode("cp1252")
    except UnicodeEncodeError as exc:
        raise _fail(file, loc, f"'{exc.object[exc.start]}' cannot be printed by the form's font (Western European "
                    "letters, digits and punctuation only); write it another way") from None


def _check_sections(file: str | None, loc: tuple, sections: dict[str, str] | None) -> None:
    if sections is None:
        raise _fail(file, loc, "a progress field must map to a section of each note format, e.g. {soap: S, birp: B, dap: D}")
    for fmt in sections:
        if fmt not in SECTION_LETTERS:
            raise _fail(file, loc + (fmt,), f"unknown note format (use {', '.join(SECTION_LETTERS)})")
    for fmt, letters in SECTION_LETTERS.items():
        if fmt not in sections:
            raise _fail(file, loc, f"missing '{fmt}': a progress field names its section in SOAP, BIRP and DAP")
        if sections[fmt] not in letters:
            raise _fail(file, loc + (fmt,), f"must be one of {', '.join(letters)}, not {sections[fmt]!r}")


def _check_rules(t: Template, file: str | None) -> Template:
    """Rules across keys: page numbers, marker ids, duplicate field keys, per-kind attributes."""
    if not 1 <= t.version <= 999:  # the QR payload carries up to three digits
        raise _fail(file, ("version",), f"version must be 1 to 999, not {t.version}")
    _check_printable(file, ("title",), t.title)
    if not 1 <= len(t.pages) <= MAX_PAGES:
        raise _fail(file, ("pages",), f"a template has 1 to {MAX_PAGES} pages, not {len(t.pages)}")
    used_markers: dict[int, int] = {}
    keys: dict[str, str] = {}
    pages = []
    for pi, page in enumerate(t.pages):
        ploc = ("pages", pi)
        if page.number is not None and page.number != pi + 1:
            raise _fail(file, ploc + ("number",), f"pages are numbered in order: expected {pi + 1}, not {page.number}")
        m = page.markers
        if len(m) != 4 or len(set(m)) != 4 or any(i not in MARKER_IDS for i in m):
            raise _fail(file, ploc + ("markers",), f"need four different ArUco ids from 0 to 49 (tl, tr, br, bl), not {list(m)}")
        for mid in m:
            if mid in used_markers:
                raise _fail(file, ploc + ("markers",), f"marker id {mid} is already used on page {used_markers[mid]}")
            used_markers[mid] = pi + 1
        if not page.fields:
            raise _fail(file, ploc + ("fields",), "a page needs at least one field")
        if len(page.fields) > MAX_FIELDS:
            raise _fail(file, ploc + ("fields",), f"a page holds at most {MAX_FIELDS} fields, not {len(page.fields)}")
        _check_printable(file, ploc + ("title",), page.title)
        fields = []
        for fi, f in enumerate(page.fields):
            floc = ploc + ("fields", fi)
            if f.key in keys:
                raise _fail(file, floc + ("key",), f"duplicate field key '{f.key}' (first used at {keys[f.key]})")
            keys[f.key] = _key_path(floc)
            fields.append(_check_field(file, floc, f))
        pages.append(page.model_copy(update={"number": pi + 1, "fields": tuple(fields)}))
    return t.model_copy(update={"pages": tuple(pages), "source": file})


def template_from_data(data: Any, file: str | None = None) -> Template:
    """Validate already-parsed template data (a dict); raises TemplateError."""
    if not isinstance(data, dict):
        raise TemplateError(file, "", "the file must hold one template: a mapping with name, code, version, title and pages")
    if "source" in data:
        raise TemplateError(file, "source", f"unknown key (allowed here: {', '.join(_ALLOWED_KEYS['template'])})")
    try:
        t = Template.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        problem = _problem(first)
        if len(errors) > 1:
            problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise TemplateError(file, _key_path(first["loc"]), problem) from None
    return _check_rules(t, file)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, size: int) -> Template:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(path, "", "the file is not UTF-8 text") from exc
    return template_from_data(parse_text(text, p), path)


def load_template(path: str | Path) -> Template:
    """Load and validate one template file (YAML or JSON); raises TemplateError."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise TemplateError(str(p), "", f"cannot read the file ({exc.strerror or exc})") from exc
    if not p.is_file():
        raise TemplateError(str(p), "", "not a file")
    if p.suffix.lower() not in TEMPLATE_SUFFIXES:
        raise TemplateError(str(p), "", f"a template file ends in {', '.join(TEMPLATE_SUFFIXES)}")
    return _load_cached(str(p), st.st_mtime_ns, st.st_size)


def _files_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in TEMPLATE_SUFFIXES and p.is_file())


def check_clashes(templates: list[Template]) -> None:
    """Names, codes and marker ids must be unique across templates; the later file is blamed."""
    names: dict[str, Template] = {}
    codes: dict[str, Template] = {}
    markers: dict[int, tuple[Template, int]] = {}
    for t in templates:
        if t.name in names:
            raise TemplateError(t.source, "name", f"the name '{t.name}' is already used by {names[t.name].source}")
        if t.code in codes:
            raise TemplateError(t.source, "code", f"the code '{t.code}' is already used by template '{codes[t.code].name}'")
        names[t.name] = codes[t.code] = t
        for pi, page in enumerate(t.pages):
            for mid in page.markers:
                if mid in markers:
                    other, pno = markers[mid]
                    raise TemplateError(
                        t.source,
                        f"pages[{pi}].markers",
                        f"marker id {mid} is already used by template '{other.name}' page {pno}; pick ids no other template uses",
                    )
                assert page.number is not None  # validated templates number their pages
                markers[mid] = (t, page.number)


def list_templates(extra_dirs: Iterable[str | Path] = (), problems: list[TemplateError] | None = None) -> list[Template]:
    """Built-in templates, then those in ``extra_dirs``; all validated and checked for clashes.

    A file in ``extra_dirs`` that cannot be loaded, or that clashes with one
    before it (name, code or marker ids), is left out, so that one broken
    file of the user's does not stop every other form; its error is appended
    to ``problems`` (see :func:`template_problems`). Built-in templates are
    always loaded strictly.
    """
    templates = [load_template(f) for f in _files_in(BUILTIN_DIR)]
    check_clashes(templates)
    for d in extra_dirs:
        for f in _files_in(Path(d)):
            try:
                t = load_template(f)
                check_clashes(templates + [t])
            except TemplateError as exc:
                if problems is not None:
                    problems.append(exc)
                continue
            templates.append(t)
    return templates


def template_problems(extra_dirs: Iterable[str | Path] = ()) -> list[TemplateError]:
    """Why each file of ``extra_dirs`` that :func:`list_templates` leaves out is left out."""
    problems: list[TemplateError] = []
    list_templates(extra_dirs, problems)
    return problems


def get_template(name_or_path: str | Path, extra_dirs: Iterable[str | Path] = ()) -> Template:
    """A template by name (built-in or from ``extra_dirs``) or by file path; raises TemplateError.

    A file path is loaded strictly and must not clash with the templates known.
    """
    extra_dirs = list(extra_dirs)
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.lower().endswith(TEMPLATE_SUFFIXES) or "/" in text:
        t = load_template(name_or_path)
        assert t.source is not None  # loaded from a file
        here = Path(t.source).resolve()
        others = [o for o in list_templates(extra_dirs) if o.source is None or Path(o.source).resolve() != here]
        check_clashes(others + [t])
        return t
    problems: list[TemplateError] = []
    templates = list_templates(extra_dirs, problems)
    for t in templates:
        if t.name == text:
            return t
    known = ", ".join(t.name for t in templates)
    left_out = "".join(f"; left out until fixed: {p}" for p in problems)  # the one asked for may be among them
    raise TemplateNotFound(None, "", f"no template is named '{text}' (known: {known}){left_out.rstrip('.')}")


def marker_index(templates: Iterable[Template]) -> dict[int, tuple[str, int, str]]:
    """Every marker id in use -> (template name, page number, corner 'tl'|'tr'|'br'|'bl')."""
    out: dict[int, tuple[str, int, str]] = {}
    for t in templates:
        for page in t.pages:
            assert page.number is not None  # validated templates number their pages
            for corner, mid in zip(CORNERS, page.markers):
                out[mid] = (t.name, page.number, corner)
    return out
