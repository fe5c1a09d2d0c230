"""Review: what the clinician sees and confirms (risk words, the local web app).

Every field read from a scan waits here until the clinician confirms it
(or keeps a private one as written). The web app is a Flask app on 127.0.0.1 only, behind a
per-run token, a cookie, CSRF tokens and an idle lock (``web/security``).

Modules:

- ``risk``: risk-screen answers in words (``add_risk``, ``flagged_keys``, ``last_screen``), from confirmed or read values
- ``confirm``: confirm a field, then learn from it
- ``web/``: the local review web app
"""
