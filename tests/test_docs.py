"""The developer docs are the package docstrings, and they cannot drift from the files.

Each package of ``scanner/`` and ``forms/`` names its modules in its
``__init__`` docstring, one ``- ``name``: what`` line each (``name/`` for a
sub-package). Every module and sub-package on disk must be named there (a
list line, or ``name`` or :mod:`.name` in the text), and every list line must
name a module or package that exists, unless it says it is planned. The
README's layout table names every package and only files that exist (or are
planned); every repository path and test the other docs name exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent for top in ("scanner", "forms") for p in (ROOT / top).rglob("__init__.py"))
ENTRY = re.compile(r"^- ``([A-Za-z_][A-Za-z0-9_]*)(/?)``:(.*)$")
DOCS = ["README.md", "SECURITY.md", "THIRD_PARTY.md", "Makefile", "scanner/data/README.md", "scanner/models/README.md"]
PATH = re.compile(r"(?<![\w./-])((?:scanner|forms|tests|tools|bench|samples)/[\w./-]*[\w/])")


def docstring(package: Path) -> str:
    return ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""


def named(package: Path) -> dict[str, str]:
    """name -> the rest of its line, for each ``- ``name``: ...`` line of the package docstring."""
    found = {}
    for line in docstring(package).splitlines():
        m = ENTRY.match(line.strip())
        if m:
            found[m.group(1)] = m.group(3)
    return found


def mentioned(package: Path) -> set[str]:
    """Every name the package docstring gives a module: list lines, ``name``, ``name/``, :mod:`.name`."""
    doc = docstring(package)
    return set(named(package)) | set(re.findall(r"``(\w+)/?``", doc)) | set(re.findall(r":mod:`[~.]*(?:\w+\.)*(\w+)`", doc))


def on_disk(package: Path) -> set[str]:
    modules = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    return modules | {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_is_named_in_its_package_docstring(package):
    missing = sorted(on_disk(package) - mentioned(package))
    assert not missing, f"{package.relative_to(ROOT)}/__init__.py does not name: {missing}"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_a_package_docstring_names_exists(package):
    gone = sorted(name for name, what in named(package).items()
                  if name not in on_disk(package) and "(planned" not in what)
    assert not gone, f"{package.relative_to(ROOT)}/__init__.py names modules that do not exist: {gone}"


def planned() -> set[str]:
    """Repository paths of the modules a package docstring names as planned (``scanner/ingest/ink.py``)."""
    out = set()
    for package in PACKAGES:
        for name, what in named(package).items():
            if "(planned" in what:
                base = str(package.relative_to(ROOT)) + "/" + name
                out |= {base + ".py", base + "/"}
    return out


def layout_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) >= 2:
            rows.append((cells[0].removeprefix("| ").strip("`"), " | ".join(cells[1:])))
    return rows


def exists(path: str) -> bool:
    """A file or folder of the repository; a module that became a package (or back) is the same module."""
    if (ROOT / path).exists():
        return True
    if path.endswith(".py"):
        return (ROOT / path[:-3] / "__init__.py").is_file()
    return path.endswith("/") and (ROOT / (path[:-1] + ".py")).is_file()


def test_the_readme_layout_table_names_every_package():
    rows = dict(layout_rows())
    for package in PACKAGES:
        path = str(package.relative_to(ROOT)) + "/"
        parent_row = rows.get(str(package.parent.relative_to(ROOT)) + "/", "")
        in_parent = f"`{package.name}/`" in parent_row or f"`{package.name}.py`" in parent_row
        assert path in rows or in_parent, f"README's layout table does not name {path}"


def test_the_readme_layout_table_names_only_files_that_exist():
    allowed = planned()
    for folder, what in layout_rows():
        if not folder.startswith(("scanner/", "forms/")) or not (ROOT / folder).is_dir():
            continue  # other rows name top-level folders too (`bench/`)
        for name in re.findall(r"`(\w+\.py|\w+/)`", what):
            path = folder + name
            assert exists(path) or path in allowed, f"README's layout table names {path}, which does not exist"


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_the_docs_name_exists(doc):
    allowed = planned()
    text = (ROOT / doc).read_text()
    gone = sorted({p for p in PATH.findall(text) if not exists(p) and p not in allowed})
    assert not gone, f"{doc} names paths that do not exist: {gone}"


@pytest.mark.parametrize("doc", ["README.md", "SECURITY.md"])
def test_every_test_the_docs_name_exists(doc):
    defined = {m for f in (ROOT / "tests").glob("test_*.py") for m in re.findall(r"^def (test_\w+)", f.read_text(), re.MULTILINE)}
    named_tests = set(re.findall(r"(?<![\w])(test_\w+)(?=`|\b)", (ROOT / doc).read_text()))
    gone = sorted(n for n in named_tests if n not in defined and not (ROOT / "tests" / f"{n}.py").exists())
    assert not gone, f"{doc} names tests that do not exist: {gone}"
