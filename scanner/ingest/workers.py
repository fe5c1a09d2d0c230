"""The page readers' processes: started from a server that has the engines loaded.

The workers are forked from multiprocessing's forkserver (not forked from the
ingest process: a process that has already run OpenCV or OpenMP threads, a
test runner or the review app, can deadlock its forked children). The server
starts clean, imports the readers (:data:`FORKSERVER_PRELOAD`) and, last,
:mod:`scanner.ingest.warmup`, which loads the engines; each worker forked
afterwards starts with all of it (shared copy-on-write). Light on purpose:
the ``inklock ingest`` command imports this module, and starts the server,
before the passphrase's key derivation, which the server's loading then
overlaps.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

# What the workers' server imports once, before it forks them (``context``).
# (The pipeline too: each worker would otherwise import it, and the store with it,
# to find its worker functions.) The warm-up comes last: it loads the engines.
FORKSERVER_PRELOAD = ["scanner.ingest.read", "scanner.ingest.ocr", "scanner.ingest.digits", "scanner.ingest.pipeline",
                      "cv2", "numpy", "scanner.ingest.warmup"]


def context() -> Any:
    """The workers' start method: a forkserver that has loaded the readers, else spawn."""
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    return ctx


def start_early() -> None:
    """Start the workers' server now, so its imports and engine loading overlap the vault's unlock.

    The command calls this before it asks for the passphrase; the pool made
    later forks its workers from the same server (one per process, kept until
    the process ends).
    """
    ctx = context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
