"""One error root for the project.

The CLI prints any `CdcError` as one line and exits non-zero; everything else is a bug
and shows a traceback. `TransientError` marks failures worth retrying (a service that is
restarting, a timeout); every other `CdcError` is terminal.
"""


class CdcError(Exception):
    """A failure a person can act on; its message is the one line the CLI prints."""


class TransientError(CdcError):
    """A failure that may go away on retry (service restarting, timeout)."""


class ConfigError(CdcError):
    """The configuration file or an environment setting is invalid; names the key."""


class ServiceError(CdcError):
    """A service of the stack is missing, dead or unhealthy; names the service."""
