"""``inklock scan``: pages straight from a document scanner into the vault, never a file.

The scanner is driven through SANE (python-sane, in this process). Each page
the feeder delivers is a grayscale array in memory; :func:`page_stream` turns
the pages into the stream :func:`scanner.ingest.pipeline.ingest` reads, so the same
workers, writer and summary serve ``scan`` and ``ingest`` alike.

A page source is anything with a ``name`` and a ``pages()`` generator
(:class:`PageSource`): :class:`SaneScanner` for a real device (or SANE's own
``test`` backend), and any object a test gives, such as pages made by the
form generator. A source that stops part-way (a paper jam, a scanner unplugged)
raises :class:`ScanStopped` after the pages it delivered: those are stored, and
the summary says at which page the stack has to be fed again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import numpy as np

from scanner.vault import store
from scanner.errors import BadInput, UsageError
from scanner.ingest.pages import FileProblem, FileStart, PageImage

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

SCAN_DPI = 300
# sane_strstatus(SANE_STATUS_NO_DOCS): python-sane reports a status only by its text.
FEEDER_EMPTY = "Document feeder out of documents"
DEVICE_KEY = "scanner_device"  # vault meta: the scanner this vault scans from


class ScanStopped(Exception):
    """The scanner stopped before its feeder was empty; ``reason`` in the scanner's words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PageSource(Protocol):
    """Where scanned pages come from: a name for messages and a stream of gray pages."""

    name: str
    dpi: float | None

    def pages(self) -> Iterator[np.ndarray]:
        """Yield each page as an 8-bit grayscale array; return when the feeder is empty,
        raise :class:`ScanStopped` when the scanner stops before that."""
        ...


@dataclass
class Device:
    name: str
    vendor: str
    model: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"device": self.name, "vendor": self.vendor, "model": self.model, "type": self.kind}


def _load_sane():
    """The python-sane module, or one sentence saying what to install."""
    try:
        import sane
    except ImportError:
        raise BadInput("SANE is not installed: install the Debian packages sane-utils and libsane1 "
                       "(macOS: brew install sane-backends) and reinstall Inklock.") from None
    return sane


def sane_version() -> str | None:
    """The SANE library's version, or None where SANE cannot be loaded (for ``doctor``)."""
    try:
        sane = _load_sane()
        version = sane.init()
        sane.exit()
    except Exception:  # noqa: BLE001 -- doctor reports, never fails
        return None
    return ".".join(str(v) for v in version[1:])


def list_devices() -> list[Device]:
    """Every scanner SANE finds (local and on the network, as SANE is configured)."""
    sane = _load_sane()
    sane.init()
    try:
        return [Device(*(str(x) for x in d)) for d in sane.get_devices()]
    finally:
        sane.exit()


def choose_device(devices: list[Device], wanted: str | None, kept: str | None) -> str:
    """``--device``, else the vault's kept scanner, else the only one found."""
    if wanted:
        return wanted
    names = [d.name for d in devices]
    if kept and kept in names:
        return kept
    if not names:
        raise BadInput("No scanner was found: check that it is switched on and connected "
                       "('scanimage -L' lists what SANE sees), or name one with --device.")
    if len(names) > 1:
        raise UsageError(f"{len(names)} scanners were found ({', '.join(names)}); choose one with --device NAME.")
    return names[0]


def kept_device(vault: Vault) -> str | None:
    return store.get_meta(vault, DEVICE_KEY)


def keep_device(vault: Vault, name: str) -> None:
    """Keep ``name`` as the scanner ``inklock scan`` uses without --device."""
    store.set_meta(vault, DEVICE_KEY, name)


# -- choosing the device's settings (pure, from its option list) ----------------

def pick_source(choices: list[str]) -> tuple[str | None, bool]:
    """The feeder source (duplex where there is one) and whether it is a feeder at all."""
    low = [(c, c.lower()) for c in choices if isinstance(c, str)]
    feeder = [c for c, name in low if "adf" in name or "feeder" in name or "duplex" in name]
    for c in feeder:
        if "duplex" in c.lower():
            return c, True
    for c in feeder:
        if "back" not in c.lower():  # "ADF Back" alone would scan only the backs
            return c, True
    return None, False


def pick_mode(choices: list[str]) -> str | None:
    for c in choices:
        if isinstance(c, str) and ("gray" in c.lower() or "grey" in c.lower()):
            return c
    return None


def pick_resolution(constraint: Any, wanted: int = SCAN_DPI) -> float | None:
    """``wanted`` dpi if the device offers it, else the nearest it offers at or above (else below)."""
    if isinstance(constraint, tuple) and len(constraint) == 3:
        low, high, _step = constraint
        return float(min(max(wanted, low), high))
    if isinstance(constraint, list) and constraint:
        values = sorted(float(v) for v in constraint)
        above = [v for v in values if v >= wanted]
        return above[0] if above else values[-1]
    return None


class SaneScanner:
    """One SANE device, set to 300 dpi gray from its feeder (duplex where it can)."""

    def __init__(self, device: str, dpi: int = SCAN_DPI):
        self.name = device
        self.wanted_dpi = dpi
        self.dpi: float | None = None
        self.settings: dict[str, Any] = {}
        self._dev: Any = None  # python-sane's device, once open

    def _set(self, option: str, value: Any) -> bool:
        try:
            setattr(self._dev, option, value)
        except Exception:  # noqa: BLE001 -- an option a device lacks or refuses
            return False
        self.settings[option] = value
        return True

    def _configure(self) -> bool:
        opt = self._dev.opt
        feeder = False
        if "source" in opt and isinstance(opt["source"].constraint, list):
            source, feeder = pick_source(opt["source"].constraint)
            if source:
                feeder = self._set("source", source)
        # Some backends (epson2) choose duplex in an option of its own.
        if feeder and "adf_mode" in opt and isinstance(opt["adf_mode"].constraint, list):
            duplex = [c for c in opt["adf_mode"].constraint if isinstance(c, str) and "duplex" in c.lower()]
            if duplex:
                self._set("adf_mode", duplex[0])
        if "mode" in opt and isinstance(opt["mode"].constraint, list):
            mode = pick_mode(opt["mode"].constraint)
            if mode:
                self._set("mode", mode)
        if "depth" in opt and isinstance(opt["depth"].constraint, list) and 8 in opt["depth"].constraint:
            self._set("depth", 8)
        if "resolution" in opt:
            dpi = pick_resolution(opt["resolution"].constraint, self.wanted_dpi)
            if dpi is not None:
                self._set("resolution", int(dpi) if dpi.is_integer() else dpi)
        # The whole scan area: a backend's default may be a small part of it.
        for corner, edge in (("tl_x", 0), ("tl_y", 0), ("br_x", 1), ("br_y", 1)):
            if corner in opt and isinstance(opt[corner].constraint, tuple):
                self._set(corner, opt[corner].constraint[edge])
        try:
            self.dpi = float(self._dev.resolution)
        except Exception:  # noqa: BLE001 -- a device without a resolution option
            self.dpi = None
        return feeder

    def pages(self) -> Iterator[np.ndarray]:
        sane = _load_sane()
        import _sane  # python-sane's C module: its error class

        sane.init()
        try:
            try:
                self._dev = sane.open(self.name)
            except (_sane.error, RuntimeError) as exc:
                raise BadInput(f"The scanner '{self.name}' cannot be opened ({_said(exc)}); "
                               "'inklock scan --list' shows the scanners found.") from None
            feeder = self._configure()
            while True:
                try:
                    self._dev.start()
                    # no_cancel: cancelling between pages would end a feeder's batch.
                    image = self._dev.snap(no_cancel=feeder)
                except (_sane.error, RuntimeError) as exc:
                    if str(exc) == FEEDER_EMPTY:
                        return
                    raise ScanStopped(_said(exc)) from None
                yield np.asarray(image.convert("L"), dtype=np.uint8)
                del image
                if not feeder:
                    return  # a flatbed: one page per scan
        finally:
            if self._dev is not None:
                try:
                    self._dev.cancel()
                    self._dev.close()
                except Exception:  # noqa: BLE001 -- a device that vanished cannot be closed
                    pass
                self._dev = None
            sane.exit()


def _said(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[:1].lower() + text[1:160]


class ScanRun:
    """The pages of one run of a source as an ingest stream; knows where the scanner stopped."""

    def __init__(self, source: PageSource):
        self.source = source
        self.batch = secrets.token_hex(16)
        self.pages = 0
        self.stopped: str | None = None

    def __iter__(self) -> Iterator[FileStart | PageImage | FileProblem]:
        # Each page is its own one-page "file" named after the scanner: the
        # batch's length is not known until the feeder is empty, and a page is
        # then done as soon as it is stored. Its id is a hash of this run, its
        # place and its pixels: two passes of one sheet are two scans.
        where = Path(f"scanner {self.source.name}")
        try:
            for gray in self.source.pages():
                digest = hashlib.sha256(f"{self.batch}:{self.pages}:".encode())
                digest.update(gray.tobytes())
                sha = digest.hexdigest()
                yield FileStart(where, sha, 1)
                yield PageImage(where, sha, self.pages, gray, self.source.dpi)
                self.pages += 1
        except ScanStopped as exc:
            self.stopped = (f"The scanner {self.source.name} stopped at page {self.pages + 1} ({exc.reason}): "
                            f"the {self.pages} page(s) before it are kept; clear the scanner and feed the stack "
                            f"again from page {self.pages + 1}.")
            yield FileProblem(where, None, self.stopped)
            return
        if self.pages == 0:
            self.stopped = (f"The scanner {self.source.name} delivered no page: put the stack in its feeder "
                            "and scan again.")
            yield FileProblem(where, None, self.stopped)


def scan_into_vault(vault: Vault, source: PageSource, *, workers: int = 2, extra_template_dirs=(),
                    progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Scan until the feeder is empty (or the scanner stops), storing each page as it comes.

    Returns ingest's summary (``IngestSummary.as_dict``) with ``files`` 0 (no
    file was involved), plus ``device`` and ``stopped`` (None, or the sentence
    saying where the scanner stopped).
    """
    from scanner.ingest.pipeline import ingest

    run = ScanRun(source)
    summary = ingest(vault, [], workers=workers, extra_template_dirs=extra_template_dirs,
                     progress=progress, stream=run)
    data = summary.as_dict()
    data["files"] = 0
    data["device"] = source.name
    data["stopped"] = run.stopped
    return data
