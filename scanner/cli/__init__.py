"""The ``inklock`` command line: thin commands over the library, one error translator.

Imports run one way: ``main`` builds the group and imports ``commands``, which
imports the command-group modules; every command module imports ``context``
(never ``main``). Each command parses its arguments, calls the library and
prints the result; :func:`scanner.cli.main.main` turns every exception into one
sentence on stderr and its exit code. The README's command reference is checked
against the registered commands (``tests/test_cli.py``).

Modules:

- ``main``: the group (``--vault``, ``--debug``) and ``main()``, the one place errors become exit codes (entry point ``inklock``)
- ``context``: ``AppContext`` (vault folder, passphrase, the opened vault, user templates), ``pass_app``, ``emit_json``
- ``commands``: ``register(group)`` attaches every command; ``ingest``, ``sessions``, ``show``, ``confirm``, ``demo`` live here
- ``vault``: ``init``, ``passwd``, ``backup``, ``restore``
- ``forms``: ``forms list``, ``forms layout``, ``forms validate``
- ``packet``: ``print`` (one client, a schedule, a calendar, blank sheets)
- ``scan``: ``scan``, ``watch``, ``doctor``
- ``review``: ``review`` (the local review page until Ctrl+C)
- ``note``: ``note`` (a progress-note draft or the signed note)
- ``sign``: ``settings``, ``sign``, ``addendum``
- ``search``: ``search``, ``reindex``
- ``summary``: ``summary`` (a client's treatment summary)
- ``demo``: the demo's run on ``samples/`` in a throwaway vault
- ``doctor``: the checks behind ``inklock doctor`` (one ``Check`` per part, with install advice)
- ``__main__``: ``python -m scanner.cli``
"""
