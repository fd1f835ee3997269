"""MariaDB (the MySQL-family source locally), configured for Debezium's binlog reader."""

from __future__ import annotations

import getpass
import shutil
import subprocess

import pymysql

from cdc_ods.config import MYSQL_FAMILY
from cdc_ods.errors import ServiceError, TransientError
from cdc_ods.secrets import ADMIN_USER, DEBEZIUM_USER
from cdc_ods.sources.tls import Tls, pymysql_options
from cdc_ods.stack.certificates import server_files
from cdc_ods.stack.context import StackContext, local_sources
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program


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

    def _tls_settings(self, ctx: StackContext, owner: str) -> list[str]:
        """With `stack.tls`: TCP clients must use TLS (the socket stays for `cdc stack up`)."""
        if not ctx.config.stack.tls:
            return []
        cert, key = server_files(ctx.config, ctx.conf(self.name), owner if ctx.is_root_user else None)
        return [f"ssl-cert={cert}", f"ssl-key={key}", "require-secure-transport=ON"]

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
                    # a machine crash keeps every committed transaction in the binlog
                    # (sources check warns about a server without these)
                    "sync-binlog=1",
                    "innodb-flush-log-at-trx-commit=1",
                    "character-set-server=utf8mb4",
                    "collation-server=utf8mb4_unicode_ci",
                    "default-time-zone=+00:00",
                    "innodb-buffer-pool-size=128M",
                    "performance-schema=OFF",
                    *self._tls_settings(ctx, owner),
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
        """The admin and the least-privilege Debezium user and each local source's database
        (idempotent); then each local source is prepared as `cdc sources prepare` does
        (grants, Debezium's signal table)."""
        creds = ctx.credentials
        admin = _sql_string(creds.mysql_admin.get_secret_value())
        dbz = _sql_string(creds.mysql_debezium.get_secret_value())
        local = local_sources(ctx.config, MYSQL_FAMILY)
        statements = []
        for user, pw in ((ADMIN_USER, admin), (DEBEZIUM_USER, dbz)):
            for host in ("127.0.0.1", "localhost"):
                statements.append(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY {pw}")
                statements.append(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY {pw}")
                if user == ADMIN_USER:
                    statements.append(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{host}' WITH GRANT OPTION")
        for db in sorted({s.source.database for s in local} or {"maf"}):
            statements.append(f"CREATE DATABASE IF NOT EXISTS `{db}`")
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
        for source in local:
            source.prepare(source.existing_tables())

    def check(self, ctx: StackContext) -> None:
        try:
            conn = pymysql.connect(
                host=ctx.host,
                port=ctx.ports.mariadb,
                user=ADMIN_USER,
                password=ctx.credentials.mysql_admin.get_secret_value(),
                connect_timeout=3,
                **pymysql_options(Tls.of_local_stack(ctx.config, self.name)),
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
