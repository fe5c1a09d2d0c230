"""One exception hierarchy; each class carries the exit code the CLI uses.

The library raises these; only ``scanner.cli.main`` turns them into a message and an
exit code (see SPEC section 8).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    REFUSED = 3
    BAD_INPUT = 4


class InklockError(Exception):
    """Base of every error Inklock reports to a user. ``message`` is one sentence."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(InklockError):
    exit_code = ExitCode.USAGE


class Refused(InklockError):
    exit_code = ExitCode.REFUSED


class WrongPassphrase(Refused):
    pass


class UnconfirmedFields(Refused):
    def __init__(self, message: str, fields: list[str]):
        super().__init__(message)
        self.fields = fields


class BadInput(InklockError):
    exit_code = ExitCode.BAD_INPUT


class BadValue(BadInput):
    """A typed value the field does not allow (scanner.values); the review page answers 400, not 404."""


class VaultMissing(BadInput):
    pass


class VaultDamaged(BadInput):
    pass
