"""``inklock doctor``: what this machine has of what Inklock uses, and what to install.

Each check names the part, whether it is there, what was found, and the
package that brings it when it is missing. Nothing is changed; the vault is
not opened.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed_for: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": "" if self.ok else self.fix,
                "needed_for": self.needed_for}


def _tesseract() -> Check:
    fix = "install tesseract-ocr, tesseract-ocr-eng and libtesseract-dev, then run 'make setup'"
    try:
        import tesserocr

        version = tesserocr.tesseract_version().splitlines()[0]
        folder, languages = tesserocr.get_languages()
    except Exception as exc:  # noqa: BLE001 -- a missing or broken library is what doctor reports
        return Check("tesseract", False, f"cannot be loaded ({type(exc).__name__})", fix, "reading handwriting")
    if "eng" not in languages:
        return Check("tesseract", False, f"{version}, but no English model in {folder}", fix, "reading handwriting")
    return Check("tesseract", True, f"{version}, English model in {folder}", fix, "reading handwriting")


def _line_model() -> Check:
    from scanner.ingest import linerec
    from scanner.errors import InklockError

    try:
        path = linerec.model_path()
    except InklockError:
        return Check("line model", False, "missing", "run 'make setup' (rapidocr-onnxruntime==1.4.4 --no-deps)",
                     "the second handwriting reader")
    return Check("line model", True, str(path), needed_for="the second handwriting reader")


def _program(name: str, program: str, fix: str, needed_for: str) -> Check:
    path = shutil.which(program)
    return Check(name, path is not None, path or f"'{program}' not found", fix, needed_for)


def _sane() -> tuple[Check, list[dict[str, str]]]:
    from scanner.ingest import scan
    from scanner.errors import InklockError

    fix = "install sane-utils and libsane1 (and libsane-dev, then 'make setup' for python-sane)"
    version = scan.sane_version()
    if version is None:
        return Check("sane", False, "python-sane or libsane cannot be loaded", fix, "inklock scan"), []
    try:
        devices = [d.as_dict() for d in scan.list_devices()]
    except InklockError as exc:
        return Check("sane", False, exc.message, fix, "inklock scan"), []
    return Check("sane", True, f"python-sane and libsane loaded (SANE API {version})", fix, "inklock scan"), devices


def _scanner(devices: list[dict[str, str]], sane_ok: bool) -> Check:
    if not sane_ok:
        return Check("scanner", False, "SANE is missing", "see 'sane' above", "inklock scan")
    if not devices:
        return Check("scanner", False, "none found", "switch the scanner on and connect it; 'scanimage -L' "
                     "lists what SANE sees (a network scanner may need its backend in /etc/sane.d)",
                     "inklock scan")
    names = ", ".join(f"{d['device']} ({d['vendor']} {d['model']})" for d in devices)
    return Check("scanner", True, names, needed_for="inklock scan")


def run(vault_dir: Path) -> dict[str, Any]:
    """Every check, and the scanners SANE found."""
    from scanner.vault.vault import KEY_FILE

    sane, devices = _sane()
    checks = [
        _tesseract(),
        _line_model(),
        _program("poppler", "pdftoppm", "install poppler-utils", "reading PDF pages that are not a scan"),
        sane,
        _scanner(devices, sane.ok),
        _program("printer (CUPS)", "lp", "install cups-client (and set up the printer in CUPS)",
                 "printing straight to a printer"),
        _program("chromium", "chromium", "install chromium (only the test suite needs it)",
                 "the browser tests"),
        Check("vault", (vault_dir / KEY_FILE).is_file(), str(vault_dir) if (vault_dir / KEY_FILE).is_file()
              else f"none at {vault_dir}", "run 'inklock init'", "everything"),
    ]
    return {"ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks], "scanners": devices}
