"""``inklock scan``: pages straight from a scanner into the vault.

The real SANE path runs against SANE's own ``test`` backend (it ships with
libsane1), configured by a SANE_CONFIG_DIR inside the test: its feeder holds
ten pages of a test pattern, which must all land in the unmatched queue. A
fake device yields Inklock pages made by the form generator, to show that a
scan is matched and read like a file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pytest

TEST_BACKEND_PAGES = 10  # the test backend's feeder is "empty" after ten scans


def sane_config(tmp_path: Path, monkeypatch, picture: str = "Grid") -> Path:
    """A SANE configuration with only the test backend (never /etc/sane.d).

    libsane reads SANE_CONFIG_DIR once per process, so every in-process test
    uses this same configuration; a different one runs in a subprocess.
    """
    folder = tmp_path / "sane.d"
    folder.mkdir(exist_ok=True)
    (folder / "dll.conf").write_text("test\n")
    (folder / "test.conf").write_text(f'number_of_devices 1\ntest-picture "{picture}"\n')
    monkeypatch.setenv("SANE_CONFIG_DIR", str(folder))
    return folder


def unmatched_rows(vault_dir: Path) -> int:
    from scanner.vault.vault import Vault

    v = Vault.open(vault_dir, os.environ["INKLOCK_PASSPHRASE"])
    try:
        return v.db.execute("SELECT COUNT(*) FROM unmatched WHERE status = 'open'").fetchone()[0]
    finally:
        v.close()


def test_scan_from_the_sane_test_backend_keeps_every_page(vault_dir, cli, tmp_path, monkeypatch):
    sane_config(tmp_path, monkeypatch)
    listed = cli("scan", "--list", "--json")
    assert listed.code == 0, listed.err
    assert [d["device"] for d in json.loads(listed.out)["devices"]] == ["test:0"]

    r = cli("scan", "--device", "test:0", "--keep-device", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["pages"] == TEST_BACKEND_PAGES and data["device"] == "test:0" and data["stopped"] is None
    # Test patterns are no form: each one waits in the unmatched queue, none lost.
    assert data["unmatched"] + data["blank"] == TEST_BACKEND_PAGES and data["unmatched"] == TEST_BACKEND_PAGES
    assert data["failed"] == data["identified"] == data["files"] == 0
    assert unmatched_rows(vault_dir) == TEST_BACKEND_PAGES

    from scanner.ingest import scan
    from scanner.vault.vault import Vault

    v = Vault.open(vault_dir, os.environ["INKLOCK_PASSPHRASE"])
    try:
        assert scan.kept_device(v) == "test:0"
    finally:
        v.close()


@pytest.mark.parametrize("status, words", [("SANE_STATUS_JAMMED", "jammed"),
                                           ("SANE_STATUS_IO_ERROR", "i/o")])
def test_a_jam_or_a_vanished_scanner_keeps_the_pages_read(vault, tmp_path, monkeypatch, status, words):
    """The backend is told to fail the fourth page the way a jam (or an unplugged cable) does."""
    import sane

    from scanner.ingest import scan

    sane_config(tmp_path, monkeypatch)
    real_start = sane.SaneDev.start
    starts = []

    def start(self):
        starts.append(1)
        if len(starts) == 4:
            self.read_return_value = status
        return real_start(self)

    monkeypatch.setattr(sane.SaneDev, "start", start)
    data = scan.scan_into_vault(vault, scan.SaneScanner("test:0"), workers=1)
    assert data["pages"] == 3 and data["unmatched"] == 3
    assert data["stopped"].startswith("The scanner test:0 stopped at page 4 (")
    assert words in data["stopped"].lower() and "from page 4" in data["stopped"]
    assert data["stopped"] in data["problems"]
    assert vault.db.execute("SELECT COUNT(*) FROM unmatched").fetchone()[0] == 3


def test_an_unknown_device_is_one_sentence(vault_dir, cli, tmp_path, monkeypatch):
    sane_config(tmp_path, monkeypatch)
    r = cli("scan", "--device", "nosuch:device")
    assert r.code == 4 and "cannot be opened" in r.err and r.err.count("\n") == 1
    assert cli("scan", "--keep-device").code == 2


class FakeScanner:
    """A device whose feeder holds the given pages; it may stop after ``stop_after`` of them."""

    def __init__(self, pages: list[np.ndarray], stop_after: int | None = None):
        self.name = "fake:feeder"
        self.dpi = 300.0
        self._pages = pages
        self._stop_after = stop_after

    def pages(self):
        from scanner.ingest.scan import ScanStopped

        for i, page in enumerate(self._pages):
            if i == self._stop_after:
                raise ScanStopped("the device was unplugged")
            yield page


def generated_pages(vault, rng, clients=("C-104", "M-221")) -> tuple[list[np.ndarray], list[dict]]:
    """Sheets printed from this vault, filled and scanned by the generator, as arrays in memory."""
    from forms.render import SheetSpec
    from scanner.notes import printing
    from tools.synth.batch import make_batch

    requests = [printing.SheetRequest("session", c, "2026-11-27", None) for c in clients]
    printed = printing.print_packet(vault, requests, Path(vault.path).parent / "packet.pdf", "letter")
    specs = [SheetSpec(s["sheet_id"], "session", client=s["client"], date=s["date"], session=s["session"])
             for s in printed["sheets"]]
    pdf, expected = make_batch(specs, rng, presets={"preset": "scanner", "out_dpi": 200}, blank_pages=1, dpi=200)
    pages = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            image = pikepdf.PdfImage(next(iter(page.get_images().values()))).as_pil_image()  # type: ignore[arg-type]
            pages.append(np.asarray(image.convert("L")))
    return pages, expected


def test_a_fake_device_with_generated_pages_is_matched_and_read(vault):
    from scanner.ingest.scan import scan_into_vault

    pages, expected = generated_pages(vault, np.random.default_rng(15))
    data = scan_into_vault(vault, FakeScanner(pages), workers=1)
    assert data["pages"] == 5 and data["identified"] == 4 and data["blank"] == 1 and data["unmatched"] == 0
    assert data["device"] == "fake:feeder" and data["stopped"] is None
    rows = vault.db.execute("SELECT s.client, COUNT(p.page) FROM sheets s JOIN pages p ON p.sheet_id = s.sheet_id "
                            "GROUP BY s.client ORDER BY s.client").fetchall()
    assert [tuple(r) for r in rows] == [("C-104", 2), ("M-221", 2)]


def test_a_device_that_stops_part_way_keeps_what_it_delivered(vault):
    from scanner.ingest.scan import scan_into_vault

    pages, expected = generated_pages(vault, np.random.default_rng(16), clients=("C-104",))
    data = scan_into_vault(vault, FakeScanner(pages, stop_after=2), workers=1)
    assert data["pages"] == 2
    assert data["stopped"] == ("The scanner fake:feeder stopped at page 3 (the device was unplugged): the 2 page(s) "
                               "before it are kept; clear the scanner and feed the stack again from page 3.")
    kept = list(expected[:2])
    assert data["identified"] == sum(not e["blank"] for e in kept)
    assert data["blank"] == sum(e["blank"] for e in kept)


def test_an_empty_feeder_says_so(vault):
    from scanner.ingest.scan import scan_into_vault

    data = scan_into_vault(vault, FakeScanner([]), workers=1)
    assert data["pages"] == 0 and "delivered no page" in data["stopped"]


def test_device_settings_are_chosen_from_what_the_device_offers():
    from scanner.ingest import scan
    from scanner.errors import BadInput, UsageError

    assert scan.pick_source(["Flatbed", "ADF Front", "ADF Back", "ADF Duplex"]) == ("ADF Duplex", True)
    assert scan.pick_source(["Flatbed", "Automatic Document Feeder"]) == ("Automatic Document Feeder", True)
    assert scan.pick_source(["Flatbed"]) == (None, False)
    assert scan.pick_mode(["Lineart", "Halftone", "Gray", "Color"]) == "Gray"
    assert scan.pick_mode(["Color"]) is None
    assert scan.pick_resolution((50.0, 1200.0, 1.0)) == 300.0
    assert scan.pick_resolution([150, 200, 400, 600]) == 400.0
    assert scan.pick_resolution([75, 150]) == 150.0
    one = [scan.Device("a:1", "v", "m", "t")]
    two = one + [scan.Device("b:2", "v", "m", "t")]
    assert scan.choose_device(one, None, None) == "a:1"
    assert scan.choose_device(two, None, "b:2") == "b:2"
    assert scan.choose_device(two, "c:3", "b:2") == "c:3"
    with pytest.raises(UsageError):
        scan.choose_device(two, None, None)
    with pytest.raises(BadInput):
        scan.choose_device([], None, None)


def test_doctor_names_the_scanner_found_and_what_is_missing(cli, tmp_path, monkeypatch):
    sane_config(tmp_path, monkeypatch)
    r = cli("doctor", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["sane"]["ok"] and checks["tesseract"]["ok"] and checks["line model"]["ok"]
    assert checks["scanner"]["ok"] and "test:0" in checks["scanner"]["detail"]
    assert [d["device"] for d in report["scanners"]] == ["test:0"]
    assert not checks["vault"]["ok"] and checks["vault"]["fix"] == "run 'inklock init'"

    # libsane reads SANE_CONFIG_DIR once per process: a changed configuration needs a new one.
    (tmp_path / "sane.d" / "dll.conf").write_text("# no backend\n")

    def doctor(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "scanner.cli", "doctor", *args], env=dict(os.environ),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    report = json.loads(doctor("--json"))
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["scanner"]["ok"] and checks["scanner"]["detail"] == "none found" and not report["ok"]
    text = doctor()
    assert "MISSING  scanner: none found" in text and "Missing: " in text
