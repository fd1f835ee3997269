"""What a source is made of before it is connected to: its tables by pattern, its logins,
its passwords by variable name, its TLS settings; and what `cdc sources check` concludes from
what a server answers."""

import re
import ssl
from pathlib import Path

import pytest

from cdc_ods.config import Config, parse_config
from cdc_ods.errors import ConfigError
from cdc_ods.sources import HEARTBEAT_TABLE, SIGNAL_TABLE, UnknownTableError, source_for
from cdc_ods.sources.mysql import server_findings
from cdc_ods.sources.tls import libpq_options, pymysql_options
from cdc_ods.stack.certificates import write_certificates


def _config(tmp_path: Path, **entry: object) -> Config:
    source = {"name": "shop", "kind": "postgres", "database": "shop", "tables": ["*"], **entry}
    return parse_config({"stack": {"data_dir": str(tmp_path)}, "sources": [source]}, tmp_path, "cdc.yaml")


def test_patterns_choose_among_the_sources_tables_and_a_missing_name_is_named(tmp_path: Path) -> None:
    available = ["film", "film_actor", "payment", "staff"]
    src = source_for(_config(tmp_path, tables=["film*", "staff"]), "shop")
    assert src.resolve_tables(available) == ["film", "film_actor", "staff"]
    assert source_for(_config(tmp_path), "shop").resolve_tables(available) == available
    with pytest.raises(UnknownTableError, match=r"sources\.shop\.tables: rental not found in public"):
        source_for(_config(tmp_path, tables=["film", "rental"]), "shop").resolve_tables(available)


def test_a_named_table_gone_from_the_source_stays_among_the_captured_ones(
    tmp_path: Path, monkeypatch
) -> None:
    src = source_for(_config(tmp_path, tables=["film*", "staff"]), "shop")
    monkeypatch.setattr(src, "base_tables", lambda: ["film", "film_v2"])  # staff renamed or dropped
    assert src.tables() == ["film", "film_v2", "staff"]  # its topics and ODS table are still there
    with pytest.raises(UnknownTableError, match="staff not found"):
        src.resolve_tables()  # a connector config would capture nothing for it: refused


def test_named_tables_need_no_catalog_read(tmp_path: Path) -> None:
    # no server at this address: tables() must not try to connect
    login = {"user": "u", "password_env": "SHOP_PW"}
    config = _config(tmp_path, tables=["a", "b"], address="127.0.0.1:9", capture=login, read=login)
    assert source_for(config, "shop").tables() == ["a", "b"]


def test_the_local_stacks_logins_and_an_external_sources_own(tmp_path: Path, monkeypatch) -> None:
    local = source_for(_config(tmp_path), "shop")
    assert (local.login("capture").user, local.login("capture").password_env) == (
        "debezium",
        "CDC_POSTGRES_DEBEZIUM_PASSWORD",
    )
    assert local.login("admin").user == "cdc_admin"
    login = {"user": "reader", "password_env": "SHOP_READ_PW"}
    external = source_for(_config(tmp_path, address="db1:5432", capture=login, read=login), "shop")
    with pytest.raises(ConfigError, match=r"sources\.shop\.admin: not set"):
        external.login("admin")
    with pytest.raises(ConfigError, match="SHOP_READ_PW is not set"):
        external.password("read")
    (tmp_path / "secrets.env").write_text("SHOP_READ_PW=from-file\n")
    assert external.password("read").get_secret_value() == "from-file"
    monkeypatch.setenv("SHOP_READ_PW", "from-env")
    assert external.password("read").get_secret_value() == "from-env"  # the environment wins
    assert "from-env" not in repr(external.password("read"))


def test_a_configured_key_must_name_columns_of_the_table(tmp_path: Path) -> None:
    from cdc_ods.sources import CatalogColumn

    src = source_for(_config(tmp_path, table_options={"log": {"key": ["nope"]}}), "shop")
    with pytest.raises(ConfigError, match=r"table_options\.log\.key: no column nope"):
        src._table("log", [CatalogColumn("id", "integer")], [])
    with pytest.raises(UnknownTableError, match="has no primary key: add one, or name its key columns"):
        source_for(_config(tmp_path), "shop")._table("log", [CatalogColumn("id", "integer")], [])


# --- TLS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        ({"mode": "verify_identity"}, "sources.0.tls: Value error, mode verify_identity needs ca_file"),
        ({"mode": "verify_ca"}, "mode verify_ca needs ca_file"),
        ({"mode": "disabled", "ca_file": "ca.pem"}, "mode disabled uses no certificate"),
        ({"mode": "required", "ca_file": "ca.pem"}, "mode required does not verify the server"),
        ({"mode": "required", "cert_file": "c.pem"}, "cert_file and key_file go together"),
        ({"mode": "on"}, "sources.0.tls.mode: Input should be 'disabled', 'required', 'verify_ca'"),
        ({"mode": "verify_ca", "ca_file": "ca.pem", "cafile": "x"}, "sources.0.tls.cafile: Extra inputs"),
    ],
)
def test_a_bad_tls_block_names_its_key(tmp_path: Path, tls: dict, expected: str) -> None:
    (tmp_path / "ca.pem").write_text("")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        _config(tmp_path, tls=tls)


def test_tls_files_resolve_against_the_config_directory_and_must_exist(tmp_path: Path) -> None:
    tls = {"mode": "verify_ca", "ca_file": "certs/ca.pem", "cert_file": "/abs/c.pem", "key_file": "k.pem"}
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, tls=tls)
    message = str(info.value)
    assert f"sources.0.tls.ca_file: certs/ca.pem not found (looked at {tmp_path}/certs/ca.pem)" in message
    assert "sources.0.tls.cert_file: /abs/c.pem not found" in message
    assert "sources.0.tls.key_file: k.pem not found" in message
    certs = write_certificates(tmp_path / "certs")
    tls = {"mode": "verify_ca", "ca_file": "certs/ca.pem", "cert_file": str(certs.client_cert),
           "key_file": "certs/client.key"}  # fmt: skip
    resolved = source_for(_config(tmp_path, tls=tls), "shop").tls
    assert resolved is not None
    assert (resolved.ca, resolved.cert, resolved.key) == (certs.ca, certs.client_cert, certs.client_key)
    with pytest.raises(
        ConfigError, match=r"sources\.0: Value error, tls is for MariaDB, MySQL and PostgreSQL"
    ):
        _config(tmp_path, kind="mongodb", tls={"mode": "required"})


@pytest.mark.parametrize(
    ("mode", "sslmode", "verify", "hostname"),
    [
        ("required", "require", ssl.CERT_NONE, False),
        ("verify_ca", "verify-ca", ssl.CERT_REQUIRED, False),
        ("verify_identity", "verify-full", ssl.CERT_REQUIRED, True),
    ],
)
def test_each_mode_means_the_same_to_psycopg_and_pymysql(
    tmp_path: Path, mode: str, sslmode: str, verify: ssl.VerifyMode, hostname: bool
) -> None:
    certs = write_certificates(tmp_path)
    tls = {"mode": mode, "cert_file": str(certs.client_cert), "key_file": str(certs.client_key)}
    if mode != "required":
        tls["ca_file"] = str(certs.ca)
    resolved = source_for(_config(tmp_path, tls=tls), "shop").tls
    libpq = libpq_options(resolved)
    assert libpq["sslmode"] == sslmode
    assert (libpq["sslcert"], libpq["sslkey"]) == (str(certs.client_cert), str(certs.client_key))
    assert libpq.get("sslrootcert") == (str(certs.ca) if mode != "required" else None)
    context = pymysql_options(resolved)["ssl"]  # a context: PyMySQL then refuses a server without TLS
    assert (context.verify_mode, context.check_hostname) == (verify, hostname)
    if mode != "required":
        assert context.get_ca_certs()[0]["subject"] == ((("commonName", "cdc test CA"),),)


def test_without_tls_the_drivers_keep_their_defaults_and_disabled_is_plain_text(tmp_path: Path) -> None:
    assert source_for(_config(tmp_path), "shop").tls is None
    assert libpq_options(None) == {} and pymysql_options(None) == {}
    disabled = source_for(_config(tmp_path, tls={"mode": "disabled"}), "shop").tls
    assert libpq_options(disabled) == {"sslmode": "disable"}
    assert pymysql_options(disabled) == {"ssl_disabled": True}


def test_a_plain_text_refusal_says_which_setting_to_add(tmp_path: Path) -> None:
    login = {"user": "u", "password_env": "SHOP_PW"}
    external = {"address": "db1:5432", "capture": login, "read": login}
    refused = 'FATAL: no pg_hba.conf entry for host "10.0.0.1", user "u", database "shop", no encryption'
    plain = source_for(_config(tmp_path, **external), "shop")
    assert plain._tls_hint(refused).endswith(
        "(the server accepts only TLS connections: set sources.shop.tls,"
        " e.g. {mode: verify_identity, ca_file: ca.pem})"
    )
    denied = "Access denied for user 'u'@'10.0.0.1' (using password: YES)"
    assert "(if the server accepts only TLS connections: set sources.shop.tls" in plain._tls_hint(denied)
    assert plain._tls_hint("Connection refused") == "Connection refused"
    (tmp_path / "ca.pem").write_text("")
    verified = _config(tmp_path, tls={"mode": "verify_ca", "ca_file": "ca.pem"}, **external)
    assert source_for(verified, "shop")._tls_hint(refused) == refused  # TLS was used: another cause
    assert source_for(_config(tmp_path), "shop")._tls_hint(denied) == denied  # the local stack's


# --- preflight decisions ----------------------------------------------------------------------

GOOD_BINLOG = {
    "log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "server_id": "1",
    "expire_logs_days": "0", "binlog_expire_logs_seconds": "259200", "sync_binlog": "1",
    "innodb_flush_log_at_trx_commit": "1",
}  # fmt: skip
MYSQL = {**GOOD_BINLOG, "version": "8.4.3", "gtid_mode": "ON", "enforce_gtid_consistency": "ON"}
MARIADB = {
    **GOOD_BINLOG, "version": "10.11.19-MariaDB-0+deb12u1-log", "gtid_strict_mode": "OFF",
    "gtid_domain_id": "0", "gtid_slave_pos": "", "log_bin_compress": "OFF",
}  # fmt: skip


def _server(variables: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(f.severity, f.problem, f.fix) for f in server_findings("shop", variables)]


def test_a_well_set_up_server_has_no_finding() -> None:
    assert _server(MYSQL) == [] and _server(MARIADB) == []


def test_binlog_settings_as_show_variables_reports_them() -> None:
    found = _server({**MARIADB, "log_bin": "OFF", "binlog_format": "STATEMENT", "server_id": "0",
                     "binlog_expire_logs_seconds": "0", "expire_logs_days": "0.500000"})  # fmt: skip
    assert [problem.split(":")[0] for _, problem, _ in found] == [
        "the binary log is off (log_bin=0)",
        "binlog_format is STATEMENT",
        "server_id is 0",
        "binlogs are kept only 12.0 h",
    ]
    assert [severity for severity, _, _ in found] == ["error", "error", "error", "warning"]


def test_a_binlog_a_machine_crash_can_lose_is_a_warning_with_the_my_cnf_fix() -> None:
    unsafe = {**MARIADB, "sync_binlog": "0", "innodb_flush_log_at_trx_commit": "2"}
    ((severity, problem, fix),) = _server(unsafe)
    assert severity == "warning"
    assert problem.startswith("sync_binlog=0 and innodb_flush_log_at_trx_commit=2: a machine crash can lose")
    assert fix.startswith("set `sync-binlog=1` and `innodb-flush-log-at-trx-commit=1` in the server's my.cnf")
    assert _server({**MYSQL, "sync_binlog": "1"}) == []


def test_mysql_gtids_inconsistent_are_an_error_and_off_a_warning_with_the_my_cnf_fix() -> None:
    ((severity, problem, fix),) = _server({**MYSQL, "enforce_gtid_consistency": "WARN"})
    assert severity == "error" and problem.startswith("gtid_mode is ON but enforce_gtid_consistency is WARN")
    assert fix.startswith("set `gtid-mode=ON` and `enforce-gtid-consistency=ON` in my.cnf [mysqld]")
    ((severity, problem, fix),) = _server({**MYSQL, "gtid_mode": "OFF", "enforce_gtid_consistency": "OFF"})
    assert severity == "warning"
    assert "after a failover to a replica it cannot resume there" in problem
    assert "on this server and its replicas, then restart them" in fix
    ((severity, problem, _),) = _server({**MYSQL, "gtid_mode": "ON_PERMISSIVE"})
    assert severity == "warning" and "a step of an online change" in problem
    # a MySQL without GTID support at all counts as GTIDs off
    without = {key: value for key, value in MYSQL.items() if not key.startswith(("gtid", "enforce"))}
    assert [severity for severity, _, _ in _server(without)] == ["warning"]


def test_mariadb_findings_only_where_debezium_is_concerned() -> None:
    ((severity, problem, fix),) = _server({**MARIADB, "log_bin_compress": "ON"})
    assert severity == "error" and "cannot read compressed binlog events" in problem
    assert "set `log-bin-compress=OFF` in the server's my.cnf [mariadbd] section" in fix
    ((severity, problem, fix),) = _server({**MARIADB, "version": "11.4.5-MariaDB"})
    assert severity == "error" and problem.startswith(
        "binlog_legacy_event_pos is OFF (MariaDB 11.4 or later)"
    )
    assert _server({**MARIADB, "version": "11.4.5-MariaDB", "binlog_legacy_event_pos": "ON"}) == []
    # strict GTID order matters once the server is part of a replication chain
    replica = {**MARIADB, "gtid_slave_pos": "1-7-42", "gtid_domain_id": "1"}
    ((severity, problem, fix),) = _server(replica)
    assert severity == "warning"
    assert problem.startswith("this server replicates (gtid_slave_pos 1-7-42; its own GTID domain 1)")
    assert fix.startswith("set `gtid-strict-mode=ON`") and "its own `gtid-domain-id`" in fix
    assert _server({**replica, "gtid_strict_mode": "ON"}) == []


def test_missing_privileges_on_debezium_s_tables_come_with_their_grant(tmp_path: Path) -> None:
    login = {"user": "dbz", "password_env": "SHOP_PW"}
    postgres = source_for(
        _config(tmp_path, address="db1:5432", capture=login, read=login, schema="sales"), "shop"
    )
    found = postgres.own_table_findings({SIGNAL_TABLE: {"SELECT"}, HEARTBEAT_TABLE: {"SELECT", "UPDATE"}})
    assert [(f.subject, f.problem.split(" (")[0], f.fix) for f in found] == [
        (
            "capture user dbz",
            "lacks INSERT on sales.debezium_signal",
            'GRANT SELECT, INSERT ON "sales"."debezium_signal" TO "dbz"  (cdc sources prepare shop)',
        )
    ]
    found = postgres.own_table_findings({HEARTBEAT_TABLE: set()})
    assert [f.problem.split(" (")[0] for f in found] == ["lacks SELECT, UPDATE on sales.debezium_heartbeat"]
    assert "replication slot advances" in found[0].problem
    mysql = source_for(_config(tmp_path, kind="mariadb", database="shop"), "shop")
    (finding,) = mysql.own_table_findings({SIGNAL_TABLE: {"SELECT"}})
    assert finding.fix == (
        "GRANT SELECT, INSERT ON `shop`.`debezium_signal` TO 'debezium'@'%'  (cdc sources prepare shop)"
    )
    assert mysql.own_table_findings({SIGNAL_TABLE: {"SELECT", "INSERT"}}) == []


def test_check_names_unmasked_personal_data_and_refused_columns() -> None:
    from cdc_ods.config import Config, SourceConfig
    from cdc_ods.sources import CatalogColumn, TableCatalog, source_for

    def findings(pii: dict[str, str]) -> list[tuple[str, str]]:
        entry = SourceConfig(
            name="shop", kind="postgres", database="shop", tables=["*"],
            table_options={"customers": {"pii": pii}},
        )  # fmt: skip
        source = source_for(Config(sources=[entry]), entry)
        columns = (
            CatalogColumn("id", "integer"),
            CatalogColumn("email", "text"),
            CatalogColumn("t", "money"),
        )
        table = TableCatalog("shop", "public", "customers", columns, ("id",))
        return [(f.severity, f.problem) for f in source.column_findings(table)]

    found = findings({})
    assert ("warning", "column email looks like personal data and reaches the ODS as it is") in found
    assert any(severity == "error" and "column t money" in problem for severity, problem in found)
    assert not any("email" in problem for _, problem in findings({"email": "email"}))


class _AdminConnection:
    """A PostgreSQL admin connection as `PostgresSource.publish` uses it: it answers the catalog
    queries from `lacking` (qualified table -> roles without SELECT on it) and `published`, and
    records every statement run."""

    connection = None  # psycopg's `sql` quotes identifiers without a server

    def __init__(self, lacking: dict[str, list[str]], published: list[str]) -> None:
        self.lacking, self.published, self.ran = lacking, published, []

    def __enter__(self) -> "_AdminConnection":
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execute(self, query: object, params: tuple = ()) -> object:
        text = query if isinstance(query, str) else query.as_string(None)  # type: ignore[attr-defined]
        if "has_table_privilege" in text:
            rows = [(role,) for role in self.lacking.get(params[1], [])]
        elif "FROM pg_publication WHERE" in text:
            rows = [(True,)]
        elif "pg_publication_rel" in text:
            rows = [(table,) for table in self.published]
        else:
            self.ran.append(text)
            rows = []
        return _Rows(rows)


class _Rows:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows


def test_a_table_added_to_a_running_connector_is_granted_and_published(tmp_path: Path, monkeypatch) -> None:
    # `cdc sources sync` adds `beta` to a connector that captured `alpha` since `prepare`: Debezium's
    # incremental snapshot reads it as the capture user, reconcile as the read user
    logins = {role: {"user": user, "password_env": "PW"} for role, user in
              (("capture", "dbz"), ("read", "reader"), ("admin", "owner"))}  # fmt: skip
    src = source_for(_config(tmp_path, address="db1:5432", **logins), "shop")
    admin = _AdminConnection({'"public"."beta"': ["dbz", "reader"]}, ["alpha", SIGNAL_TABLE, HEARTBEAT_TABLE])
    monkeypatch.setattr(src, "connect", lambda role: admin if role == "admin" else pytest.fail(role))
    monkeypatch.setattr(src, "_needs_full_identity", lambda _table: False)
    expected = [
        'GRANT SELECT ON "public"."beta" TO "dbz"',
        'GRANT SELECT ON "public"."beta" TO "reader"',
        'ALTER PUBLICATION "cdc_shop" ADD TABLE "public"."beta"',
    ]
    assert src.publish(["alpha", "beta"]) == expected
    assert admin.ran == expected
    settled = _AdminConnection({}, ["alpha", "beta", SIGNAL_TABLE, HEARTBEAT_TABLE])
    monkeypatch.setattr(src, "connect", lambda _role: settled)
    assert src.publish(["alpha", "beta"]) == [] and settled.ran == []
