"""Flow a page's fields into its content area: headings, rows, one or two columns.

Authors write no coordinates. Consecutive fields with the same ``group`` sit
under one heading; two consecutive ``width: half`` fields share a row. Tick,
scale, digit and line fields have their label in a left column aligned across
the page; text areas have their label above. Printed labels always lie outside
a field's bbox, so a crop of the bbox holds only the writing and light guides.
"""

from __future__ import annotations

from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth

from forms.boxes import FONT, FONT_BOLD, FONT_ITALIC, MM, FieldBox, PageLayout, Text
from forms.errors import TemplateError
from forms.model import Field, Page

TICK = 5.3 * MM  # tick box side (>= 5 mm)
BUBBLE = 5.3 * MM  # scale bubble diameter
SCALE_SLOT = BUBBLE + 9.0  # bubble pitch
CELL_W, CELL_H, CELL_GAP = 7 * MM, 9 * MM, 3.0
LINE_H = 10 * MM  # one handwritten line
PITCH = 9 * MM  # ruled lines of a text area
RULE_DROP = 5.0  # rule sits this far above the bottom of its line box (room for descenders)
CARRY_H, CARRY_GAP = 24.0, 3.0
OPT_TEXT_GAP, OPT_GAP, OPT_ROW_GAP = 3.0, 9.0, 5.0
NUM_H = 9.0  # numbers under scale bubbles
LABEL_SIZE, OPT_SIZE, HELP_SIZE, HEAD_SIZE = 9.0, 8.0, 7.0, 10.5
LABEL_LEAD = 10.5
HEAD_H = 15.5
ROW_GAP = 6.0
HEAD_GAP = 4.0  # extra space above a heading
GUTTER = 18.0
LABEL_PAD = 8.0
TEXT_LABEL_H = 13.0

_LABEL_LEFT = {"checkbox", "choice", "scale", "digits", "line"}


def _split(text: str, font: str, size: float, room: float) -> list[str]:
    """Lines of ``text`` at most ``room`` wide: at spaces, and a word longer than a line broken with a hyphen."""
    out = []
    for line in simpleSplit(text, font, size, room):
        while len(line) > 1 and stringWidth(line, font, size) > room:
            n = len(line) - 1
            while n > 1 and stringWidth(line[:n] + "-", font, size) > room:
                n -= 1
            out.append(line[:n] + "-")
            line = line[n:]
        out.append(line)
    return out


def _label_left(f: Field) -> bool:
    # A half-width text area needs all of its column, so its label goes above.
    return f.kind in _LABEL_LEFT or (f.kind == "text" and f.width == "full")


class _Flow:
    def __init__(self, pl: PageLayout, page: Page, index: int, file: str | None, page_size: str):
        self.pl, self.page, self.index, self.file, self.page_size = pl, page, index, file, page_size
        self.x0, self.top, self.x1, self.bottom = pl.content
        self.half_w = (self.x1 - self.x0 - GUTTER) / 2
        self.rows = self._rows()
        self.label_w = self._label_columns()

    def fail(self, fi: int | None, problem: str) -> TemplateError:
        path = f"pages[{self.index}]" + (f".fields[{fi}]" if fi is not None else "")
        return TemplateError(self.file, path, problem)

    def _rows(self) -> list[list[tuple[int, Field, str]]]:
        """Fields in rows: a full-width field alone, or up to two half-width fields of one group."""
        fields = list(enumerate(self.page.fields))
        rows, i = [], 0
        while i < len(fields):
            fi, f = fields[i]
            if f.width == "half" and i + 1 < len(fields):
                nfi, nf = fields[i + 1]
                if nf.width == "half" and nf.group == f.group:
                    rows.append([(fi, f, "left"), (nfi, nf, "right")])
                    i += 2
                    continue
            rows.append([(fi, f, "left" if f.width == "half" else "full")])
            i += 1
        return rows

    def _label_columns(self) -> dict[str, float]:
        """Label column widths: as wide as the longest label (capped), shared by full rows and
        left halves so their boxes line up down the page; right halves have their own."""

        def need(pos: str) -> float:
            widths = [stringWidth(f.label, FONT_BOLD, LABEL_SIZE) + LABEL_PAD
                      for row in self.rows for _fi, f, p in row if p == pos and _label_left(f)]
            return max(widths, default=0.0)

        common = max(need("full"), need("left"))
        return {
            "full": min(common, 0.3 * (self.x1 - self.x0)),
            "left": min(common, 0.4 * self.half_w),
            "right": min(need("right"), 0.4 * self.half_w),
        }

    def text(self, *args, **kw) -> None:
        self.pl.texts.append(Text(*args, **kw))

    # ---------------------------------------------------------- rows

    def run(self) -> None:
        y = self.top
        group = None
        cols = {"full": (self.x0, self.x1), "left": (self.x0, self.x0 + self.half_w), "right": (self.x1 - self.half_w, self.x1)}
        for row in self.rows:
            f = row[0][1]
            if f.group and f.group != group:
                y += HEAD_GAP if y > self.top else 0
                self.text(self.x0, y + HEAD_SIZE, f.group, FONT_BOLD, HEAD_SIZE, 0.0)
                self.pl.rules.append((self.x0, y + HEAD_SIZE + 3.5, self.x1))
                y += HEAD_H
            group = f.group
            heights = [self.place(fi, rf, *cols[pos], y, self.label_w[pos]) for fi, rf, pos in row]
            y += max(heights) + ROW_GAP
        need = y - ROW_GAP - self.top
        if y - ROW_GAP > self.bottom + 0.01:
            raise self.fail(
                None,
                f"the fields need {need:.0f} pt of height but a {self.page_size} page has "
                f"{self.bottom - self.top:.0f} pt; use fewer text lines, fewer options or put fields side by side (width: half)",
            )

    # ---------------------------------------------------------- one field

    def place(self, fi: int, f: Field, cx0: float, cx1: float, y: float, lw: float) -> float:
        """Place field ``f`` in column [cx0, cx1] from ``y`` with a label column ``lw`` wide; returns the height used."""
        if not _label_left(f):
            return self.place_text(fi, f, cx0, cx1, y)
        vx0 = cx0 + lw
        top = y
        carry = None
        if f.carry_forward:
            carry = (vx0, y, cx1, y + CARRY_H)
            y += CARRY_H + CARRY_GAP
        kind = "text_left" if f.kind == "text" else f.kind
        fb, h, label_mid = getattr(self, f"place_{kind}")(fi, f, vx0, cx1, y)
        fb.carry_bbox = carry
        if carry is not None:
            label_mid = carry[1] + 6  # the label heads the whole block, carry box included
        label_h = self.label(f, cx0, lw, label_mid)
        self.pl.fields.append(fb)
        return max(y + h, label_h) - top

    def label(self, f: Field, x: float, width: float, mid: float) -> float:
        """Label lines (and help) left of the value; first line centred on ``mid``; returns bottom y."""
        lines = _split(f.label, FONT_BOLD, LABEL_SIZE, width - LABEL_PAD) or [f.label]
        base = mid + 3.2
        for n, s in enumerate(lines):
            self.text(x, base + n * LABEL_LEAD, s, FONT_BOLD, LABEL_SIZE, 0.08)
        bottom = base + (len(lines) - 1) * LABEL_LEAD + 3
        if f.help:
            for s in _split(f.help, FONT_ITALIC, HELP_SIZE, width - LABEL_PAD)[:2]:
                bottom += HELP_SIZE + 1.5
                self.text(x, bottom, s, FONT_ITALIC, HELP_SIZE, 0.35)
            bottom += 2.5
        return bottom

    def place_checkbox(self, fi, f, vx0, vx1, y):
        box = (vx0, y, vx0 + TICK, y + TICK)
        return FieldBox(f, box, options=[("yes", box)]), TICK, y + TICK / 2

    def place_choice(self, fi, f, vx0, vx1, y):
        avail = vx1 - vx0
        widths = [TICK + OPT_TEXT_GAP + stringWidth(o.label, FONT, OPT_SIZE) for o in f.options]
        # As many columns as fit, each as wide as its widest option: one row when
        # possible, else a tidy table whose boxes line up from row to row.
        n = len(widths)
        for per_row in range(n, 0, -1):
            cols = [max(widths[j::per_row]) for j in range(per_row)]
            if sum(cols) + OPT_GAP * (per_row - 1) <= avail:
                break
        else:
            raise self.fail(fi, f"the option labels are too long for a {f.width}-width column; shorten them")
        starts = [vx0 + sum(cols[:j]) + OPT_GAP * j for j in range(per_row)]
        xs = [(starts[k % per_row], k // per_row) for k in range(n)]
        options, right = [], vx0
        for o, w, (x, row) in zip(f.options, widths, xs):
            by = y + row * (TICK + OPT_ROW_GAP)
            box = (x, by, x + TICK, by + TICK)
            options.append((o.value, box))
            self.text(box[2] + OPT_TEXT_GAP, by + TICK / 2 + 2.8, o.label, FONT, OPT_SIZE, 0.1)
            right = max(right, x + w)
        rows = xs[-1][1] + 1
        h = rows * TICK + (rows - 1) * OPT_ROW_GAP
        return FieldBox(f, (vx0, y, right, y + h), options=options), h, y + TICK / 2

    def place_scale(self, fi, f, vx0, vx1, y):
        n = f.max - f.min + 1
        need = (n - 1) * SCALE_SLOT + BUBBLE
        if need > vx1 - vx0:
            raise self.fail(fi, f"{n} bubbles need {need:.0f} pt but the {f.width}-width column has {vx1 - vx0:.0f} pt")
        options = []
        for k in range(n):
            x = vx0 + k * SCALE_SLOT
            box = (x, y, x + BUBBLE, y + BUBBLE)
            options.append((str(f.min + k), box))
            self.text(x + BUBBLE / 2, y + BUBBLE + 7.5, str(f.min + k), FONT, 7.0, 0.15, "centre")
        return FieldBox(f, (vx0, y, options[-1][1][2], y + BUBBLE), options=options), BUBBLE + NUM_H, y + BUBBLE / 2

    def place_digits(self, fi, f, vx0, vx1, y):
        need = f.cells * CELL_W + (f.cells - 1) * CELL_GAP
        if need > vx1 - vx0:
            raise self.fail(fi, f"{f.cells} digit cells need {need:.0f} pt but the column has {vx1 - vx0:.0f} pt")
        cells = [(vx0 + k * (CELL_W + CELL_GAP), y, vx0 + k * (CELL_W + CELL_GAP) + CELL_W, y + CELL_H) for k in range(f.cells)]
        return FieldBox(f, (vx0, y, cells[-1][2], y + CELL_H), cells=cells), CELL_H, y + CELL_H / 2

    def place_line(self, fi, f, vx0, vx1, y):
        box = (vx0, y, vx1, y + LINE_H)
        rule = box[3] - RULE_DROP
        # The label's baseline sits on the writing rule, as on a paper form.
        return FieldBox(f, box, lines=[box], rules=[rule]), LINE_H, rule - 3.2

    def place_text_left(self, fi, f, vx0, vx1, y):
        lines = [(vx0, y + k * PITCH, vx1, y + (k + 1) * PITCH) for k in range(f.lines)]
        rules = [b[3] - RULE_DROP for b in lines]
        fb = FieldBox(f, (vx0, y, vx1, lines[-1][3]), lines=lines, rules=rules)
        return fb, lines[-1][3] - y, rules[0] - 3.2

    def place_text(self, fi: int, f: Field, cx0: float, cx1: float, y: float) -> float:
        top = y
        self.text(cx0, y + 9, f.label, FONT_BOLD, LABEL_SIZE, 0.08)
        if f.help:
            hx = cx0 + stringWidth(f.label, FONT_BOLD, LABEL_SIZE) + 6
            room = cx1 - hx
            helps = _split(f.help, FONT_ITALIC, HELP_SIZE, room) if room > 40 else []
            if helps:
                self.text(hx, y + 9, helps[0] + ("…" if len(helps) > 1 else ""), FONT_ITALIC, HELP_SIZE, 0.35)
        y += TEXT_LABEL_H
        carry = None
        if f.carry_forward:
            carry = (cx0, y, cx1, y + CARRY_H)
            y += CARRY_H + CARRY_GAP
        assert f.lines is not None  # validated line and text fields have a line count
        lines = [(cx0, y + k * PITCH, cx1, y + (k + 1) * PITCH) for k in range(f.lines)]
        box = (cx0, y, cx1, lines[-1][3])
        fb = FieldBox(f, box, lines=lines, rules=[b[3] - RULE_DROP for b in lines], carry_bbox=carry)
        self.pl.fields.append(fb)
        return box[3] - top


def flow_page(pl: PageLayout, page: Page, index: int, file: str | None, page_size: str) -> None:
    """Fill ``pl.fields``, ``pl.texts`` and ``pl.rules`` for ``page``; raises TemplateError if it does not fit."""
    _Flow(pl, page, index, file, page_size).run()
