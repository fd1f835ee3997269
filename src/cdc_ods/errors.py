"""One error model for the project.

The CLI prints any `CdcError` as one line and exits non-zero; everything else is a bug
and shows a traceback. A stage (cleansing, loader, collector) meets three kinds:

- `Rejected`: one record cannot be processed, now or ever (not JSON, a value that does not
  convert, a row Phoenix refuses). Terminal for the record, never for the stage: the record
  goes to the dead-letter topic (`cdc_ods.dlq`) with the reason, and the stage goes on.
- `TransientError`: a service is unavailable or slow (Kafka, Phoenix, a source database);
  the same work is retried, or left uncommitted and replayed after a restart.
- Every other `CdcError` (`ConfigError`, `ServiceError`, ...) is terminal for the stage: it
  stops with that one line and dead-letters nothing, since no record is at fault.
"""

from __future__ import annotations


class CdcError(Exception):
    """A failure a person can act on; its message is the one line the CLI prints."""


class TransientError(CdcError):
    """A failure that may go away on retry (service restarting, timeout)."""


class ConfigError(CdcError):
    """The configuration file or an environment setting is invalid; names the key."""


class ServiceError(CdcError):
    """A service of the stack is missing, dead or unhealthy; names the service."""


class Rejected(CdcError):
    """A record a stage cannot process: what its dead letter says (see the module docstring).

    Raised where the reason is known, often deep in decoding where the record's origin is
    not; the stage adds it with `at` before the record is dead-lettered. `partition` and
    `offset` are -1 for a record that never was in Kafka (an event the collector refused).
    """

    def __init__(self, reason: str, stage: str = "", topic: str = "", partition: int = -1, offset: int = -1):
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.topic = topic
        self.partition = partition
        self.offset = offset

    def at(self, stage: str, topic: str, partition: int, offset: int) -> Rejected:
        """The same rejection, saying which stage rejected the record and where it came from."""
        return Rejected(self.reason, stage, topic, partition, offset)
