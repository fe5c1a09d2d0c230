"""The paper recovery sheet printed at ``inklock init`` (ReportLab + segno).

The sheet carries the recovery code in clear text and as a QR code, and tells
the clinician to print it, keep it away from the computer and delete the PDF.
It is built in memory; the caller decides where the bytes go.
"""

from __future__ import annotations

import io
from datetime import date

import segno
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

INSTRUCTIONS = [
    "This code unlocks your Inklock vault if you forget the passphrase.",
    "1. Print this sheet now.",
    "2. Keep it somewhere safe and away from the computer (a locked drawer or a safe).",
    "3. Delete this PDF file from the computer once it is printed.",
    "",
    "To use it:  inklock passwd --recovery-code \"CODE\"  then choose a new passphrase.",
    "Anyone holding this sheet and a copy of the vault can read every note in it:",
    "treat it like the key to your filing cabinet.",
]


def recovery_sheet_pdf(code: str, vault_location: str, vault_id: str) -> bytes:
    """Render a one-page recovery sheet (US letter, fits A4) and return the PDF bytes."""
    buf = io.BytesIO()
    width, height = letter
    pdf = canvas.Canvas(buf, pagesize=letter, pageCompression=1)
    pdf.setTitle("Inklock recovery sheet")
    pdf.setAuthor("Inklock")
    margin = 20 * mm
    y = height - margin

    pdf.setFont("Helvetica-Bold", 20)
    pdf.drawString(margin, y - 20, "Inklock recovery sheet")
    pdf.setFont("Helvetica", 10)
    y -= 42
    pdf.drawString(margin, y, f"Vault: {vault_location}")
    y -= 14
    pdf.drawString(margin, y, f"Vault id: {vault_id}    Created: {date.today().isoformat()}")

    y -= 40
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(margin, y, "Recovery code")
    y -= 30
    pdf.setFont("Courier-Bold", 19)
    pdf.drawString(margin, y, code)

    qr_size = 60 * mm
    y -= 16 + qr_size
    _draw_qr(pdf, code, margin, y, qr_size)

    pdf.setFont("Helvetica", 11)
    text_y = y - 30
    for line in INSTRUCTIONS:
        pdf.drawString(margin, text_y, line)
        text_y -= 16
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _draw_qr(pdf: canvas.Canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw ``text`` as a QR code (vector squares) with its bottom-left corner at (x, y)."""
    qr = segno.make(text, error="m", micro=False)
    matrix = qr.matrix
    border = 4  # quiet zone, in modules
    module = size / (len(matrix) + 2 * border)
    pdf.setFillColorRGB(0, 0, 0)
    for row_index, row in enumerate(matrix):
        for col_index, dark in enumerate(row):
            if dark:
                pdf.rect(
                    x + (col_index + border) * module,
                    y + size - (row_index + border + 1) * module,
                    module,
                    module,
                    stroke=0,
                    fill=1,
                )
