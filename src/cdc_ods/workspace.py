"""`cdc init DIR`: a starting workspace for a new user, apart from the tool's own files.

The workspace is the operator's: cdc.yaml and, next to it, `connectors/` (per-source
overrides of the generated Debezium options) and `ksql/` (the cleansing scripts `cdc ksql
generate` writes). Nothing in it is secret; passwords are named by variable.
"""

from __future__ import annotations

from pathlib import Path

from cdc_ods.errors import ConfigError
from cdc_ods.ksql.generate import DLQ_HEADER

CONFIG_TEMPLATE = """\
# cdc-ods workspace: every `cdc` command run here reads this file (or --config / $CDC_CONFIG).
# Passwords never go here: `password_env` names the environment variable that holds one
# (looked up in the environment, then in <data_dir>/secrets.env). See README, "Your own databases".

stack:
  data_dir: .stack          # the local stack's data, logs and generated secrets (keep it untracked)

# platform:                 # an existing cluster instead of the local stack's services
#   kafka_bootstrap: kafka1.internal:9092
#   connect_url: http://connect1.internal:8083
#   phoenix_url: http://pqs1.internal:8765/

sources:
  - name: shop              # [a-z][a-z0-9_]*: Debezium topic prefix and ODS table prefix
    kind: postgres          # mariadb | mysql | postgres | mongodb
    address: db1.internal:5432   # omit for the local stack's server of that kind
    database: shop
    schema: public
    tables: ["*"]           # names or glob patterns; "*" = every base table
    capture: {user: shop_debezium, password_env: SHOP_CAPTURE_PASSWORD}
    read: {user: shop_reader, password_env: SHOP_READ_PASSWORD}
    admin: {user: shop_admin, password_env: SHOP_ADMIN_PASSWORD}   # only for `cdc sources prepare`
    # table_options:
    #   audit_log: {key: [event_id]}   # the key of a table without a primary key
"""

NEXT_STEPS = """\
next: edit {config}, export the password variables, then
  cdc sources check          # what stops capture, with the fixes
  cdc sources prepare shop   # grants, publication, signal table (as the source's admin)
  cdc stack up --pipeline    # the local stack (skip with a platform section)
  cdc sources sync           # connectors, cleansing scripts, stages
  cdc reconcile              # proof: every ODS table equals its source"""


def init_workspace(directory: Path, force: bool = False) -> list[Path]:
    """Write cdc.yaml, connectors/ and ksql/ into `directory`; returns the files written. An
    existing cdc.yaml is kept unless `force`."""
    config = directory / "cdc.yaml"
    if config.exists() and not force:
        raise ConfigError(f"{config} exists; keep it, or pass --force to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "connectors").mkdir(exist_ok=True)
    (directory / "ksql").mkdir(exist_ok=True)
    written = [config]
    config.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    header = directory / "ksql" / "00_dlq.sql"
    if not header.exists():
        header.write_text(DLQ_HEADER, encoding="utf-8")
        written.append(header)
    return written
