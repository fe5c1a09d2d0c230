"""The state one review run holds: the vault behind its lock, the guard, the form geometry.

The app owns the unlocked vault for the length of a run. All vault access goes
through :meth:`VaultHolder.use`, which serialises it (the server is threaded;
a SQLCipher connection must not be used by two threads at once) and refuses
while the app is locked. Locking closes the vault; unlocking opens it again
with the passphrase, so an idle review page holds no open database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from scanner.errors import Refused
from scanner.review.web.security import Guard


class VaultLocked(Refused):
    """The review page is locked; the passphrase opens it again."""


class VaultHolder:
    """The vault of a review run, closed while locked.

    ``opener(passphrase)`` opens the vault again (it raises
    :class:`scanner.errors.WrongPassphrase` on a wrong passphrase).
    """

    def __init__(self, vault: Any, opener: Callable[[str], Any]):
        self._vault = vault
        self._opener = opener
        self._lock = threading.RLock()

    @property
    def locked(self) -> bool:
        return self._vault is None

    @contextmanager
    def use(self) -> Iterator[Any]:
        """The open vault, used by one thread at a time; :class:`VaultLocked` while locked."""
        with self._lock:
            if self._vault is None:
                raise VaultLocked("The review page is locked; enter the passphrase to go on.")
            yield self._vault

    def lock(self) -> None:
        """Close the vault (waits for a request that is using it to finish)."""
        with self._lock:
            if self._vault is not None:
                self._vault.close()
                self._vault = None

    def unlock(self, passphrase: str) -> None:
        """Open the vault again; raises WrongPassphrase and stays locked when it is wrong."""
        vault = self._opener(passphrase)
        with self._lock:
            if self._vault is not None:
                vault.close()
            else:
                self._vault = vault


class ReviewState:
    """Everything one review run holds: guard (secrets, idle clock), vault, form geometry."""

    def __init__(self, holder: VaultHolder, guard: Guard, template_dirs: Iterable[Path]):
        self.holder = holder
        self.guard = guard
        self.template_dirs = [Path(p) for p in template_dirs]
        self._searcher: Any = None
        self._counted = 0

    def count_stamp(self) -> int:
        """A number that grows with every count taken, in the order the vault lock was held.

        Call only inside ``holder.use()``. Responses can reach the page out of
        order (the server answers in threads), so the page shows the counts of
        the highest stamp it has seen, never an older count that arrived late.
        """
        self._counted += 1
        return self._counted

    def lock_if_idle(self) -> bool:
        """Lock when the idle time has passed; True when the app is (now) locked."""
        if not self.holder.locked and self.guard.idle():
            self.lock()
        return self.holder.locked

    def lock(self) -> None:
        """Close the vault and forget what was cached from it (the search vocabulary)."""
        self._searcher = None
        self.holder.lock()

    def form(self, template_name: str, page_size: str) -> tuple[Any, Any, str | None]:
        """(template, form, problem) for a sheet; None parts when they cannot be loaded.

        The form is a ``forms.catalog.Form`` (typed pages; also a mapping of the geometry export).

        Templates are data that can be wrong; the page then still works, without boxes.
        """
        from forms import catalog

        try:
            found = catalog.form(template_name, page_size, self.template_dirs)
        except catalog.FormUnavailable as exc:
            return None, None, f"The form '{template_name}' could not be laid out ({str(exc).rstrip('.')})."
        return found.template, found, None

    def searcher(self, vault: Any, highlight: tuple[str, str]) -> Any:
        """One :class:`scanner.vault.search.Searcher` per open vault (its vocabulary cache survives between queries).

        Call only inside ``holder.use()``: that lock is what keeps two
        requests from sharing it at once.
        """
        from functools import partial

        from scanner.hand import exemplars
        from scanner.vault.search import Searcher

        s = self._searcher
        if s is None or s.db is not vault.db or s.highlight != highlight:
            s = self._searcher = Searcher(vault.db, highlight=highlight, hand=partial(exemplars.search_by_hand, vault))
        return s

    def close(self) -> None:
        self.lock()


def state_of(app: Flask) -> ReviewState:
    """The review state of an app made by :func:`create_app`."""
    return app.extensions["inklock"]
