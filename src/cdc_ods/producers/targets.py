"""The producer of each configured source, with its address and admin credentials."""

from __future__ import annotations

from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.producers.mongodb import MongoTarget, mongo_uri
from cdc_ods.producers.mysql import MySQLTarget
from cdc_ods.producers.postgres import PostgresTarget
from cdc_ods.producers.runner import Target
from cdc_ods.secrets import ADMIN_USER
from cdc_ods.stack.context import StackContext

SOURCES = ("mysql", "postgres", "mongodb")


def target(config: Config, name: str) -> Target:
    """The producer for source `name` of the config (its database and schema)."""
    source = config.source(name)
    endpoints = Endpoints.from_config(config)
    if name == "mysql":
        password = StackContext(config).credentials.mysql_admin.get_secret_value()
        return MySQLTarget(endpoints.mysql, ADMIN_USER, password, source.database)
    if name == "postgres":
        password = StackContext(config).credentials.postgres_admin.get_secret_value()
        return PostgresTarget(
            endpoints.postgres, ADMIN_USER, password, source.database, source.schema_ or "public"
        )
    if name == "mongodb":
        return MongoTarget(*mongo_uri(), source.database)
    raise ConfigError(f"no producer for source {name!r} (have {', '.join(SOURCES)})")


def targets(config: Config, which: str) -> list[Target]:
    """`which` is a source name, or `all`: every enabled source of the config."""
    if which != "all":
        return [target(config, which)]
    names = [s.name for s in config.sources if s.enabled]
    if not names:
        raise ConfigError("sources: no enabled source to produce into")
    return [target(config, name) for name in names]
