"""A lock file in the vault folder: one writing job of a kind at a time per vault.

Two ``inklock ingest`` runs on one vault would both find a scan "not yet
stored" and store it twice. With this lock the second waits until the first
is done (saying so once), then finds the scan already in the vault. The lock
is ``fcntl.flock`` on ``<vault>/<name>.lock`` (empty, 0600): the kernel drops
it when the process ends, even by SIGKILL, so a crashed run never leaves the
vault locked.

``in-use.lock`` is held shared by every open :class:`~scanner.vault.vault.Vault`
(a review page, a watch, an ingest, any command) and taken exclusively by
``restore``, which refuses while anyone has the vault open: a review page left
open would go on writing into the vault that the backup replaced, and its
confirmations would be lost.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

WAIT_MESSAGE = "Another inklock {name} is using this vault; waiting for it to finish."
IN_USE = "in-use"


def _open(vault_dir: Path, name: str) -> int:
    path = Path(vault_dir) / f"{name}.lock"
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o600)


def _try(vault_dir: Path, mode: int) -> int | None:
    fd = _open(vault_dir, IN_USE)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def share_in_use(vault_dir: Path) -> int | None:
    """Mark the vault open in this process (a shared lock, kept until ``release``); None while a restore holds it."""
    return _try(vault_dir, fcntl.LOCK_SH)


def take_unused(vault_dir: Path) -> int | None:
    """The vault's in-use lock, exclusively, if no process has the vault open (``release`` it after); else None."""
    return _try(vault_dir, fcntl.LOCK_EX)


def release(fd: int | None) -> None:
    """Give back a lock from ``share_in_use`` or ``take_unused`` (None: nothing to give back)."""
    if fd is not None:
        os.close(fd)


@contextmanager
def hold(vault_dir: Path, name: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the vault's ``name`` lock for the block, waiting (after one ``on_wait`` message) while another holds it."""
    fd = _open(vault_dir, name)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(WAIT_MESSAGE.format(name=name))
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
