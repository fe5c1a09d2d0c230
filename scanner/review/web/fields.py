"""What the session page shows of each field: pure functions over store rows and geometry.

Nothing here touches the vault or Flask, so ordering, suggestions and the
typed form of values are tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The doubt threshold (a read below it is shown first, and written kinds show the
# machine text as a suggestion beside an empty box), the kind groups and the
# typed form of values (as_text) are scanner.values'.
from scanner.values import HAND_KINDS, LOW_CONFIDENCE, WRITTEN_KINDS, as_text

# Flags that describe the read without casting doubt on it.
BENIGN_FLAGS = frozenset({"empty"})

FLAG_WORDS = {
    "low_confidence": "low confidence",
    "ambiguous_mark": "ambiguous mark",
    "multiple_marks": "several marks",
    "heavy_mark": "crossed out?",
    "poor_registration": "page poorly aligned",
    "low_resolution": "page scanned at low resolution",
    "qr_unread": "page known by its printed sheet id (its QR code could not be read)",
    "empty": "empty",
    "rescan_differs": "rescan differs",
    "rescan_reopened": "a rescan reads this risk answer otherwise than you confirmed: back for review",
    "implausible": "outside the allowed range",
    "range_corrected": "read outside the range; nearest likely value shown",
    "empty_cell": "a digit cell is empty",
    "risk": "risk answer",
    "cancelled_mark": "a box was scribbled out: the other mark was read",
    "reopened": "reopened: your earlier answer is shown",
    "conflict": "says the session did not take place, yet the sheet has session content",
}
# Flags on a value a check found wrong (outside the field's range), or a tick
# box blacked out (the sheet says that cancels a mark; some fill a box to mark
# it): never confirmed by one key as shown; the clinician types it or presses
# the key twice.
CHECK_FLAGS = frozenset({"implausible", "range_corrected", "heavy_mark"})
CHECK_WHY = {
    "heavy_mark": ("A box is blacked out: the sheet asks to scribble a box out to cancel a mark, yet some fill a "
                   "box to mark it. Look at the handwriting, then press the same key again to confirm it as "
                   "shown, or e to choose the right answer."),
}
RANGE_WHY = ("This value was flagged by a range check: look at the handwriting, then press the same key again "
             "to confirm it as shown, or e to type what is written.")


@dataclass
class FieldView:
    """One row of the session page."""

    id: int
    key: str
    kind: str
    privacy: str
    page: int
    order: int
    label: str
    help: str | None
    status: str
    confidence: float
    flags: list[str]
    attention: bool
    shown: Any  # the value the controls show (read value, or confirmed value)
    text: str  # the shown value as typed text (input box content)
    suggestion: str | None  # machine text offered beside an empty box
    options: list[dict[str, str]] = field(default_factory=list)
    multiple: bool = False
    bbox: tuple[float, ...] | None = None
    # "handwriting" when the suggestion comes from the clinician's confirmed words (scanner.hand.exemplars)
    suggestion_source: str = "ocr"
    suggestion_confidence: float | None = None
    # What the other handwriting reader made of it, when that differs (scanner.ingest.ocr)
    alternative: str | None = None
    # A risk-screen answer other than "none", or an unticked safety plan beside one (scanner.review.risk)
    risk: bool = False
    # The answer confirmed before a rescan read it otherwise (flag rescan_reopened), as words
    was_confirmed: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def kept(self) -> bool:
        """A private written field kept as its handwriting (unconfirmed, out of the queue)."""
        return self.status == "kept"

    @property
    def keepable(self) -> bool:
        return self.privacy == "private" and self.kind in HAND_KINDS and not self.confirmed

    @property
    def needs_check(self) -> bool:
        """A value a range check flagged, or a blacked-out box: one key does not confirm it as shown."""
        return any(f in CHECK_FLAGS for f in self.flags)

    @property
    def check_why(self) -> str:
        """What the first press of a confirming key says about such a value."""
        return next((CHECK_WHY[f] for f in self.flags if f in CHECK_WHY), RANGE_WHY)

    @property
    def flag_words(self) -> list[str]:
        words = [FLAG_WORDS.get(f, f.replace("_", " ")) for f in self.flags]
        if self.was_confirmed is not None and "rescan_reopened" in self.flags:
            words[self.flags.index("rescan_reopened")] = (f"a rescan reads this risk answer otherwise than you "
                                                          f"confirmed ({self.was_confirmed}): back for review")
        return words

    @property
    def crop_width(self) -> int | None:
        """Display width (CSS px) of the crop: large enough to read handwriting."""
        if not self.bbox:
            return None
        return round(min(760.0, max(220.0, (self.bbox[2] - self.bbox[0]) * 1.35)))


def needs_attention(confidence: float, flags: list[str]) -> bool:
    """Low confidence or any flag that casts doubt: reviewed first, one by one."""
    return confidence < LOW_CONFIDENCE or any(f not in BENIGN_FLAGS for f in flags)


def layout_fields(form: Any) -> dict[str, tuple[int, int, Any]]:
    """key -> (page number, position on the page, its ``forms.boxes.FieldBox``) from a ``forms.catalog.Form``."""
    out: dict[str, tuple[int, int, Any]] = {}
    for page in form.pages if form is not None else ():
        for i, fb in enumerate(page.fields):
            out[fb.field.key] = (page.number, i, fb)
    return out


def _options(kind: str, fb: Any, value: Any) -> list[dict[str, str]]:
    if kind == "scale":
        if fb is not None and fb.options:
            return [{"value": str(v), "label": str(v)} for v, _box in fb.options]
        lo = fb.field.min if fb is not None and fb.field.min is not None else 0
        hi = fb.field.max if fb is not None and fb.field.max is not None else 10
        return [{"value": str(v), "label": str(v)} for v in range(lo, hi + 1)]
    if kind == "choice":
        if fb is not None and fb.options:
            labels = {o.value: o.label for o in fb.field.options or ()}
            return [{"value": str(v), "label": str(labels.get(v, v))} for v, _box in fb.options]
        # No geometry: offer at least what was read so the value can be kept.
        values = value if isinstance(value, list) else ([value] if value else [])
        return [{"value": str(v), "label": str(v)} for v in values]
    return []


def wants_hand_suggestion(f: dict[str, Any]) -> bool:
    """Whether a field's read is doubtful handwriting that the clinician's own exemplars may read better."""
    return f["kind"] in HAND_KINDS and (f["confidence"] < LOW_CONFIDENCE or "low_confidence" in f["flags"])


def _hand(suggestion: dict[str, Any] | None) -> dict[str, Any] | None:
    """A suggestion from exemplars worth showing: at least one word came from a confirmed exemplar."""
    if not suggestion or not str(suggestion.get("text", "")).strip():
        return None
    return suggestion if any(w.get("source") == "exemplar" for w in suggestion.get("words", [])) else None


def build_views(fields: list[dict[str, Any]], layout: Any,
                hand: dict[int, dict[str, Any]] | None = None, risk: set[str] | frozenset[str] = frozenset(),
                conflicts: set[str] | frozenset[str] = frozenset()) -> list[FieldView]:
    """Rows for every field of a session, in review order (see :func:`review_order`).

    ``hand``: field id -> :func:`scanner.hand.exemplars.suggest` result. For a
    doubtful written field it replaces the OCR text as the suggestion, shown
    beside an empty box like any suggestion (never typed in for the clinician).
    ``risk``: keys of risk answers (:func:`scanner.review.risk.flagged_keys`): always
    for a closer look, first, never in a bulk confirmation. ``conflicts``: keys another
    answer contradicts (an attendance of "no-show" on a sheet with session content).
    """
    geo = layout_fields(layout)
    views = []
    for i, f in enumerate(fields):
        page, order, g = geo.get(f["key"], (f["page"], 1000 + i, None))
        confirmed = f["status"] == "confirmed"
        at_risk = f["key"] in risk
        reopened = not confirmed and bool(f.get("reopened"))
        conflict = not confirmed and f["key"] in conflicts
        # A reopened field offers back what the clinician had confirmed, not the old reading.
        shown = f["confirmed_value"] if confirmed else f["reopened_value"] if reopened else f["value"]
        text = as_text(f["kind"], shown)
        suggestion = None
        low = f["confidence"] < LOW_CONFIDENCE or "low_confidence" in f["flags"]
        if not confirmed and not reopened and f["kind"] in WRITTEN_KINDS and low and text.strip():
            # SPEC 6: a doubtful transcription is offered, not typed in for the clinician.
            suggestion, text = text, ""
        from_hand = (_hand((hand or {}).get(f["id"])) if not confirmed and not reopened and low
                     and f["kind"] in HAND_KINDS else None)
        if from_hand is not None:
            suggestion, text = from_hand["text"], ""
        alternative = (f.get("alternative") or "").strip() if suggestion is not None else ""
        views.append(FieldView(
            id=f["id"], key=f["key"], kind=f["kind"], privacy=f["privacy"], page=page, order=order,
            label=g.field.label if g is not None else f["key"].replace("_", " ").capitalize(),
            help=g.field.help if g is not None else None, status=f["status"], confidence=float(f["confidence"]),
            flags=(list(f["flags"]) + (["risk"] if at_risk else []) + (["reopened"] if reopened else [])
                   + (["conflict"] if conflict else [])),
            attention=at_risk or reopened or conflict or needs_attention(float(f["confidence"]), list(f["flags"])),
            shown=shown, text=text, suggestion=suggestion, options=_options(f["kind"], g, shown),
            multiple=bool(g is not None and g.field.multiple) or isinstance(shown, list),
            bbox=g.bbox if g is not None else None,
            suggestion_source="handwriting" if from_hand is not None else "ocr",
            suggestion_confidence=float(from_hand["confidence"]) if from_hand is not None else None,
            alternative=alternative if alternative and alternative != (suggestion or "").strip() else None,
            risk=at_risk,
            was_confirmed=_words(g, f.get("rescan_was")) if f.get("rescan_was") is not None else None,
        ))
    return review_order(views)


def _words(g, value: Any) -> str:
    """A stored choice answer as its printed labels ("with plan", not "with_plan")."""
    labels = {str(o.value): str(o.label) for o in (g.field.options or ())} if g is not None else {}
    values = value if isinstance(value, list) else [value]
    return ", ".join(labels.get(str(v), str(v).replace("_", " ")) for v in values) or "no answer"


def review_order(views: list[FieldView]) -> list[FieldView]:
    """Risk answers first, then doubtful fields (flagged or below 0.8), then by page and printed order."""
    return sorted(views, key=lambda v: (not v.risk, not v.attention, v.page, v.order))


def sections(views: list[FieldView], page_titles: dict[int, str]) -> list[dict[str, Any]]:
    """Group ordered rows into the sections the page shows (attention, then each page)."""
    out: list[dict[str, Any]] = []
    attention = [v for v in views if v.attention]
    if attention:
        out.append({"id": "attention", "title": "Needs a closer look", "bulk": False, "fields": attention,
                    "hint": "Risk answers, low confidence or flagged: confirm these one by one."})
    for page in sorted({v.page for v in views if not v.attention}):
        rows = [v for v in views if not v.attention and v.page == page]
        title = page_titles.get(page) or f"Page {page}"
        out.append({"id": f"page-{page}", "title": f"Page {page} \u2014 {title}", "bulk": True, "fields": rows,
                    "hint": "Read with confidence."})
    return out
