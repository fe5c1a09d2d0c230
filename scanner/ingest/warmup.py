"""Importing this module loads the page reader's engines in this process, for the workers it forks.

Imported only by the workers' server, last in its preload list
(:data:`scanner.ingest.workers.FORKSERVER_PRELOAD`): the line recogniser,
the digit model and the tables and modules the first page would load are
loaded once there (Tesseract, for unruled text areas only, on first use),
while the ingest process derives the vault key, and every worker forked afterwards starts with them instead of loading its own
after the unlock (:func:`scanner.ingest.read.preload_engines`). Nothing is
read from a page and nothing is written anywhere. Should loading fail, the
workers load the engines themselves, and say what is wrong as they always did.
"""

from __future__ import annotations

from scanner.ingest import read

try:
    read.preload_engines()
except Exception:  # noqa: BLE001 -- never break the server; a worker reports the problem itself
    read.forget_preloaded()
