"""Search filters (client, dates, field, privacy) as tags of the full-text index itself.

The tags are those :mod:`scanner.vault.searchindex` writes beside each
field's text; a filter becomes groups of tags that must all match, so no join
runs per match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from scanner.errors import UsageError
from scanner.vault import searchindex

PRIVACY = ("private", "progress")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_date(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise UsageError(f"--{name} '{text}' is not a date; write it as YYYY-MM-DD.") from None


@dataclass(frozen=True)
class Filters:
    """Which fields a search may return; validated on construction (UsageError)."""

    client: str | None = None
    since: str | None = None
    until: str | None = None
    field: str | None = None
    privacy: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _check_date("since", self.since))
        object.__setattr__(self, "until", _check_date("until", self.until))
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"--since {self.since} is after --until {self.until}; nothing could match.")
        if self.privacy is not None and self.privacy not in PRIVACY:
            raise UsageError(f"--privacy must be private or progress, not '{self.privacy}'.")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.client, self.since, self.until, self.field, self.privacy))

    def tags(self, number, bounds) -> list[list[str]] | None:
        """The filters as index tags (see ``scanner.vault.searchindex``): every group must match, any tag in a group.

        ``number(kind, value)`` is the vault's number for a client or field key
        (None if it has none); ``bounds()`` gives the vault's first and last
        session dates, to close an open date range. None when nothing can match.
        """
        groups = []
        for kind, mark, value in (("client", 1, self.client and _ascii_lower(self.client)), ("key", 2, self.field)):
            if value is not None:
                n = number(kind, value)
                if n is None:
                    return None
                groups.append([tag(mark, n)])
        if self.privacy is not None:
            groups.append([tag(3, 1 if self.privacy == "private" else 2)])
        if self.since is not None or self.until is not None:
            first, last = bounds() if self.since is None or self.until is None else (None, None)
            start, end = self.since or first, self.until or last
            if not start or not end or start > end:
                return None
            groups.append(date_tags(date.fromisoformat(start), date.fromisoformat(end)))
        return groups


def tag(kind: int, number: int) -> str:
    """One index tag: a kind mark and a two-digit number, as ``scanner.vault.searchindex`` writes them."""
    hi, lo = divmod(number, searchindex.TAG_BASE)
    return chr(searchindex.TAG_MARK + kind) + chr(searchindex.TAG_DIGIT + hi) + chr(searchindex.TAG_DIGIT + lo)


def _ascii_lower(text: str) -> str:
    # SQLite's lower() folds ASCII only; the tags are made with it.
    return "".join(c.lower() if c.isascii() else c for c in text)


def date_tags(start: date, end: date) -> list[str]:
    """The fewest year, month and day tags that cover ``start``..``end`` exactly."""
    out, d = [], start
    while d <= end:
        year_end, month_end = date(d.year, 12, 31), _month_end(d)
        if d.month == 1 and d.day == 1 and year_end <= end:
            out.append(tag(4, d.year))
            d = year_end + timedelta(days=1)
        elif d.day == 1 and month_end <= end:
            out.append(tag(5, d.year * 12 + d.month - 1))
            d = month_end + timedelta(days=1)
        else:
            out.append(tag(6, d.toordinal() - _ORDINAL_TO_TAG_DAY))
            d += timedelta(days=1)
    return out


# The schema numbers days as julianday - 2400000; julianday = ordinal + 1721424.5.
_ORDINAL_TO_TAG_DAY = 2400000 - 1721424


def _month_end(d: date) -> date:
    first_next = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return first_next - timedelta(days=1)
