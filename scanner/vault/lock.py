"""A lock file in the vault folder: one writing job of a kind at a time per vault.

Two ``inklock ingest`` runs on one vault would both find a scan "not yet
stored" and store it twice. With this lock the second waits until the first
is done (saying so once), then finds the scan already in the vault. The lock
is ``fcntl.flock`` on ``<vault>/<name>.lock`` (empty, 0600): the kernel drops
it when the process ends, even by SIGKILL, so a crashed run never leaves the
vault locked.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

WAIT_MESSAGE = "Another inklock {name} is using this vault; waiting for it to finish."


@contextmanager
def hold(vault_dir: Path, name: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the vault's ``name`` lock for the block, waiting (after one ``on_wait`` message) while another holds it."""
    path = Path(vault_dir) / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o600)
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
