"""MariaDB (the MySQL-family source locally), configured for Debezium's binlog reader."""

from __future__ import annotations

import getpass
import shutil
import subprocess

import pymysql

from cdc_ods.errors import ServiceError, TransientError
from cdc_ods.secrets import ADMIN_USER, DEBEZIUM_USER
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program

# What Debezium's MariaDB connector documents: SELECT for snapshots, RELOAD for FLUSH,
# SHOW DATABASES, and the two replication privileges for reading the binlog. SELECT is
# limited to the source database; the others are global by nature.
DEBEZIUM_GLOBAL_GRANTS = "RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT"


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class MariaDB(Service):
    name = "mariadb"
    port_names = ("mariadb",)

    def endpoint(self, ctx: StackContext) -> str:
        return f"{ctx.host}:{ctx.ports.mariadb}"

    def _socket(self, ctx: StackContext) -> str:
        # in the data dir: it belongs to the account mariadbd runs as
        return str(ctx.data(self.name) / "mariadb.sock")

    def _cnf(self, ctx: StackContext):
        return ctx.conf(self.name) / "my.cnf"

    def prepare(self, ctx: StackContext) -> None:
        if shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
            raise ServiceError("mariadb: mariadbd not found; run `make setup` (installs mariadb-server)")
        data = ctx.data(self.name)
        binlog = data / "binlog"
        ctx.conf(self.name).mkdir(parents=True, exist_ok=True)
        owner = "mysql" if ctx.is_root_user else getpass.getuser()
        self._cnf(ctx).write_text(
            "\n".join(
                [
                    "[mariadbd]",
                    f"user={owner}",
                    f"datadir={data / 'db'}",
                    f"socket={self._socket(ctx)}",
                    f"pid-file={data / 'mariadb.pid'}",
                    f"bind-address={ctx.host}",
                    f"port={ctx.ports.mariadb}",
                    "skip-name-resolve",
                    # binlog as Debezium needs it: row events with full before/after images
                    "server-id=1",
                    f"log-bin={binlog / 'mariadb-bin'}",
                    "binlog-format=ROW",
                    "binlog-row-image=FULL",
                    "log-bin-compress=0",
                    "expire-logs-days=3",
                    "character-set-server=utf8mb4",
                    "collation-server=utf8mb4_unicode_ci",
                    "default-time-zone=+00:00",
                    "innodb-buffer-pool-size=128M",
                    "performance-schema=OFF",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        if (data / "db" / "mysql").is_dir():
            return
        binlog.mkdir(parents=True, exist_ok=True)
        (data / "db").mkdir(parents=True, exist_ok=True)
        if ctx.is_root_user:
            shutil.chown(data, "mysql", "mysql")
            for sub in (binlog, data / "db"):
                shutil.chown(sub, "mysql", "mysql")
        result = subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={self._cnf(ctx)}",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
                f"--auth-root-socket-user={getpass.getuser()}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(data / "db", ignore_errors=True)
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise ServiceError("mariadb: mariadb-install-db failed: " + " | ".join(tail))

    def program(self, ctx: StackContext) -> Program:
        return Program(
            name=self.name,
            command=["/usr/sbin/mariadbd", f"--defaults-file={self._cnf(ctx)}"],
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
        )

    def bootstrap(self, ctx: StackContext) -> None:
        """Admin user, source database, the least-privilege Debezium user, and Debezium's
        signal table, which the debezium user may INSERT into: incremental snapshots write
        their window watermarks there (idempotent)."""
        from cdc_ods.connectors.configs import SIGNAL_TABLE

        creds = ctx.credentials
        admin = _sql_string(creds.mysql_admin.get_secret_value())
        dbz = _sql_string(creds.mysql_debezium.get_secret_value())
        databases = {s.database for s in ctx.config.sources if s.kind in ("mariadb", "mysql")} or {"maf"}
        statements = []
        for user, pw in ((ADMIN_USER, admin), (DEBEZIUM_USER, dbz)):
            for host in ("127.0.0.1", "localhost"):
                statements.append(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY {pw}")
                statements.append(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY {pw}")
                if user == ADMIN_USER:
                    statements.append(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{host}' WITH GRANT OPTION")
                else:
                    statements.append(f"GRANT {DEBEZIUM_GLOBAL_GRANTS} ON *.* TO '{user}'@'{host}'")
        for db in sorted(databases):
            statements.append(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            signal = f"`{db}`.`{SIGNAL_TABLE}`"
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {signal}"
                " (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048) NULL)"
            )
            for host in ("127.0.0.1", "localhost"):
                statements.append(f"GRANT SELECT ON `{db}`.* TO '{DEBEZIUM_USER}'@'{host}'")
                statements.append(f"GRANT INSERT ON {signal} TO '{DEBEZIUM_USER}'@'{host}'")
        statements.append("FLUSH PRIVILEGES")
        result = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self._socket(ctx)}", "-uroot", "--batch"],
            input=";\n".join(statements) + ";\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.strip()
            if "Can't connect" in message or "2002" in message:
                raise TransientError(f"mariadb: not accepting connections yet ({message})")
            raise ServiceError(f"mariadb: bootstrap SQL failed: {message}")

    def check(self, ctx: StackContext) -> None:
        try:
            conn = pymysql.connect(
                host=ctx.host,
                port=ctx.ports.mariadb,
                user=ADMIN_USER,
                password=ctx.credentials.mysql_admin.get_secret_value(),
                connect_timeout=3,
            )
        except pymysql.MySQLError as exc:
            raise TransientError(f"mariadb: {exc}") from None
        with conn, conn.cursor() as cur:
            cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image")
            log_bin, fmt, image = cur.fetchone()
        if (log_bin, fmt, image) != (1, "ROW", "FULL"):
            raise ServiceError(
                f"mariadb: binlog not configured for CDC: log_bin={log_bin} format={fmt} image={image}"
            )
