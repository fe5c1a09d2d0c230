"""The CLI contract: every command registered, documented and with help; errors are one sentence with the right exit code.

The README's command reference is checked against the commands themselves, the
way sqlite-utils checks its docs: every command registered on the ``inklock``
group (walked from :mod:`scanner.cli.main`) has a row there and help text, and
every command and option the README names exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_COMMANDS = ["init", "forms", "print", "ingest", "sessions", "show", "confirm", "review", "note",
                 "search", "passwd", "backup", "restore", "demo"]  # SPEC section 8


def registered() -> dict[str, click.Command]:
    """Every command path ("forms layout") of the real ``inklock`` group, as ``main`` registers them."""
    from scanner.cli import main

    main._register_commands()
    found: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, cmd in group.commands.items():
            found[prefix + name] = cmd
            if isinstance(cmd, click.Group):
                walk(cmd, prefix + name + " ")

    walk(main.cli, "")
    return found


def readme_command_rows() -> list[tuple[list[str], str]]:
    """The README's command reference: (command paths, the whole row) for each ``| `inklock ...` |`` row."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    commands = registered()
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `inklock "):
            continue
        usage = re.split(r"(?<!\\)\|", line)[1].strip().strip("`")
        words = usage.replace("\\|", " | ").split()
        assert words[0] == "inklock", line
        name = words[1]
        assert name in commands, f"README names 'inklock {name}', which is not a command"
        cmd = commands[name]
        paths = [name]
        if isinstance(cmd, click.Group):
            paths = [f"{name} {w}" for w in words[2:] if w in cmd.commands]
            assert paths, f"README's row for the group '{name}' names none of its commands"
        rows.append((paths, line))
    return rows


def test_the_spec_commands_are_registered():
    assert set(SPEC_COMMANDS) <= set(registered())


def test_every_command_is_in_the_readme_command_reference():
    documented = {path for paths, _row in readme_command_rows() for path in paths}
    commands = registered()
    missing = sorted(p for p, cmd in commands.items() if not isinstance(cmd, click.Group) and p not in documented)
    assert not missing, f"commands missing from README's '## Commands' table: {missing}"


def test_every_option_the_command_reference_names_exists():
    commands = registered()
    for paths, row in readme_command_rows():
        options = {o for p in paths for param in commands[p].params for o in param.opts + param.secondary_opts}
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", row))
        assert named <= options, f"README names options that {paths} do not have: {sorted(named - options)}"


def test_every_command_the_docs_name_exists():
    commands = {p.split()[0] for p in registered()}
    for doc in ("README.md", "SECURITY.md"):
        named = set(re.findall(r"\binklock ([a-z][a-z-]*)", (ROOT / doc).read_text()))
        assert named <= commands, f"{doc} names commands that do not exist: {sorted(named - commands)}"


@pytest.mark.parametrize("path", sorted(registered()))
def test_every_command_has_help(cli, path):
    cmd = registered()[path]
    assert (cmd.help or "").strip(), f"'inklock {path}' has no help text"
    undocumented = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.hidden and not p.help]
    assert not undocumented, f"'inklock {path}' options without help: {undocumented}"
    r = cli(*path.split(), "--help")
    assert r.code == 0, (path, r.err)
    assert r.out.startswith(f"Usage: inklock {path} ")
    assert cmd.help.strip().splitlines()[0].rstrip() in r.out.replace("\n  ", " ")


def test_unknown_command_is_usage_error(cli):
    r = cli("frobnicate")
    assert r.code == 2
    assert "Traceback" not in r.err
    assert r.err.startswith("inklock: ")


def test_bad_option_value_is_usage_error(cli):
    r = cli("print", "session", "--client", "C1", "--session", "many")
    assert r.code == 2
    assert "Traceback" not in r.err


def test_missing_vault_is_one_sentence(cli, tmp_path):
    r = cli("--vault", tmp_path / "nowhere", "sessions")
    assert r.code == 4
    assert "inklock init" in r.err
    assert r.err.count("\n") == 1


def test_no_passphrase_without_terminal(tmp_path, vault_dir):
    env = {"PATH": "/usr/bin:/bin", "INKLOCK_VAULT": str(vault_dir), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "sessions"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "INKLOCK_PASSPHRASE" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_passphrase_exit_3(cli, vault_dir, monkeypatch):
    monkeypatch.setenv("INKLOCK_PASSPHRASE", "not the passphrase")
    r = cli("sessions")
    assert r.code == 3
    assert "Traceback" not in r.err


@pytest.mark.parametrize("argv", [["--debug", "sessions"]])
def test_debug_flag_accepted(cli, vault_dir, argv):
    r = cli(*argv, "--json")
    assert r.code == 0, r.err


def test_readme_says_how_to_start():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_the_demo_runs_the_whole_day_on_the_samples(cli, tmp_path):
    """`inklock demo` (what `make demo` runs): print, ingest, read, confirm, note and search, exit 0."""
    kept = tmp_path / "demo"
    run = cli("demo", "--keep", kept)
    assert run.code == 0, run.err
    assert "Searched the vault" in run.out and "## Plan" in run.out
    assert (kept / "vault").is_dir() and (kept / "note.md").is_file()
