"""Inklock forms: template model, built-in templates, renderer and field geometry.

Imports nothing from ``scanner``. Lengths are PDF points, origin top-left, y
downward. Built-in templates (YAML) are in ``templates/``.

Contracts (details in each module's docstrings)::

    load_template(path) -> Template                  # YAML or JSON; TemplateError(.file, .key_path, .problem)
    get_template(name_or_path, extra_dirs=()) -> Template; list_templates(extra_dirs=(), problems=None)
                                                     # a broken user file is left out (its error in problems)
    encode(code, version, sheet_id, page) -> "IL1:SES:1:K7Q2M9XP:2:C"; decode(text) -> SheetRef
    layout(template, page_size="letter")             # SPEC section 3 geometry, plus markers, QR, header boxes
    render_sheets(sheets, out_path, page_size="letter") -> pages written

Modules:

- ``model``: the template model (``Template``, ``Page``, ``Field``, ``Option``), loading and validation, ``marker_index``
- ``parsing``: template file text to plain data (safe YAML, every key once; JSON)
- ``errors``: the package's exceptions (``FormsError`` and its kinds)
- ``payload``: the QR payload of a printed page: format, template code, version, sheet id, page, check character
- ``flow``: a page's fields flowed into its content area: headings, rows, one or two columns
- ``geometry``: where everything sits on a printed page (``PAGE_SIZES``, ``layout``, ``page_layouts``)
- ``boxes``: ``FieldBox`` and ``PageLayout``, the typed geometry
- ``catalog``: one cached lookup of a sheet's template and layout
- ``render``: sheets to PDF with ReportLab, drawing exactly the geometry of ``geometry``
"""
