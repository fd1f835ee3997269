"""Schema drift in the embedded cleansing runner: a source table gained a column.

From the first change after an `ALTER TABLE ... ADD COLUMN`, Debezium puts the new column
into the raw records' row images. A script whose raw stream does not declare it would drop
its value, so the engine checks every record's images against the declaration
(`cdc_ods.ksql.engine.new_fields`) and the runner hands the first unknown field of a table
to `SchemaDrift.resolve`:

- The table's script is still the unedited output of `cdc ksql generate` (its digest mark
  matches): the source schema is read again, the script regenerated, written to the
  runtime directory (`<data_dir>/ksql-regenerated/<group>/`; never into ksql/, which is the
  operator's folder, tracked in git and mounted read-only in docker-compose) and the plan
  rebuilt with it. The runner switches engines before it processes the record that showed
  the drift, so nothing is lost or reordered, and offsets are still committed only after
  the outputs are acknowledged. A restarted runner runs ksql/ again and regenerates again
  on the first such record; `cdc ksql generate --update` makes the change permanent.
- The script was edited by hand (or the topic is no configured table, or the source no
  longer has the column): nothing is rewritten. A warning names the table and the column,
  and `cdc_cleansing_schema_drift_unhandled{topic}` (alert CleansingSchemaDrift) stays up
  until the script is edited and the runner restarted.

Each (topic, field) is handled once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.ksql import metrics
from cdc_ods.ksql.engine import Drift, Engine
from cdc_ods.ksql.errors import KsqlError
from cdc_ods.ksql.generate import is_unedited, table_script
from cdc_ods.ksql.plan import Stream, plan_scripts
from cdc_ods.sources import TableCatalog, source_for

log = logging.getLogger("cdc_ods.cleansing")

RUNTIME_DIR = "ksql-regenerated"  # under the stack's data directory

CatalogReader = Callable[[SourceConfig, str], TableCatalog]


@dataclass(frozen=True)
class SourceTable:
    source: SourceConfig
    table: str


def source_tables(config: Config) -> dict[str, SourceTable]:
    """The configured tables whose scripts can be generated, by raw topic."""
    return {
        contract.raw_topic(s.name, s.namespace, t): SourceTable(s, t)
        for s in config.sources
        if s.enabled and s.has_catalog
        for t in source_for(config, s).tables()
    }


def runtime_dir(config: Config, group: str) -> Path:
    """Per consumer group: a test's runner never overwrites what the stack's runs."""
    return config.data_dir / RUNTIME_DIR / group


class SchemaDrift:
    def __init__(
        self,
        scripts: dict[str, str],
        directory: Path,
        tables: dict[str, SourceTable],
        read_catalog: CatalogReader,
    ) -> None:
        """`scripts`: the running texts by origin, in plan order; `directory`: where
        regenerated scripts are written."""
        self.scripts = dict(scripts)
        self.directory = directory
        self.tables = tables
        self.read_catalog = read_catalog
        self._seen: set[tuple[str, str]] = set()
        self._unhandled: dict[str, set[str]] = {}

    def resolve(self, drift: Drift) -> Engine | None:
        """An engine running the regenerated scripts, or None when none was regenerated."""
        regenerated = False
        for stream, fields in drift:
            new = frozenset(f for f in fields if (stream.topic, f) not in self._seen)
            if new and self._handle(stream, new):
                regenerated = True
        return Engine(plan_scripts(self.scripts)) if regenerated else None

    def _handle(self, stream: Stream, fields: frozenset[str]) -> bool:
        table = self.tables.get(stream.topic)
        if table is None:
            self._unresolved(stream, fields, "it is not a configured source table")
        elif not is_unedited(self.scripts[stream.origin]):
            self._unresolved(stream, fields, f"{stream.origin} was edited by hand")
        else:
            # a failure to read propagates before anything is marked: the runner restarts
            # and replays the uncommitted records, which show the drift again
            catalog = self.read_catalog(table.source, table.table)
            present = fields & {c.name for c in catalog.columns}
            if fields - present:
                self._unresolved(stream, fields - present, "the source table has no such column (dropped?)")
            if present:
                return self._regenerate(stream, table, catalog, present)
        return False

    def _regenerate(
        self, stream: Stream, table: SourceTable, catalog: TableCatalog, fields: frozenset[str]
    ) -> bool:
        text = table_script(table.source, catalog)
        path = self.directory / Path(stream.origin).name
        scripts = {(str(path) if o == stream.origin else o): t for o, t in self.scripts.items()}
        scripts[str(path)] = text
        try:
            plan_scripts(scripts)
        except KsqlError as exc:  # never expected of generated text; keep running the old plan
            self._unresolved(stream, fields, f"the regenerated script does not load: {exc}")
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        # the group's other processes may write the same script now: each its own partial file
        partial = path.with_suffix(f".sql.{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
        self.scripts = scripts
        # the topic's known fields are now the ones the new script declares: a column it no
        # longer has (dropped at the source) is handled again if it comes back (added again,
        # or a column renamed back to it)
        self._seen = {seen for seen in self._seen if seen[0] != stream.topic}
        self._seen.update((stream.topic, c.name) for c in catalog.columns)
        metrics.SCHEMA_DRIFT.labels(stream.topic, "regenerated").inc(len(fields))
        log.warning(
            "%s: source column(s) %s added; regenerated its script into %s and running it"
            " (`cdc ksql generate --update` writes it into ksql/)",
            stream.topic,
            ", ".join(sorted(fields)),
            path,
        )
        return True

    def _unresolved(self, stream: Stream, fields: frozenset[str], why: str) -> None:
        self._seen.update((stream.topic, f) for f in fields)
        unhandled = self._unhandled.setdefault(stream.topic, set())
        unhandled.update(fields)
        metrics.SCHEMA_DRIFT.labels(stream.topic, "manual").inc(len(fields))
        metrics.SCHEMA_DRIFT_UNHANDLED.labels(stream.topic).set(len(unhandled))
        log.warning(
            "%s: source column(s) %s are not in the cleansing script and are dropped: %s."
            " Add them to the script (stream %s), then restart the runner",
            stream.topic,
            ", ".join(sorted(fields)),
            why,
            stream.name,
        )
