"""What every store module shares: one explicit transaction (:func:`scanner.vault.db.transaction`), the clock,
and JSON columns."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from scanner.vault.db import transaction  # noqa: F401  (store.transaction: the one way to write several rows)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
