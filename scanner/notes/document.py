"""One document renderer (Markdown, plain text, PDF) for progress notes and treatment summaries.

A :class:`Document` is what both say, without a format: a title, header facts,
short notes under them, sections of paragraphs (a group of paragraphs may carry
a chart and stays on one PDF page), closing lines (the signature) and sections
after them (addenda of a signed note). :func:`to_md`, :func:`to_txt` and
:func:`to_pdf` write it; what was handwritten is escaped for each format here,
so no caller escapes anything except where it says so (:attr:`Para.md`).

The PDF is uncompressed and invariant: its text stays inspectable (tests grep
the raw bytes) and the same document gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner import outfile
from scanner.errors import UsageError

__all__ = ["Document", "Group", "Para", "Section", "appendix", "md_escape", "pdf_fonts", "to_md", "to_pdf", "to_txt"]


@dataclass(frozen=True)
class Para:
    """One paragraph, in plain words.

    ``bullet`` makes it a Markdown list item (``level`` 1 is nested under the
    one before); ``small`` prints it small in the PDF. ``md`` / ``pdf`` replace
    the escaped text in that format (already escaped or marked up by the
    caller). ``only`` is "pdf" for a paragraph only the PDF prints, "text" for
    one only Markdown and plain text print. ``breaks`` keeps the text's line
    breaks in the PDF.
    """

    text: str
    bullet: bool = False
    level: int = 0
    small: bool = False
    breaks: bool = False
    md: str | None = None
    pdf: str | None = None
    only: str = ""


@dataclass(frozen=True)
class Group:
    """Paragraphs kept together on one PDF page, with an optional chart after them."""

    paras: tuple[Para, ...]
    chart: Callable[[], Any] | None = None  # makes a reportlab Drawing (only the PDF asks)


Block = Para | Group


@dataclass(frozen=True)
class Section:
    """A heading and its blocks; ``shout`` upper-cases the heading in plain text."""

    title: str
    blocks: tuple[Block, ...]
    shout: bool = True


@dataclass(frozen=True)
class Document:
    title: str
    facts: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()  # under the facts: what the reader must know
    closing: tuple[Para, ...] = ()  # the signature lines
    closing_space_mm: float = 6.0  # room above the closing lines in the PDF
    after: tuple[Section, ...] = ()  # after the closing lines (addenda)

    def texts(self) -> list[str]:
        """Every string the document prints (to choose a font that has all their letters)."""
        out = [self.title, *(v for _k, v in self.facts), *self.notes]
        for s in (*self.sections, *self.after):
            out.append(s.title)
            out += [p.text for p in _paras(s.blocks)]
        return out + [p.text for p in self.closing]


def _paras(blocks: Iterable[Block]) -> list[Para]:
    return [p for b in blocks for p in (b.paras if isinstance(b, Group) else (b,))]


def md_escape(text: str) -> str:
    """Handwritten text may hold '*', '_' or '#'; in Markdown they must stay literal."""
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", str(text))


# ---------------------------------------------------------------- Markdown and text


def _md_para(p: Para) -> str:
    text = p.md if p.md is not None else md_escape(p.text)
    if p.bullet:
        return "  " * p.level + "- " + text
    return text


def _md_sections(sections: Iterable[Section]) -> list[str]:
    lines: list[str] = []
    for s in sections:
        lines += ["", f"## {md_escape(s.title)}", ""]
        lines += [_md_para(p) for p in _paras(s.blocks) if p.only != "pdf"]
    return lines


def _txt_sections(sections: Iterable[Section]) -> list[str]:
    lines: list[str] = []
    for s in sections:
        lines += ["", f"{s.title.upper() if s.shout else s.title}:"]
        lines += ["  " * p.level + ("- " if p.bullet else "") + p.text for p in _paras(s.blocks) if p.only != "pdf"]
    return lines


def appendix(sections: Iterable[Section], kind: str) -> str:
    """Sections after a document already written (a signed note's addenda) in ``md`` or ``txt``."""
    lines = _md_sections(sections) if kind == "md" else _txt_sections(sections)
    return ("\n".join(lines) + "\n") if lines else ""


def to_md(doc: Document) -> str:
    """The document in Markdown (closing lines end in two spaces: hard line breaks)."""
    lines = [f"# {md_escape(doc.title)}", ""]
    lines += [f"- **{k}:** {md_escape(v)}" for k, v in doc.facts]
    if doc.notes:
        lines += ["", *(f"_{md_escape(n)}_" for n in doc.notes)]
    lines += _md_sections(doc.sections)
    closing = [p for p in doc.closing if p.only != "pdf"]
    if closing:
        lines += [""] + [(p.md if p.md is not None else md_escape(p.text)) + "  " for p in closing]
    return "\n".join(lines).rstrip() + "\n" + appendix(doc.after, "md")


def to_txt(doc: Document) -> str:
    """The document as plain text, to paste into an EHR."""
    lines = [doc.title.upper(), ""]
    lines += [f"{k}: {v}" for k, v in doc.facts]
    if doc.notes:
        lines += ["", *doc.notes]
    lines += _txt_sections(doc.sections)
    closing = [p.text for p in doc.closing if p.only != "pdf"]
    if closing:
        lines += [""] + closing
    return "\n".join(lines) + "\n" + appendix(doc.after, "txt")


# ---------------------------------------------------------------- PDF


def to_pdf(doc: Document) -> bytes:
    """A one-file PDF: title, header facts, notes, sections, closing lines, then the sections after."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    font, bold = pdf_fonts(" ".join(doc.texts()))
    styles = getSampleStyleSheet()
    body = styles["BodyText"].clone("doc-body", fontName=font, fontSize=10.5, leading=14)
    head = styles["Heading2"].clone("doc-head", fontName=bold, fontSize=12, spaceBefore=8, spaceAfter=3)
    title = styles["Title"].clone("doc-title", fontName=bold, fontSize=15, alignment=0)
    small = body.clone("doc-small", fontSize=8.5, leading=11)

    def para(p: Para) -> Any:
        text = p.pdf if p.pdf is not None else escape(p.text)
        return Paragraph(text.replace("\n", "<br/>") if p.breaks else text, small if p.small else body)

    def sections(items: Iterable[Section]) -> list[Any]:
        out: list[Any] = []
        for s in items:
            out.append(Paragraph(escape(s.title), head))
            for b in s.blocks:
                if isinstance(b, Group):
                    flow = [para(p) for p in b.paras if p.only != "text"]
                    out.append(KeepTogether(flow + ([b.chart()] if b.chart is not None else [])))
                elif b.only != "text":
                    out.append(para(b))
        return out

    story: list[Any] = [Paragraph(escape(doc.title), title)]
    facts = Table([[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(v), body)] for k, v in doc.facts],
                  colWidths=[28 * mm, 140 * mm])
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    story.append(facts)
    if doc.notes:
        story += [Spacer(1, 2 * mm), *(Paragraph(escape(n), small) for n in doc.notes), Spacer(1, 2 * mm)]
    else:
        story.append(Spacer(1, 4 * mm))
    story += sections(doc.sections)
    if doc.closing:
        story += [Spacer(1, doc.closing_space_mm * mm), *(para(p) for p in doc.closing if p.only != "text")]
    story += sections(doc.after)
    buf = io.BytesIO()
    pdf = SimpleDocTemplate(buf, pagesize=letter, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=doc.title, author="", subject="", creator="Inklock",
                            pageCompression=0, invariant=1)
    pdf.build(story)
    return buf.getvalue()


def pdf_fonts(text: str) -> tuple[str, str]:
    """Helvetica when every character fits it, else DejaVu Sans (handwritten text may hold any letter)."""
    try:
        text.encode("cp1252")
        return "Helvetica", "Helvetica-Bold"
    except UnicodeEncodeError:
        pass
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = Path("/usr/share/fonts/truetype/dejavu")
    regular, heavy = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and heavy.is_file()):
        return "Helvetica", "Helvetica-Bold"
    if "InklockSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("InklockSans", str(regular)))
        pdfmetrics.registerFont(TTFont("InklockSans-Bold", str(heavy)))
    return "InklockSans", "InklockSans-Bold"


def output_kind(out_path: str | Path, kinds: Iterable[str], what: str) -> str:
    """The file type of an output name (``.markdown`` is md, ``.text`` txt); UsageError if ``kinds`` lacks it."""
    kinds = list(kinds)
    kind = Path(out_path).suffix.lower().lstrip(".")
    kind = {"markdown": "md", "text": "txt"}.get(kind, kind)
    if kind not in kinds:
        names = ", ".join(f".{k}" for k in kinds[:-1]) + f" or .{kinds[-1]}" if len(kinds) > 1 else f".{kinds[0]}"
        raise UsageError(f"Cannot tell the {what}'s file type from '{Path(out_path).name}'; name it {names}.")
    return kind


def check_output(out_path: Path, kind: str) -> None:
    """Refuse an output path before anything is built: a missing folder, a folder, a link, pipe or device."""
    if not out_path.parent.is_dir():
        raise UsageError(f"The folder {out_path.parent} does not exist.")
    if out_path.is_dir():
        raise UsageError(f"{out_path} is a folder; give a file name ending in .{kind}.")
    outfile.check_target(out_path)  # a link, pipe or device is refused, never replaced
