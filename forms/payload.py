"""QR payload of a printed page: format, template code, version, sheet id, page, check.

``IL1:SES:1:K7Q2M9XP:2:C`` -- uppercase and ':' only, so it fits QR alphanumeric
mode. No health information: the sheet id is random and the vault maps it to
client and date. The check character (ISO 7064 MOD 37,36 over the code,
version, sheet id and page) catches any one wrong character and any swap of two
neighbours, so a misread QR is refused rather than filed on the wrong sheet.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from forms.errors import PayloadError

__all__ = ["FORMAT", "PayloadError", "SheetRef", "check_char", "decode", "encode", "new_sheet_id"]

FORMAT = "IL1"
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# A packet's PDF information (forms.render writes it): ingest refuses such a file, since a packet
# read as a scan would mark its sessions received with nothing written (scanner.ingest.pages).
PACKET_TITLE = "Inklock sheets"
PACKET_CREATOR = "Inklock"
# Sheet ids are read by people too (printed in clear text): leave out 0/O, 1/I/L, U/V.
SHEET_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
SHEET_ID_LENGTH = 8
_SHEET_ID = re.compile(r"^[0-9A-Z]{8}$")
_PAYLOAD = re.compile(r"^IL1:([A-Z]{3}):([1-9][0-9]{0,2}):([0-9A-Z]{8}):([1-9]):([0-9A-Z])$")


@dataclass(frozen=True)
class SheetRef:
    """What a page's QR code says: which template (code, version), which sheet, which page."""

    code: str
    version: int
    sheet_id: str
    page: int


def new_sheet_id() -> str:
    """A random 8-character sheet id (uppercase letters and digits people do not confuse)."""
    return "".join(secrets.choice(SHEET_ID_ALPHABET) for _ in range(SHEET_ID_LENGTH))


def check_char(body: str) -> str:
    """ISO 7064 MOD 37,36 check character over ``body`` (characters 0-9, A-Z)."""
    p = 36
    for ch in body:
        s = (p + _ALNUM.index(ch)) % 36 or 36
        p = (s * 2) % 37
    return _ALNUM[(37 - p) % 36]


def encode(code: str, version: int, sheet_id: str, page: int) -> str:
    """The payload for one page, e.g. ``IL1:SES:1:K7Q2M9XP:2:C``; raises PayloadError on bad parts."""
    if not re.fullmatch(r"[A-Z]{3}", code or ""):
        raise PayloadError(f"template code must be three uppercase letters, not {code!r}")
    if not isinstance(version, int) or not 1 <= version <= 999:
        raise PayloadError(f"template version must be 1 to 999, not {version!r}")
    if not _SHEET_ID.match(sheet_id or ""):
        raise PayloadError(f"sheet id must be 8 uppercase letters or digits, not {sheet_id!r}")
    if not isinstance(page, int) or not 1 <= page <= 9:
        raise PayloadError(f"page must be 1 to 9, not {page!r}")
    body = f"{code}{version}{sheet_id}{page}"
    return f"{FORMAT}:{code}:{version}:{sheet_id}:{page}:{check_char(body)}"


def decode(text: str) -> SheetRef:
    """Parse and verify a payload; raises PayloadError if malformed or the check character is wrong."""
    m = _PAYLOAD.match((text or "").strip())
    if not m:
        raise PayloadError(f"not an Inklock page code: {text!r}")
    code, version, sheet_id, page, check = m.groups()
    if check_char(f"{code}{version}{sheet_id}{page}") != check:
        raise PayloadError(f"the check character of {text!r} is wrong (misread code)")
    return SheetRef(code=code, version=int(version), sheet_id=sheet_id, page=int(page))
