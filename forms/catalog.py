"""The catalog: a sheet's template plus its layout, looked up once and cached.

Every part of the scanner that needs "the form of this sheet" (the template and
where its boxes sit at the sheet's paper size) asks here. One lookup, one cache,
one error: whatever goes wrong (no such template, a broken template file, fields
that do not fit the paper) is :class:`forms.errors.FormUnavailable` with one
sentence.

The layout a :class:`Form` holds is rounded to 0.01 pt, exactly the numbers of
the geometry export (:func:`forms.geometry.layout`), so what the scanner reads is
what the export says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from forms.boxes import ExportView, FieldBox, PageLayout
from forms.errors import FormsError, FormUnavailable
from forms.geometry import PAGE_SIZES, page_layouts
from forms.model import Template, get_template, list_templates

__all__ = ["Form", "FormUnavailable", "all_forms", "fitting", "form", "laid_out", "template", "vault_template_dirs"]

_CACHE_MAX = 256


@dataclass(frozen=True, eq=False)
class Form(ExportView):
    """One template laid out at one paper size: its pages as typed :class:`PageLayout`.

    Also a read-only mapping of the geometry export (``form["pages"]``), a
    bridge for code that still reads the old dict.
    """

    template: Template
    page_size: str
    pages: tuple[PageLayout, ...]
    _by_key: dict[str, FieldBox] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update({fb.field.key: fb for pl in self.pages for fb in pl.fields})

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def size(self) -> tuple[float, float]:
        """The paper size in points (width, height)."""
        w, h = PAGE_SIZES[self.page_size]
        return w, h

    def page(self, number: int) -> PageLayout:
        """Page ``number`` (1-based; KeyError when the form has no such page)."""
        for pl in self.pages:
            if pl.number == number:
                return pl
        raise KeyError(number)

    def field(self, key: str) -> FieldBox | None:
        """Where field ``key`` sits (None when the form has no such field)."""
        return self._by_key.get(key)

    @property
    def fields(self) -> dict[str, FieldBox]:
        """Every field's box by key, in page order."""
        return dict(self._by_key)

    @cached_property
    def reading_digest(self) -> str:
        """A fingerprint of everything reading a printed sheet depends on (16 hex digits).

        Every field's key, kind, privacy, boxes, options, cells, lines and
        range, page by page, with the markers: what moves or changes meaning
        when a template is edited. Labels, help and titles are left out: a
        reworded label counts only where it moves a box. A sheet records it when printed,
        so that a page is never read against a template edited since.
        """
        wanted = ("key", "kind", "privacy", "bbox", "options", "multiple", "min", "max", "cells", "lines")
        pages = []
        for pl in self.pages:
            fields = [{k: v for k, v in fb.export().items() if k in wanted} for fb in pl.fields]
            for f in fields:
                for o in f.get("options", ()):
                    o.pop("label", None)
            pages.append({"number": pl.number, "privacy": pl.privacy, "markers": pl.export()["markers"],
                          "fields": fields})
        text = json.dumps({"page_size": self.page_size, "pages": pages}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def export(self) -> dict[str, Any]:
        """The geometry export (the same dict as :func:`forms.geometry.layout`)."""
        t = self.template
        w, h = PAGE_SIZES[self.page_size]
        return {
            "template": t.name, "code": t.code, "title": t.title, "version": t.version,
            "page_size": self.page_size, "page_size_pt": [w, h], "origin": "top-left",
            "pages": [pl.export() for pl in self.pages],
        }


_LAID: dict[tuple[int, str], Form] = {}


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _unavailable(exc: Exception) -> FormUnavailable:
    if isinstance(exc, OSError):
        return FormUnavailable(_sentence(f"The templates cannot be read ({exc.strerror or exc})"), exc)
    return FormUnavailable(_sentence(str(exc)), exc)


def template(name: str, template_dirs: Iterable[str | Path] = ()) -> Template:
    """The template named ``name`` (built-in or in ``template_dirs``), or a file path; FormUnavailable."""
    try:
        return get_template(name, list(template_dirs))
    except (FormsError, OSError) as exc:
        raise _unavailable(exc) from None


def laid_out(t: Template, page_size: str = "letter") -> Form:
    """``t`` laid out at ``page_size`` (cached while ``t`` is the same object); FormUnavailable."""
    key = (id(t), page_size)
    hit = _LAID.get(key)
    if hit is not None and hit.template is t:
        return hit
    try:
        pages = tuple(pl.rounded() for pl in page_layouts(t, page_size))
    except FormsError as exc:
        raise _unavailable(exc) from None
    if len(_LAID) >= _CACHE_MAX:
        _LAID.clear()
    out = _LAID[key] = Form(t, page_size, pages)
    return out


def form(name: str, page_size: str = "letter", template_dirs: Iterable[str | Path] = ()) -> Form:
    """The form of a sheet: template ``name`` laid out at ``page_size``; FormUnavailable.

    The template files are looked at each time (a template edited on disk is
    seen), the layout is computed once per template and paper size.
    """
    return laid_out(template(name, template_dirs), page_size)


def all_forms(template_dirs: Iterable[str | Path] = (), sizes: Iterable[str] = tuple(PAGE_SIZES)) -> list[Form]:
    """Every known template at every paper size in ``sizes`` it fits; FormUnavailable.

    A form too tall for one paper is left out on that paper only: printing
    refuses it there, so no sheet of it can be on that paper (a clinician's
    own form may fit A4 and not letter), and the other forms are read as ever.
    """
    try:
        templates = list_templates(list(template_dirs))
    except (FormsError, OSError) as exc:
        raise _unavailable(exc) from None
    return [f for t in templates for f in fitting(t, sizes)]


def fitting(t: Template, sizes: Iterable[str] = tuple(PAGE_SIZES)) -> list[Form]:
    """``t`` laid out at each paper size in ``sizes`` it fits (a form too tall for one is left out there)."""
    out = []
    for size in sizes:
        try:
            out.append(laid_out(t, size))
        except FormUnavailable:
            continue
    return out


def vault_template_dirs(vault_path: str | Path) -> list[Path]:
    """A vault's own templates: its ``templates/`` folder, when there is one."""
    folder = Path(vault_path) / "templates"
    return [folder] if folder.is_dir() else []
