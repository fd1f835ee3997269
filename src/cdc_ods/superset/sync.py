"""`cdc superset sync`: the ODS in Superset, as one import of Superset's own bundle format.

One bundle carries everything, every object under a stable UUID (`uuids`), so a sync is
idempotent and lands on the same objects each time:

- the ODS database (`cdc_phoenix://` at the configured Query Server; no DML from SQL Lab);
- a dataset per table of the ODS and CDC schemas, with its columns as Phoenix reports them;
- two generated virtual datasets over every ODS table, for the replication dashboard:
  `cdc_ods_tables` (rows and freshness per table) and `cdc_ods_changes` (rows loaded per
  table, last operation and minute, over the last day);
- the workspace's `monitoring/superset/` files as they are (datasets, charts, dashboards,
  in Superset's export format, so a dashboard exported from the UI can be dropped in);
- a saved SQL Lab query per `-- name:` block of the workspace's `ods/queries.sql`.

With `--every N` it stays running (the stack's `superset-sync` process) and imports again
whenever the ODS gains a table or a column, or a file changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phoenixdb
import yaml

from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, TransientError
from cdc_ods.ods.phoenix import connect, error_message
from cdc_ods.superset.client import SupersetClient
from cdc_ods.superset.uuids import DATABASE_NAME, database_uuid, dataset_uuid, query_uuid

VERSION = "1.0.0"
SCHEMAS = ("ODS", "CDC")  # the replicated tables, and the pipeline's own (CDC.SEQUENCE_INTEGRITY)
TIME_TYPES = {"TIMESTAMP", "DATE", "TIME", "UNSIGNED_TIMESTAMP", "UNSIGNED_DATE", "UNSIGNED_TIME"}
# the columns every table the loader creates has, which the replication datasets read
AUDIT_COLUMNS = {"CDC_OP", "CDC_LOADED_AT", "CDC_SOURCE_TS"}

# a table -> its (column, Phoenix type name) in order
Catalog = dict[tuple[str, str], list[tuple[str, str]]]


@dataclass(frozen=True)
class SyncReport:
    datasets: int
    charts: int
    dashboards: int
    queries: int
    waiting: dict[str, str]

    def __str__(self) -> str:
        text = (
            f"{self.datasets} datasets, {self.charts} charts, {self.dashboards} dashboards,"
            f" {self.queries} saved queries"
        )
        if self.waiting:
            text += "; waiting: " + "; ".join(f"{name} ({why})" for name, why in self.waiting.items())
        return text


def read_catalog(phoenix_url: str) -> Catalog:
    """Every table and view of the ODS and CDC schemas, with its columns."""
    conn = connect(phoenix_url)
    try:
        columns: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
        for schema in SCHEMAS:
            for row in conn.meta().get_columns(schemaPattern=schema):
                if row["TABLE_SCHEM"] == schema:
                    columns.setdefault((schema, row["TABLE_NAME"]), []).append(
                        (row["ORDINAL_POSITION"], row["COLUMN_NAME"], row["TYPE_NAME"])
                    )
    except (phoenixdb.errors.Error, OSError) as exc:
        raise TransientError(f"Phoenix Query Server at {phoenix_url}: {error_message(exc)}") from None
    finally:
        with contextlib.suppress(phoenixdb.errors.Error, OSError):  # a Query Server gone meanwhile
            conn.close()
    return {table: [(c, t) for _, c, t in sorted(cols)] for table, cols in sorted(columns.items())}


def sqlalchemy_uri(phoenix_url: str) -> str:
    """The Query Server's address as Superset's URI for it (our `cdc_phoenix` dialect)."""
    match = re.fullmatch(r"http://([^/]+)/?", phoenix_url.strip())
    if not match:
        raise CdcError(
            f"Superset reaches Phoenix at http://HOST:PORT/ only; the Query Server's address is {phoenix_url}"
        )
    return f"cdc_phoenix://{match.group(1)}/"


def database_yaml(uri: str) -> dict[str, Any]:
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": uri,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,  # read-only for Superset's users: SQL Lab refuses UPSERT, DELETE, DDL
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": database_uuid(),
        "version": VERSION,
    }


def _column(name: str, type_name: str) -> dict[str, Any]:
    return {
        "column_name": name,
        "verbose_name": None,
        "is_dttm": type_name in TIME_TYPES,
        "is_active": True,
        "type": type_name,
        "groupby": True,
        "filterable": True,
        "expression": None,
        "description": None,
        "python_date_format": None,
    }


def dataset_yaml(
    schema: str,
    name: str,
    columns: list[tuple[str, str]],
    sql: str | None = None,
    uuid_name: str | None = None,
) -> dict[str, Any]:
    """A physical dataset (a table), or a virtual one when `sql` is given."""
    time_columns = [c for c, t in columns if t in TIME_TYPES]
    main_dttm = next((c for c in ("CDC_LOADED_AT", "EVENT_TS") if c in time_columns), None)
    return {
        "table_name": name,
        "main_dttm_col": main_dttm or (time_columns[0] if time_columns else None),
        "description": None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": schema,
        "sql": sql,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "uuid": dataset_uuid(uuid_name or f"{schema}.{name}"),
        "metrics": [
            {
                "metric_name": "count",
                "verbose_name": "COUNT(*)",
                "metric_type": "count",
                "expression": "COUNT(*)",
                "description": None,
                "d3format": None,
                "warning_text": None,
            }
        ],
        "columns": [_column(c, t) for c, t in columns],
        "version": VERSION,
        "database_uuid": database_uuid(),
    }


def replication_datasets(catalog: Catalog) -> list[dict[str, Any]]:
    """`cdc_ods_tables` and `cdc_ods_changes`, over every ODS table with the audit columns."""
    tables = [t for (s, t), cols in catalog.items() if s == "ODS" and {c for c, _ in cols} >= AUDIT_COLUMNS]
    if not tables:  # a fresh ODS: the datasets exist, empty, until the loader creates a table
        nothing = " FROM SYSTEM.CATALOG LIMIT 0"
        per_table = [
            "SELECT CAST(NULL AS VARCHAR) AS ODS_TABLE, CAST(0 AS BIGINT) AS ROW_COUNT, CAST(NULL AS"
            " TIMESTAMP) AS NEWEST_SOURCE_COMMIT, CAST(NULL AS TIMESTAMP) AS LAST_LOADED" + nothing
        ]
        changes = [
            "SELECT CAST(NULL AS VARCHAR) AS ODS_TABLE, CAST(NULL AS VARCHAR) AS CDC_OP, CAST(NULL AS"
            " TIMESTAMP) AS CDC_LOADED_AT, CAST(NULL AS TIMESTAMP) AS CDC_SOURCE_TS,"
            " CAST(0 AS BIGINT) AS CHANGES" + nothing
        ]
    else:
        per_table = [
            f"SELECT '{t}' AS ODS_TABLE, COUNT(*) AS ROW_COUNT, MAX(CDC_SOURCE_TS) AS NEWEST_SOURCE_COMMIT,"
            f" MAX(CDC_LOADED_AT) AS LAST_LOADED FROM ODS.{t}"
            for t in tables
        ]
        # changes per table, operation and minute, aggregated here: the raw rows of a day of
        # every table took over a minute to chart. The T. prefix: Phoenix calls an alias named as
        # its own column ambiguous. NOW(), not CURRENT_DATE(): Superset re-formats a virtual
        # dataset's SQL with a generic parser that drops CURRENT_DATE's parentheses.
        changes = [
            f"SELECT '{t}' AS ODS_TABLE, CAST(T.CDC_OP AS VARCHAR) AS CDC_OP,"
            f" CAST(TRUNC(T.CDC_LOADED_AT, 'MINUTE') AS TIMESTAMP) AS CDC_LOADED_AT,"
            f" MAX(T.CDC_SOURCE_TS) AS CDC_SOURCE_TS, COUNT(*) AS CHANGES"
            f" FROM ODS.{t} T WHERE T.CDC_LOADED_AT > NOW() - 1"
            f" GROUP BY T.CDC_OP, CAST(TRUNC(T.CDC_LOADED_AT, 'MINUTE') AS TIMESTAMP)"
            for t in tables
        ]
    return [
        dataset_yaml(
            "ODS",
            "cdc_ods_tables",
            [("ODS_TABLE", "VARCHAR"), ("ROW_COUNT", "BIGINT"), ("NEWEST_SOURCE_COMMIT", "TIMESTAMP"),
             ("LAST_LOADED", "TIMESTAMP")],
            sql="\nUNION ALL\n".join(per_table),
            uuid_name="cdc_ods_tables",
        ),
        dataset_yaml(
            "ODS",
            "cdc_ods_changes",
            [("ODS_TABLE", "VARCHAR"), ("CDC_OP", "VARCHAR"), ("CDC_LOADED_AT", "TIMESTAMP"),
             ("CDC_SOURCE_TS", "TIMESTAMP"), ("CHANGES", "BIGINT")],
            sql="\nUNION ALL\n".join(changes),
            uuid_name="cdc_ods_changes",
        ),
    ]  # fmt: skip


def saved_queries(path: Path) -> list[dict[str, Any]]:
    """A saved SQL Lab query per `-- name: X` block of `path` (its comment lines describe it)."""
    if not path.is_file():
        return []
    queries = []
    for block in re.split(r"^-- name: ", path.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        label, _, body = block.partition("\n")
        lines = body.strip().splitlines()
        description = " ".join(line[2:].strip() for line in lines if line.startswith("--"))
        sql = "\n".join(line for line in lines if not line.startswith("--")).strip().rstrip(";")
        queries.append(
            {
                "schema": "ODS",
                "label": label.strip(),
                "description": description,
                "sql": sql,
                "uuid": query_uuid(label.strip()),
                "version": VERSION,
                "database_uuid": database_uuid(),
            }
        )
    return queries


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]  # path in the zip -> content
    # provisioned files left out until the ODS has their tables: file -> why
    waiting: dict[str, str] = field(default_factory=dict)

    def count(self, folder: str) -> int:
        return sum(1 for name in self.files if name.split("/")[1] == folder)

    def zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in sorted(self.files.items()):
                archive.writestr(name, content)
        return buffer.getvalue()

    def digest(self) -> str:
        return hashlib.sha256(
            b"".join(n.encode() + b"\0" + c for n, c in sorted(self.files.items()))
        ).hexdigest()


def _dump(data: dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


@dataclass(frozen=True)
class _AssetFile:
    name: str
    content: bytes  # as the workspace has it: imported unchanged
    data: dict[str, Any]


def _asset_files(assets: Path, folder: str) -> list[_AssetFile]:
    directory = assets / folder
    loaded = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        content = path.read_bytes()
        data = yaml.safe_load(content)
        if not isinstance(data, dict) or "uuid" not in data:
            raise CdcError(f"{path}: not a Superset export file (a mapping with a uuid)")
        loaded.append(_AssetFile(path.name, content, data))
    return loaded


def build_bundle(catalog: Catalog, uri: str, assets: Path, queries_file: Path) -> Bundle:
    """The import bundle: generated database, datasets and queries, plus the files of `assets`
    (a missing folder is no assets). A chart whose dataset is not there (its table not yet in
    the ODS: no app event loaded yet, say) waits, with the dashboards that place it: Superset
    refuses the whole import otherwise."""
    root = "cdc_ods_assets"
    files = {
        f"{root}/metadata.yaml": _dump(
            {"version": VERSION, "type": "assets", "timestamp": "1970-01-01T00:00:00+00:00"}
        ),
        f"{root}/databases/{DATABASE_NAME}.yaml": _dump(database_yaml(uri)),
    }
    carried: set[str] = set()  # the datasets' UUIDs
    generated = [dataset_yaml(schema, table, columns) for (schema, table), columns in catalog.items()]
    for data in generated:
        files[f"{root}/datasets/{DATABASE_NAME}/{data['schema']}.{data['table_name']}.yaml"] = _dump(data)
        carried.add(data["uuid"])
    for data in replication_datasets(catalog):
        files[f"{root}/datasets/{DATABASE_NAME}/{data['table_name']}.yaml"] = _dump(data)
        carried.add(data["uuid"])
    for asset in _asset_files(assets, "datasets"):
        files[f"{root}/datasets/{DATABASE_NAME}/{asset.name}"] = asset.content
        carried.add(asset.data["uuid"])
    waiting: dict[str, str] = {}
    charts: set[str] = set()
    for asset in _asset_files(assets, "charts"):
        if asset.data.get("dataset_uuid") not in carried:
            waiting[asset.name] = f"its dataset {asset.data.get('dataset_uuid')} is not in the ODS yet"
            continue
        charts.add(asset.data["uuid"])
        files[f"{root}/charts/{asset.name}"] = asset.content
    for asset in _asset_files(assets, "dashboards"):
        placed = {
            v["meta"]["uuid"]
            for v in (asset.data.get("position") or {}).values()
            if isinstance(v, dict) and v.get("type") == "CHART"
        }
        if placed - charts:
            waiting[asset.name] = f"{len(placed - charts)} of its charts wait for their tables"
            continue
        files[f"{root}/dashboards/{asset.name}"] = asset.content
    for query in saved_queries(queries_file):
        files[f"{root}/queries/{DATABASE_NAME}/{query['label']}.yaml"] = _dump(query)
    return Bundle(files, waiting)


def workspace_bundle(config: Config) -> Bundle:
    endpoints = Endpoints.from_config(config)
    return build_bundle(
        read_catalog(endpoints.phoenix_url),
        sqlalchemy_uri(endpoints.phoenix_url),
        config.root / "monitoring" / "superset",
        config.root / "ods" / "queries.sql",
    )


def import_bundle(config: Config, bundle: Bundle) -> SyncReport:
    with SupersetClient.of(config) as client:
        client.import_bundle(bundle.zip())
    return SyncReport(
        datasets=bundle.count("datasets"),
        charts=bundle.count("charts"),
        dashboards=bundle.count("dashboards"),
        queries=bundle.count("queries"),
        waiting=bundle.waiting,
    )


def sync_superset(config: Config) -> SyncReport:
    """One sync: read the ODS's tables, import the bundle."""
    return import_bundle(config, workspace_bundle(config))


def keep_in_step(config: Config, every_s: float, report: Callable[[str], None]) -> None:
    """Sync now, then every `every_s` import again when the bundle changed (a new table or
    column, an edited file); a failed round is reported and tried again at the next."""
    last = ""
    while True:
        try:
            bundle = workspace_bundle(config)
            digest = bundle.digest()
            if digest != last:
                report(f"imported {import_bundle(config, bundle)}")
                last = digest
        except CdcError as exc:
            report(f"sync failed (next try in {every_s:.0f}s): {exc}")
        time.sleep(every_s)


def check_ods_database(config: Config) -> None:
    """Superset's own connection test of its ODS database (the address it has stored): a
    TransientError naming the address and Superset's message when it cannot reach it."""
    with SupersetClient.of(config) as client:
        found = client.find("database", "database_name", DATABASE_NAME)
        if not found:
            raise TransientError(f"Superset has no {DATABASE_NAME} database yet: run `cdc superset sync`")
        stored = client.request("GET", f"/api/v1/database/{found[0]['id']}/connection")["result"]
        uri = stored["sqlalchemy_uri"]
        try:
            client.request(
                "POST",
                "/api/v1/database/test_connection/",
                json={"database_name": DATABASE_NAME, "sqlalchemy_uri": uri},
            )
        except TransientError:
            raise
        except CdcError as exc:
            raise TransientError(
                f"Superset cannot reach its {DATABASE_NAME} database at {uri}: {exc}"
            ) from None
