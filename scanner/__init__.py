"""Inklock scanner: the application, in packages that follow the pipeline.

A printed sheet comes back as a scan: ``ingest/`` loads, identifies, registers
and reads it; ``vault/`` keeps it encrypted (all SQL is in the vault package);
``hand/`` learns the clinician's handwriting from confirmed words; ``review/``
is where a person confirms each field; ``notes/`` turns confirmed progress
fields into documents; ``cli/`` is the ``inklock`` command over all of it.
``forms`` (beside this package) is the template model and the printed
geometry; it imports nothing from here.

House rules: no import circle between modules (function-local imports count);
no module over 500 lines; one exception hierarchy (``errors``) with exit codes,
turned into a sentence in one place (:mod:`scanner.cli.main`); lengths are PDF
points, origin top-left, y downward, converted to pixels at one boundary
(``ingest/register``, moving to ``pixels``). Each package's ``__init__`` names its modules;
``tests/test_docs.py`` checks that every module is named and every name exists.

Packages, in pipeline order:

- ``ingest/``: from paper to readings (pages, registration, marks, digits, handwriting, the writer)
- ``hand/``: the clinician's own handwriting: word crops, their vectors, suggestions, search by hand
- ``vault/``: the encrypted vault, the one store (all SQL), search, backups
- ``review/``: what the clinician sees and confirms: risk words, the local web app
- ``notes/``: progress notes, treatment summaries, charts, printed packets
- ``cli/``: the ``inklock`` command

Modules every package may use:

- ``errors``: the exception hierarchy; each class carries its exit code (SPEC section 8)
- ``values``: the one check of a typed value by kind and template (``BadValue``, exit 4)
- ``shorthand``: the clinician's shorthand: expansion for notes, variants for search, never "corrected"
- ``outfile``: the one safe writer of every output file (0600, temp file and rename; links and devices refused)
- ``pixels``: points to pixels on the registered page, and the stored crops' margin
- ``ui``: terminal output (progress bars, tables); nothing there decides anything
- ``__main__``: ``python -m scanner``, the same as ``inklock``
"""

__version__ = "0.1.0"
