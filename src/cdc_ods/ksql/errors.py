"""Errors of the KSQL scripts, each one line naming the script, line and construct.

A record that cannot be evaluated at run time (a bad type, a failed CAST) is not a script
error: it raises `cdc_ods.errors.Rejected` and becomes a dead letter.
"""

from __future__ import annotations

from cdc_ods.errors import CdcError


class KsqlError(CdcError):
    """A script problem found before anything runs: syntax, unknown name, unsupported construct."""

    def __init__(self, message: str, line: int | None = None, origin: str | None = None) -> None:
        self.line = line
        self.origin = origin
        self.bare = message
        where = ":".join(str(part) for part in (origin, line) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)

    def located(self, origin: str) -> KsqlError:
        """The same error naming the script it came from."""
        return type(self)(self.bare, self.line, origin)


class UnsupportedError(KsqlError):
    """Valid-looking KSQL outside the subset the embedded backend runs."""
