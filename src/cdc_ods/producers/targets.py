"""The producer of each demo source, with its address and admin login (from its Source).

The producers write the demo workload (producers/*.sql): a source is one of theirs when it
captures the demo tables of its kind. `cdc produce all` writes into every such enabled
source and leaves the others (a user's own databases) alone.
"""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.errors import ConfigError
from cdc_ods.producers.mongodb import MongoTarget, mongo_uri
from cdc_ods.producers.mysql import MySQLTarget
from cdc_ods.producers.postgres import PostgresTarget
from cdc_ods.producers.runner import Target
from cdc_ods.sources import source_for

# kind -> the tables its demo workload writes
DEMO_TABLES = {
    "mariadb": {"movies", "app_events"},
    "mysql": {"movies", "app_events"},
    "postgres": {"tv_series", "episodes"},
    "mongodb": {"persons"},
}


def is_demo_source(source: SourceConfig) -> bool:
    return set(source.tables) == DEMO_TABLES[source.kind]


def target(config: Config, name: str) -> Target:
    """The producer for source `name` of the config (its database and schema)."""
    source = config.source(name)
    if not is_demo_source(source):
        wanted = ", ".join(sorted(DEMO_TABLES[source.kind]))
        raise ConfigError(
            f"sources.{name}: the producers write only the demo tables ({wanted}); this source captures"
            f" {', '.join(source.tables)}"
        )
    src = source_for(config, source)
    if source.kind == "mongodb":
        return MongoTarget(*mongo_uri(src.address), source.database)
    login, password = src.login("admin"), src.password("admin").get_secret_value()
    if source.kind == "postgres":
        return PostgresTarget(src.address, login.user, password, source.database, source.namespace, src.tls)
    return MySQLTarget(src.address, login.user, password, source.database, src.tls)


def targets(config: Config, which: str) -> list[Target]:
    """`which` is a source name, or `all`: every enabled demo source of the config."""
    if which != "all":
        return [target(config, which)]
    names = [s.name for s in config.sources if s.enabled and is_demo_source(s)]
    if not names:
        raise ConfigError("sources: no enabled demo source to produce into")
    return [target(config, name) for name in names]
