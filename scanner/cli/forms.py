"""``inklock forms``: list templates, show a template's geometry, validate a template file.

User templates come from ``--templates DIR`` and from ``<vault>/templates``;
no passphrase is needed (templates hold no health information).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from scanner.cli.context import AppContext, emit_json, pass_app, warn
from scanner.errors import BadInput


def _dirs(app: AppContext, extra: Path | None) -> list[Path]:
    """The --templates folder first, then the vault's own templates/ folder."""
    return ([extra] if extra else []) + app.template_dirs()


def _bad(exc: Exception) -> BadInput:
    msg = str(exc)
    return BadInput(msg if msg.endswith(".") else msg + ".")


_templates_option = click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder of your own templates (YAML or JSON), besides <vault>/templates.",
)


@click.group()
def forms() -> None:
    """Session form templates: list them, show their layout, check your own."""


@forms.command("list")
@_templates_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_cmd(app: AppContext, templates_dir: Path | None, as_json: bool) -> None:
    """List the built-in templates and your own (pages, privacy, and the paper a form fits when not every one)."""
    from forms.catalog import fitting
    from forms.errors import FormsError, TemplateError
    from forms.geometry import PAGE_SIZES
    from forms.model import BUILTIN_DIR, list_templates

    problems: list[TemplateError] = []
    try:
        templates = list_templates(_dirs(app, templates_dir), problems)
    except FormsError as exc:
        raise _bad(exc) from None
    left_out = [{"file": p.file, "problem": str(p)} for p in problems]
    rows: list[dict[str, Any]] = []
    for t in templates:
        builtin = t.source is not None and Path(t.source).parent == BUILTIN_DIR
        # The papers it can be printed on (and so read from): a tall form of one's own may fit only one.
        papers = [f.page_size for f in fitting(t)]
        rows.append(
            {
                "name": t.name,
                "code": t.code,
                "version": t.version,
                "title": t.title,
                "source": "built-in" if builtin else t.source,
                "papers": papers,
                "pages": [
                    {"number": p.number, "title": p.title, "privacy": p.privacy, "markers": list(p.markers),
                     "fields": len(p.fields)}
                    for p in t.pages
                ],
            }
        )
    if as_json:
        emit_json({"templates": rows, "left_out": left_out})
        return
    for bad in left_out:  # those of <vault>/templates were named already, as every command names them
        if templates_dir and bad["file"] and Path(bad["file"]).parent == templates_dir:
            warn(f"a template is left out until it is fixed: {bad['problem']}")
    for r in rows:
        pages = ", ".join(f"p{p['number']} {p['privacy']} ({p['fields']} fields)" for p in r["pages"])
        fit = "" if len(r["papers"]) == len(PAGE_SIZES) else (
            f"  ({' and '.join(r['papers'])} paper only)" if r["papers"] else "  (too tall for any paper)")
        click.echo(f"{r['name']:<12} {r['code']}  v{r['version']}  {r['title']}  [{pages}]{fit}  {r['source']}")


@forms.command("layout")
@click.argument("template")
@click.option("--page-size", type=click.Choice(["letter", "a4"]), default="letter", show_default=True,
              help="Paper size of the geometry (PDF points).")
@_templates_option
@click.option("--json", "as_json", is_flag=True, help="Print the geometry as JSON (points, origin top-left).")
@pass_app
def layout_cmd(app: AppContext, template: str, page_size: str, templates_dir: Path | None, as_json: bool) -> None:
    """Show where every field of TEMPLATE (a name or a file) sits on the page."""
    from forms.errors import FormsError
    from forms.geometry import layout
    from forms.model import get_template

    try:
        data = layout(get_template(template, _dirs(app, templates_dir)), page_size)
    except FormsError as exc:
        raise _bad(exc) from None
    if as_json:
        emit_json(data)
        return
    w, h = data["page_size_pt"]
    click.echo(f"{data['template']} v{data['version']} on {page_size} ({w} x {h} pt, origin top-left)")
    for page in data["pages"]:
        ids = ", ".join(f"{m['corner']}={m['id']}" for m in page["markers"])
        click.echo(f"page {page['number']}: {page['title']}  markers {ids}")
        for f in page["fields"]:
            x0, y0, x1, y1 = f["bbox"]
            box = f"[{x0:7.2f} {y0:7.2f} {x1:7.2f} {y1:7.2f}]"
            click.echo(f"  {f['key']:<26} {f['kind']:<8} {f['privacy']:<8} {box}  {f['label']}")


@forms.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_templates_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def validate_cmd(app: AppContext, file: Path, templates_dir: Path | None, as_json: bool) -> None:
    """Check a template file: its keys, its fields, its marker ids and that it fits letter and A4."""
    from forms.errors import FormsError
    from forms.geometry import PAGE_SIZES, page_layouts
    from forms.model import get_template

    try:
        t = get_template(file, _dirs(app, templates_dir))
        for size in PAGE_SIZES:
            page_layouts(t, size)
    except FormsError as exc:
        if as_json:
            emit_json(
                {
                    "file": str(file),
                    "valid": False,
                    "key_path": getattr(exc, "key_path", ""),
                    "problem": getattr(exc, "problem", str(exc)),
                    "message": str(exc),
                }
            )
        raise _bad(exc) from None
    result = {
        "file": str(file),
        "valid": True,
        "template": t.name,
        "code": t.code,
        "version": t.version,
        "pages": len(t.pages),
        "fields": len(t.fields),
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{file}: valid template '{t.name}' ({t.code} v{t.version}), "
                   f"{len(t.pages)} page{'s' * (len(t.pages) != 1)}, {len(t.fields)} field{'s' * (len(t.fields) != 1)}.")
