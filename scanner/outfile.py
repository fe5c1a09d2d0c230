"""The one safe writer for every file Inklock writes for the user.

Print packets, progress notes, treatment summaries, backups and the recovery
sheet all go through here. An output path is refused (BadInput, exit 4) before
anything is written when it exists and is not a regular file (a symlink, a
FIFO, a device, a folder), when it lies in a system folder (/proc, /sys, /dev)
or when its folder is missing or cannot be written. A path that passes is
written through a 0600 temp file in the same folder, fsynced and renamed over
the target, so a reader never sees half a file and a new file is never
readable by others. Such a path is never followed or replaced.

Input files named by the user (a ``--schedule`` CSV) are read only when they
are regular files: a FIFO would block and a device never ends.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from scanner.errors import BadInput

# Pseudo file systems: their "files" are the kernel's, never a place for an export.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def kind_of_special(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _in_system_folder(path: Path) -> bool:
    real = os.path.realpath(path)
    return any(real == top or real.startswith(top + "/") for top in SYSTEM_FOLDERS)


def check_target(path: str | Path) -> Path:
    """``path`` as a place a new file may be written; BadInput (one sentence) if it is not."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise BadInput(f"{path} cannot be checked ({exc.strerror or exc}); nothing was written.") from None
    if info is not None:
        what = kind_of_special(info.st_mode)
        if what is not None:
            raise BadInput(f"{path} is {what}, not a regular file; Inklock does not write to it, "
                           "so give a new file name.")
    folder = path.parent
    if _in_system_folder(folder):
        raise BadInput(f"{path} is in a system folder ({folder}); write the file somewhere in your own folders.")
    if not folder.is_dir():
        raise BadInput(f"The folder {folder} does not exist; nothing was written.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"The folder {folder} cannot be written; nothing was written.")
    return path


@contextmanager
def private_temp(path: str | Path) -> Iterator[Path]:
    """A 0600 temp file beside ``path`` (checked first), removed unless :func:`commit` moved it."""
    path = check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def commit(tmp: Path, path: str | Path) -> None:
    """Rename the finished temp file over ``path``, checking the target once more just before."""
    path = check_target(path)  # it may have become a link or a pipe meanwhile
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_private(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (0600) via a temp file in the same folder, fsync and rename."""
    path = Path(path)
    with private_temp(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        commit(tmp, path)
    return path


def open_regular(path: str | Path, what: str = "file"):
    """Open ``path`` for reading in binary only if it is a regular file (never blocks on a FIFO)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise BadInput(f"The {what} {path} does not exist.") from None
    except OSError as exc:
        raise BadInput(f"The {what} {path} cannot be opened ({exc.strerror or exc}).") from None
    try:
        kind = kind_of_special(os.fstat(fd).st_mode)
        if kind is not None:
            raise BadInput(f"The {what} {path} is {kind}, not a regular file.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
