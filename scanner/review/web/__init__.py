"""The local review web app (SPEC section 6): ``create_app`` builds it, ``make_server`` serves it on 127.0.0.1.

Imports run one way: ``app`` imports the page modules and registers their
routes (each page module has ``register(app)``); pages and ``server`` reach the
run's state through ``state.state_of``, never through ``app``. Templates and
static files are in ``templates/`` and ``static/`` beside these modules.

Modules:

- ``app``: ``create_app``: the Flask app, the request guard (host, cookie, CSRF, idle lock) and security headers
- ``state``: what one review run holds: ``VaultHolder`` (the vault, closed while locked), ``ReviewState``, ``state_of``
- ``security``: ``Guard``: the per-run token, cookie, CSRF and Origin checks, the idle clock, the response headers
- ``server``: werkzeug's threaded server bound to 127.0.0.1; ``review_url``; the idle watch
- ``views``: the queue, session, note, trends, unmatched and unlock pages and their JSON endpoints; the error pages
- ``fields``: what the session page shows of each field (pure functions over store rows and geometry)
- ``notepage``: the note page's actions: clinician settings, sign, addendum
- ``searchpage``: the search page (results beside their handwriting, the query sent by POST)
- ``blanks``: blank sheets: give a sheet printed blank its client, date and session
- ``unmatched``: the unmatched-page queue: assign (and read again) or discard
"""

from scanner.review.web.app import create_app
from scanner.review.web.server import make_server, review_url
from scanner.review.web.state import state_of

__all__ = ["create_app", "make_server", "review_url", "state_of"]
