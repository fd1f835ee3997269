"""Stable identities of what `cdc superset sync` provisions.

Superset's import bundles match objects by UUID. Deriving each one from a name (the ODS
database, a table's `SCHEMA.TABLE`, a virtual dataset's name) makes every sync land on the
same objects, and a dashboard exported from Superset's UI refers to datasets by the same
UUIDs, so it can be dropped into `monitoring/superset/` as it is.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("5d1c0a3e-8f0e-4c4e-9a55-0c1d0a0d5e7b")

DATABASE_NAME = "ODS"


def database_uuid() -> str:
    return str(uuid.uuid5(NAMESPACE, f"database:{DATABASE_NAME}"))


def dataset_uuid(name: str) -> str:
    """A physical dataset by `SCHEMA.TABLE` (e.g. `ODS.MYSQL_MAF_MOVIES`), a virtual one by
    its name (e.g. `cdc_ods_tables`)."""
    return str(uuid.uuid5(NAMESPACE, f"dataset:{name}"))


def query_uuid(label: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"saved_query:{label}"))
