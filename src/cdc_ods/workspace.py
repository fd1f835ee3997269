"""`cdc init DIR`: a starting workspace for a new user, apart from the tool's own files.

The workspace is the operator's: cdc.yaml and, next to it, `connectors/` (per-source
overrides of the generated Debezium options), `ksql/` (the cleansing scripts `cdc ksql
generate` writes) and `monitoring/` (the Prometheus config and alert rules the local stack's
Prometheus loads, and Grafana dashboards), all resolved against cdc.yaml's directory. The
defaults are copied from the tool's own files (cdc_ods.paths) and are the operator's to edit
from then on: running `cdc init` again writes only what is missing and keeps every file that
differs from its default, unless `--force`. Nothing in a workspace is secret; passwords are
named by variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cdc_ods.errors import CdcError
from cdc_ods.ksql.generate import DLQ_HEADER
from cdc_ods.paths import tool_file

# the tool's defaults a workspace starts with: (folder of the tool's files, file pattern)
DEFAULTS = (
    ("monitoring", "prometheus.yml"),
    ("monitoring/rules", "*.yml"),
    ("monitoring/grafana/dashboards", "*.json"),
    ("monitoring/superset/datasets", "*.yaml"),
    ("monitoring/superset/charts", "*.yaml"),
    ("monitoring/superset/dashboards", "*.yaml"),
    ("connectors", "OVERRIDES.md"),
)

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

# kafka:                    # SASL/SCRAM-SHA-512 over TLS for every Kafka client (the local
#   security: sasl_ssl      # stack then runs its broker so, with a user per stage and ACLs);
#   ca_file: certs/kafka-ca.pem   # each process's user: CDC_KAFKA_USER / CDC_KAFKA_PASSWORD
#   partitions: 4           # per table topic, when it is created (README, "Scaling the stages out")
# cleansing: {processes: 2} # processes of the stage under the local stack, one consumer group
# ods: {processes: 2}       # (the loader); process k serves metrics on metrics_port + 10*k

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
    # tls: {mode: verify_identity, ca_file: certs/db-ca.pem}   # or disabled, required, verify_ca
    # table_options:
    #   audit_log: {key: [event_id]}   # the key of a table without a primary key
    #   customers: {pii: {email: email, phone: phone, birth_date: year}}   # or hash
"""

NEXT_STEPS = """\
next: edit {config}, export the password variables, then
  cdc sources check          # what stops capture, with the fixes
  cdc sources prepare shop   # grants, publication, signal table (as the source's admin)
  cdc stack up --pipeline    # the local stack (skip with a platform section)
  cdc sources sync           # connectors, cleansing scripts, stages
  cdc reconcile              # proof: every ODS table equals its source"""


@dataclass
class InitReport:
    """What `init_workspace` did, file by file."""

    written: list[Path] = field(default_factory=list)
    # existing files that differ from their default (the operator's edits): replaced only by --force
    kept: list[Path] = field(default_factory=list)


def workspace_defaults(directory: Path) -> dict[Path, bytes]:
    """Every file of a new workspace in `directory`, with its default content."""
    files = {
        directory / "cdc.yaml": CONFIG_TEMPLATE.encode(),
        directory / "ksql" / "00_dlq.sql": DLQ_HEADER.encode(),
    }
    for folder, pattern in DEFAULTS:
        source = tool_file(*folder.split("/"))
        matches = sorted(source.glob(pattern))
        if not matches:
            raise CdcError(f"{source}/{pattern}: no such file in the cdc-ods installation; reinstall it")
        files |= {directory / folder / m.name: m.read_bytes() for m in matches}
    return files


def init_workspace(directory: Path, force: bool = False) -> InitReport:
    """Write the workspace's missing files into `directory` (created if missing). A file that
    exists and differs from its default is the operator's: kept, unless `force`."""
    report = InitReport()
    for path, content in workspace_defaults(directory).items():
        if path.exists() and path.read_bytes() == content:
            continue
        if path.exists() and not force:
            report.kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        report.written.append(path)
    return report
