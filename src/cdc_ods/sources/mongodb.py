"""MongoDB sources: Debezium's change-stream connector (docker-compose only: no MongoDB
server can be installed on the development machines, see README)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cdc_ods.errors import CdcError
from cdc_ods.sources.base import (
    COMMON_CONNECTOR_OPTIONS,
    SIGNAL_TABLE,
    CatalogColumn,
    Finding,
    Preparation,
    Role,
    Source,
    TableCatalog,
)
from cdc_ods.sources.types import ColumnType

CONNECTOR_CLASS = "io.debezium.connector.mongodb.MongoDbConnector"
# options of the other kinds that the MongoDB connector does not define
_NOT_FOR_MONGODB = (
    "decimal.handling.mode",
    "time.precision.mode",
    "binary.handling.mode",
    "poll.interval.ms",
)


class MongoSource(Source):
    @staticmethod
    def column_type(column: CatalogColumn) -> ColumnType:
        raise CdcError("MongoDB collections have no column types: their cleansing scripts are hand-written")

    def _local_address(self) -> str:
        return self.endpoints.mongodb

    def connect(self, role: Role = "read", autocommit: bool = True) -> Any:
        raise CdcError(f"{self.name}: cdc reads no MongoDB catalog (collections have no schema)")

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        raise CdcError(f"{self.name}.{table}: reconcile compares relational sources only")

    def namespace_tables(self) -> list[str]:
        """The configured collections as named: without a client there is nothing to match
        patterns against."""
        patterns = [t for t in self.source.tables if any(c in t for c in "*?[")]
        if patterns:
            raise CdcError(f"sources.{self.name}.tables: MongoDB collections must be named, not {patterns}")
        return list(self.source.tables)

    def catalog(self, table: str) -> TableCatalog:
        raise CdcError(
            f"{self.name}.{table}: a MongoDB collection has no schema to read; write its script by hand"
        )

    def position(self) -> tuple[int, int]:
        raise CdcError(f"{self.name}: no MongoDB oplog position is read here")

    def connector_config(self, tables: list[str]) -> dict[str, str]:
        database = self.source.database
        options = {k: v for k, v in COMMON_CONNECTOR_OPTIONS.items() if k not in _NOT_FOR_MONGODB}
        capture = self.source.capture
        user, password_env = (
            (capture.user, capture.password_env) if capture else ("debezium", "CDC_MONGODB_DEBEZIUM_PASSWORD")
        )
        return {
            "connector.class": CONNECTOR_CLASS,
            "mongodb.connection.string": f"mongodb://{self.address}/?replicaSet=rs0",
            "mongodb.user": user,
            "mongodb.password": f"${{env:{password_env}}}",
            "mongodb.authsource": "admin",
            "topic.prefix": self.name,
            "database.include.list": database,
            "collection.include.list": ",".join(f"{database}.{t}" for t in tables),
            "capture.mode": "change_streams_update_full",
            "signal.data.collection": f"{database}.{SIGNAL_TABLE}",
            **options,
            **self._topic_options(),
        }

    def signal_table_sql(self) -> str:
        return f"{self.source.database}.{SIGNAL_TABLE}"

    def preflight(self) -> list[Finding]:
        return self.check(self.source.tables)

    def check(self, tables: list[str]) -> list[Finding]:
        return [
            self.finding(
                "server",
                "not checked: no MongoDB server runs here and cdc has no MongoDB preflight",
                "check the replica set and the debezium user's roles by hand (see docker/mongodb/)",
                "warning",
            )
        ]

    def preparation(self, tables: list[str]) -> Preparation:
        return Preparation(manual=["MongoDB: the compose init script creates the users and the replica set"])
