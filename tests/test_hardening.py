"""What an attack on the product found (issue 13), each closed and tested.

1. printed packets are 0600, can go to a printer without a file, and say when they carry private text;
2. output paths that are not regular files (links, FIFOs, devices, folders, /proc) are refused, never replaced;
3. a file name that is not UTF-8 is ingested like any other;
4. a value outside a field's cells, range or options is refused (confirm and review page);
5. two ingests of one vault run one after the other, so the same scan is stored once;
6. the review server answers ids beyond SQLite's range with 404 and never prints a traceback;
7. a restored vault has only 0700 folders and 0600 files;
8. page workers end when a killed ingest leaves them;
9. a bad --value is exit 4; a FIFO or a device given to ingest is named as such.

Special files are made in tmp_path only; nothing under /dev is touched.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.vault import store
from test_bad_input import assert_one_sentence, scans  # noqa: F401 (fixture)
from test_web import BASE, add_session, app, clock, login, post_json  # noqa: F401 (fixtures)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def stocked(vault, monkeypatch):
    """One scanned session of client C-101 (sheet SHEET), every field confirmed as read, so a note can be written.

    Its private ``unfinished_conversations`` (carried forward) holds text; ``phq9`` reads "12".
    """
    s = add_session(vault, client="C-101", date="2025-03-01", number=1,
                    reads={"unfinished_conversations": ("talk about the brother", 0.97, [])})
    for f in store.show_session(vault, s["session"])["fields"]:  # store.confirm_field: no handwriting learning
        store.confirm_field(vault, s["session"], f["key"])
    return vault


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- 1. printed packets ------------------------------------------------------------

def test_print_packet_is_0600_and_warns_when_it_carries_private_text(stocked, cli, tmp_path, umask022):
    out = tmp_path / "carry.pdf"
    r = cli("print", "session", "--client", "C-101", "--date", "2025-03-08", "--out", out)
    assert r.code == 0, r.err
    assert mode(out) == 0o600
    assert "carry private text onto paper" in r.out and "unfinished_conversations" in r.out
    # A first sheet carries nothing: no warning.
    r = cli("print", "session", "--client", "C-999", "--out", tmp_path / "first.pdf", "--json")
    assert r.code == 0 and json.loads(r.out)["warnings"] == []


FAKE_LP = """#!{python}
import json, os, sys
data = sys.stdin.buffer.read()
with open(os.environ["FAKE_LP_LOG"], "w") as fh:
    json.dump({{"args": sys.argv[1:], "bytes": len(data), "head": data[:5].decode("latin-1")}}, fh)
print("request id is Office-7 (1 file(s))")
"""


def test_print_to_printer_sends_the_pdf_from_memory_and_leaves_no_file(stocked, cli, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    lp = bindir / "lp"
    lp.write_text(FAKE_LP.format(python=sys.executable))
    lp.chmod(0o755)
    log = tmp_path / "lp.json"
    monkeypatch.setenv("FAKE_LP_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    r = cli("print", "session", "--to-printer", "Office", "--client", "C-101", "--date", "2025-03-08")
    assert r.code == 0, r.err
    got = json.loads(log.read_text())
    assert got["head"] == "%PDF-" and got["bytes"] > 1000
    assert got["args"][-2:] == ["-d", "Office"] and "C-101" not in " ".join(got["args"])
    assert "no copy was kept" in r.out and "carry private text" in r.out
    assert list(work.iterdir()) == [] and list((tmp_path / "_tmp").iterdir()) == []
    assert len(store.list_sessions(stocked, client="C-101")) == 2  # the printed sheet is registered
    # The default printer: no -d.
    assert cli("print", "session", "--blank", "--to-printer").code == 0
    assert "-d" not in json.loads(log.read_text())["args"]


def test_print_to_printer_without_lp_is_one_sentence(stocked, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    r = cli("print", "session", "--blank", "--to-printer")
    assert r.code == 2 and "cups-client" in assert_one_sentence(r.err)
    assert store.list_sessions(stocked) == store.list_sessions(stocked, client="C-101")  # nothing registered
    r = cli("print", "session", "--blank", "--to-printer", "--out", tmp_path / "x.pdf")
    assert r.code == 2 and "not both" in assert_one_sentence(r.err)


# -- 2. output paths that are not regular files -------------------------------------------

def _special(tmp_path: Path, kind: str, suffix: str) -> Path:
    tmp_path.mkdir()
    target = tmp_path / f"keep{suffix}"
    target.write_bytes(b"precious")
    path = tmp_path / f"special-{kind}{suffix}"
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "dangling":
        path.symlink_to(tmp_path / f"nothing{suffix}")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    return path


def _command(kind: str, out: Path) -> list:
    return {
        "print": ["print", "session", "--blank", "--out", out],
        "note": ["note", "1", "--format", "soap", "--out", out],
        "summary": ["summary", "--client", "C-101", "--out", out],
        "backup": ["backup", out, "--force"],  # an earlier backup is replaced only when asked
    }[kind]


COMMANDS = [("print", ".pdf"), ("note", ".md"), ("summary", ".md"), ("backup", ".bak")]


@pytest.mark.parametrize("special", ["symlink", "dangling", "fifo", "folder"])
def test_output_path_that_is_not_a_regular_file_is_refused_and_kept(stocked, cli, tmp_path, special):
    for command, suffix in COMMANDS:
        path = _special(tmp_path / command, special, suffix)
        before = os.lstat(path)
        r = cli(*_command(command, path))
        assert r.code == 4, (command, r.err)
        assert_one_sentence(r.err)
        after = os.lstat(path)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
        assert (tmp_path / command / f"keep{suffix}").read_bytes() == b"precious"
        assert not (tmp_path / command / f"nothing{suffix}").exists()
        assert sorted(p.name for p in (tmp_path / command).iterdir()) == sorted([path.name, f"keep{suffix}"])


def test_outputs_are_written_0600(stocked, cli, tmp_path, umask022):
    for command, suffix in COMMANDS:
        out = tmp_path / f"out{suffix}"
        out.write_bytes(b"old")  # an existing regular file is replaced
        out.chmod(0o644)
        r = cli(*_command(command, out))
        assert r.code == 0, (command, r.err)
        assert mode(out) == 0o600 and out.read_bytes() != b"old", command


def test_output_in_proc_is_refused(stocked, cli):
    r = cli("print", "session", "--blank", "--out", "/proc/version")
    assert r.code == 4 and "system folder" in assert_one_sentence(r.err)


def test_schedule_that_is_a_fifo_is_refused_without_waiting(vault_dir, tmp_path):
    fifo = tmp_path / "today.csv"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "print", "--schedule", str(fifo),
                           "--out", str(tmp_path / "o.pdf")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert "named pipe" in assert_one_sentence(proc.stderr)


# -- 3. file names that are not UTF-8 --------------------------------------------------------

def test_ingest_a_file_name_that_is_not_utf8(vault, cli, tmp_path, scans):
    folder = tmp_path / "batch"
    folder.mkdir()
    odd = Path(os.fsdecode(os.fsencode(folder) + b"/scan-\xff\xfe.pdf"))
    odd.write_bytes(scans["scan.pdf"])
    (folder / "back.jpg").write_bytes(scans["back.jpg"])
    r = cli("ingest", "--json", "--workers", "1", folder)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["files"] == 2 and data["unmatched"] == 1 and data["blank"] == 1 and data["problems"] == []
    names = [row["name"] for row in vault.db.query("SELECT name FROM source_files")]
    assert any(n.endswith("scan-\\xff\\xfe.pdf") for n in names), names
    # A file that cannot be opened is one problem; the rest of the batch is stored.
    locked = folder / "locked.pdf"
    locked.write_bytes(scans["scan.pdf"] + b"\n%")
    locked.chmod(0)
    (folder / "scan.png").write_bytes(scans["scan.png"])
    r = cli("ingest", "--json", "--workers", "1", folder)
    if os.geteuid() == 0:  # root opens any file
        assert r.code == 0
    else:
        assert r.code == 4 and len(json.loads(r.out)["problems"]) == 1
    assert json.loads(r.out)["unmatched"] >= 1


# -- 4 and 9. values ------------------------------------------------------------------------------

def test_confirm_value_outside_the_fields_range_is_exit_4(stocked, cli):
    for typed in ("9999", "28", "-1", "2 8"):
        r = cli("confirm", "1", "phq9", "--value", typed)
        assert r.code == 4, (typed, r.err)
        message = assert_one_sentence(r.err)
        assert "0 to 27" in message, message
    assert cli("confirm", "1", "mood_rating", "--value", "11").code == 4
    assert "0 to 10" in cli("confirm", "1", "mood_rating", "--value", "11").err
    assert cli("confirm", "1", "focus", "--value", "x").code == 0
    assert cli("confirm", "1", "phq9", "--value", "27").code == 0
    phq9 = [f for f in store.show_session(stocked, 1)["fields"] if f["key"] == "phq9"][0]
    assert phq9["confirmed_value"] == "27"


def test_value_checks_by_cells_range_and_options():
    from scanner import values

    phq9 = {"cells": [[0, 0, 1, 1]] * 2, "min": 0, "max": 27}
    assert values.check_digits(" 2 7 ", phq9) == "27" and values.check_digits("", phq9) == ""
    for bad in ("28", "123", "1a", "²"):
        with pytest.raises(values.BadValue):
            values.check_digits(bad, phq9)
    assert values.digit_range({"cells": 3, "max": 200}) == (0, 200) and values.digit_range({"cells": 2}) is None
    assert values.check_digits("99", {"cells": 2}) == "99"
    with pytest.raises(values.BadValue, match="more digits"):
        values.check_digits("100", {"cells": 2})
    with pytest.raises(values.BadValue, match="0 to 10"):
        values.check_scale("11", {"min": 0, "max": 10})
    with pytest.raises(values.BadValue, match="a, b"):
        values.check_options(["c"], {"options": [{"value": "a"}, {"value": "b"}]})



def test_values_read_a_fieldbox_as_its_export_and_have_one_none_rule():
    from forms import catalog
    from forms.model import KINDS, SECTION_LETTERS
    from scanner import values

    form = catalog.form("session", "letter")
    for key, fb in form.fields.items():
        assert values.allowed(fb) == values.allowed(fb.export()), key  # typed and dict readers agree
        for typed in ("", "none", "-", "yes", "3", "27", "none,passive", "x"):
            try:
                from_box = values.parse(fb.kind, typed, fb)
            except values.BadValue as exc:
                from_box = str(exc)
            try:
                from_dict = values.parse(fb.kind, typed, fb.export())
            except values.BadValue as exc:
                from_dict = str(exc)
            assert from_box == from_dict, (key, typed)
            if not isinstance(from_box, str) or fb.kind in values.HAND_KINDS:
                assert values.parse(fb.kind, values.as_text(fb.kind, from_box), fb) == from_box  # round trip
    risk = form.field("risk_si")
    assert "none" in values.allowed(risk).options and values.parse("choice", "none", risk) == "none"  # a real option
    assert values.parse("choice", "none", {"options": ["a", "b"]}) is None  # no answer, from any caller
    assert values.parse("choice", "", {"options": ["a", "b"]}) is None
    assert values.parse("choice", "a,b", None, multiple=True) == ["a", "b"]
    assert set(values.MARK_KINDS) | set(values.WRITTEN_KINDS) == set(values.KINDS) == set(KINDS)
    assert values.NOTE_FORMATS == tuple(SECTION_LETTERS)


def test_review_page_edit_refuses_a_value_outside_the_range(app, vault):
    s = add_session(vault)
    client = login(app)
    r = post_json(client, app, f"/session/{s['session']}/field/phq9/confirm", {"typed": "9999"})
    assert r.status_code == 400 and "0 to 27" in r.json["error"]
    phq9 = [f for f in store.show_session(vault, s["session"])["fields"] if f["key"] == "phq9"][0]
    assert phq9["status"] == "pending"


def test_ingest_names_a_fifo_and_a_device(vault, cli, tmp_path):
    fifo = tmp_path / "scan.pdf"
    os.mkfifo(fifo)
    r = cli("ingest", "--json", "--workers", "1", fifo)
    assert r.code == 4
    problem = json.loads(r.out)["problems"][0]
    assert "named pipe" in problem and "empty" not in problem
    if os.geteuid() != 0:
        return  # only root may make a device node (in tmp_path, never under /dev)
    node = tmp_path / "zero-node"
    os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    link = tmp_path / "zero.pdf"
    link.symlink_to(node)
    r = cli("ingest", "--json", "--workers", "1", link)
    problem = json.loads(r.out)["problems"][0]
    assert r.code == 4 and "a device" in problem and "empty" not in problem


# -- 5. two ingests at once ------------------------------------------------------------------------

def _ingest_proc(path: Path, cwd: Path, err: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scanner.cli", "ingest", str(path), "--json", "--workers", "1"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=open(err, "w"), text=True)


def test_second_ingest_waits_for_the_first_and_stores_nothing_twice(vault_dir, tmp_path, scans):
    import fcntl

    from scanner.vault.vault import Vault

    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scans["scan.pdf"])
    err = tmp_path / "err.txt"
    with open(vault_dir / "ingest.lock", "w") as held:  # as if another ingest were storing pages
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _ingest_proc(scan, tmp_path, err)
        for _ in range(600):
            if "waiting" in err.read_text() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the second ingest did not wait for the first"
        assert "Another inklock ingest is using this vault; waiting" in err.read_text()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and json.loads(out)["unmatched"] == 1
    # Two at once: one stores the page, the other finds it stored.
    copy = scan.with_name("b.pdf")
    copy.write_bytes(scans["scan.pdf"] + b"\n% another scan\n")
    first = _ingest_proc(copy, tmp_path, tmp_path / "e1")
    second = _ingest_proc(copy, tmp_path, tmp_path / "e2")
    results = [json.loads(p.communicate(timeout=300)[0]) for p in (first, second)]
    assert sorted(r["unmatched"] for r in results) == [0, 1]
    assert sorted(r["duplicates"] for r in results) == [0, 1]
    with Vault.open(vault_dir, os.environ["INKLOCK_PASSPHRASE"]) as v:
        assert v.db.execute("SELECT count(*) FROM unmatched").fetchone()[0] == 2


# -- 6. review server --------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/field/99999999999999999999999/crop.png", "/unmatched/99999999999999999999999/image.jpg",
                                 "/unmatched/99999999999999999999999/thumb.jpg", "/session/9223372036854775808",
                                 "/unmatched/99999999999999999999999"])
def test_review_server_answers_huge_ids_with_404(app, vault, url, capsys):
    client = login(app)
    r = client.get(url, base_url=BASE)
    assert r.status_code == 404 and "nothing at this address" in r.get_data(as_text=True)
    assert "Traceback" not in capsys.readouterr().err


def test_review_server_never_prints_a_traceback(app, vault, monkeypatch, capsys, caplog):
    s = add_session(vault)
    client = login(app)

    def broken(*args, **kwargs):
        raise RuntimeError("a secret value from a bug")

    monkeypatch.setattr(store, "show_session", broken)
    with caplog.at_level(logging.ERROR, logger="inklock.review"):
        r = client.get(f"/session/{s['session']}", base_url=BASE)
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert body.strip() == "This page could not be answered because of an unexpected error."
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "inklock.review"]
    assert len(lines) == 1 and "RuntimeError" in lines[0] and "secret" not in lines[0]
    assert all(rec.exc_info is None for rec in caplog.records)
    assert "Traceback" not in capsys.readouterr().err


# -- 7. restore -------------------------------------------------------------------------------------

def test_restored_vault_has_only_0700_folders_and_0600_files(stocked, cli, tmp_path, umask022):
    assert cli("backup", tmp_path / "v.bak").code == 0
    target = tmp_path / "restored"
    r = cli("--vault", target, "restore", tmp_path / "v.bak")
    assert r.code == 0, r.err
    seen = {"folders": 0, "files": 0}
    assert mode(target) == 0o700
    for folder, dirs, files in os.walk(target):
        for d in dirs:
            assert mode(Path(folder) / d) == 0o700, Path(folder) / d
            seen["folders"] += 1
        for f in files:
            assert mode(Path(folder) / f) == 0o600, Path(folder) / f
            seen["files"] += 1
    assert seen["folders"] >= 2 and seen["files"] >= 4  # files/, files/ab/, keys, two databases, images


# -- 8. page workers of a killed ingest --------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            out.setdefault(int(fields[1]), []).append(int(entry))
    return out


def _descendants(pid: int) -> list[tuple[int, str]]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append((child, _start_time(child)))
            todo.append(child)
    return found


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except OSError:
        return ""


def _alive(pid: int, started: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z" and _start_time(pid) == started  # same process, not a reused id


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_page_workers_end_when_the_ingest_is_killed(vault_dir, tmp_path):
    import pikepdf

    # the day three times over: a run long enough that the kill lands while pages are being read
    with pikepdf.open(SAMPLES / "day.pdf") as day, pikepdf.new() as long_day:
        for _ in range(3):
            long_day.pages.extend(day.pages)
        long_day.save(tmp_path / "long-day.pdf")
    proc = subprocess.Popen([sys.executable, "-m", "scanner.cli", "ingest", str(tmp_path / "long-day.pdf"), "--json",
                             "--workers", "2"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        workers: list[tuple[int, str]] = []
        for _ in range(1200):
            found = _descendants(proc.pid)
            # the forkserver's children are the two page workers
            grandchildren = [p for p in found if p[0] not in _children().get(proc.pid, [])]
            if len(grandchildren) >= 2:
                workers = found
                break
            assert proc.poll() is None, "the ingest ended before its workers were seen"
            time.sleep(0.05)
        assert workers, "no page workers were started"
        time.sleep(0.3)  # let them start on their first pages (a page takes longer than this)
        assert proc.poll() is None, "the ingest ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = workers
        for _ in range(40):  # polled for up to 2 s (a worker's page takes longer than that)
            left = [p for p in left if _alive(*p)]
            if not left:
                break
            time.sleep(0.05)
        assert not left, f"still alive after the ingest was killed: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, started in workers:
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
