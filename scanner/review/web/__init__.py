"""The local review web app (SPEC section 6): ``create_app`` builds it, ``make_server`` serves it on 127.0.0.1."""

from scanner.review.web.app import create_app
from scanner.review.web.server import make_server, review_url
from scanner.review.web.state import state_of

__all__ = ["create_app", "make_server", "review_url", "state_of"]
