"""PostgreSQL, configured for logical decoding (Debezium's pgoutput plugin)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from cdc_ods.errors import ServiceError, TransientError
from cdc_ods.secrets import ADMIN_USER, DEBEZIUM_USER
from cdc_ods.sources.tls import Tls, libpq_options
from cdc_ods.stack.certificates import SERVER_CERT, SERVER_KEY, server_files
from cdc_ods.stack.context import StackContext, local_sources
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Postgres(Service):
    name = "postgres"
    port_names = ("postgres",)

    def endpoint(self, ctx: StackContext) -> str:
        return f"{ctx.host}:{ctx.ports.postgres}"

    def _os_user(self, ctx: StackContext) -> str | None:
        # PostgreSQL refuses to run as root: use the account Debian's package creates.
        return "postgres" if ctx.is_root_user else None

    def prepare(self, ctx: StackContext) -> None:
        if not (PG_BIN / "postgres").exists():
            raise ServiceError(
                f"postgres: {PG_BIN}/postgres not found; run `make setup` (installs postgresql)"
            )
        if ctx.config.stack.tls:
            self._write_tls_files(ctx)
        data = ctx.data(self.name)
        if (data / "PG_VERSION").exists():
            return
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        user = self._os_user(ctx)
        if user:
            shutil.chown(data, user, user)
        with tempfile.NamedTemporaryFile("w", delete=False, prefix="pwfile") as pwfile:
            pwfile.write(ctx.credentials.postgres_admin.get_secret_value() + "\n")
        try:
            if user:
                shutil.chown(pwfile.name, user, user)
            result = subprocess.run(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    ADMIN_USER,
                    f"--pwfile={pwfile.name}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                check=False,
                user=user,
            )
        finally:
            Path(pwfile.name).unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise ServiceError("postgres: initdb failed: " + " | ".join(tail))

    def _write_tls_files(self, ctx: StackContext) -> None:
        """With `stack.tls`: the server certificate and an address-based pg_hba.conf that
        accepts TCP logins over TLS only (`_tls_settings` names them)."""
        conf = ctx.conf(self.name)
        server_files(ctx.config, conf, self._os_user(ctx))
        (conf / "pg_hba.conf").write_text(
            "".join(
                f"hostssl {database} all {address} scram-sha-256\n"
                for database in ("all", "replication")
                for address in ("127.0.0.1/32", "::1/128")
            ),
            encoding="utf-8",
        )

    def _tls_settings(self, ctx: StackContext) -> dict[str, str]:
        if not ctx.config.stack.tls:
            return {}
        conf = ctx.conf(self.name)
        return {
            "ssl": "on",
            "ssl_cert_file": str(conf / SERVER_CERT),
            "ssl_key_file": str(conf / SERVER_KEY),
            "hba_file": str(conf / "pg_hba.conf"),
        }

    def program(self, ctx: StackContext) -> Program:
        settings = {
            "listen_addresses": ctx.host,
            "port": str(ctx.ports.postgres),
            "unix_socket_directories": "",
            "wal_level": "logical",
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            "timezone": "UTC",
            "shared_buffers": "128MB",
            **self._tls_settings(ctx),
        }
        command = [str(PG_BIN / "postgres"), "-D", str(ctx.data(self.name))]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return Program(
            name=self.name,
            command=command,
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
            user=self._os_user(ctx),
            # SIGTERM is PostgreSQL's "smart" shutdown; give it time to checkpoint.
            stop_wait_s=60,
        )

    def connect(self, ctx: StackContext, dbname: str = "postgres") -> psycopg.Connection:
        try:
            return psycopg.connect(
                host=ctx.host,
                port=ctx.ports.postgres,
                user=ADMIN_USER,
                password=ctx.credentials.postgres_admin.get_secret_value(),
                dbname=dbname,
                connect_timeout=3,
                autocommit=True,
                **libpq_options(Tls.of_local_stack(ctx.config, self.name)),
            )
        except psycopg.OperationalError as exc:
            raise TransientError(f"postgres: {str(exc).strip()}") from None

    def bootstrap(self, ctx: StackContext) -> None:
        """The Debezium role and each local source's database (idempotent); then each local
        source is prepared as `cdc sources prepare` does (schema, grants, the signal and
        heartbeat tables, its publication of the tables that exist so far; `cdc connectors
        apply` adds the ones created later). Locally, default privileges also let the
        debezium role read tables created later in a source's schema."""
        local = local_sources(ctx.config, ("postgres",))
        dbz_pw = ctx.credentials.postgres_debezium.get_secret_value()
        with self.connect(ctx) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DEBEZIUM_USER,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} WITH LOGIN REPLICATION PASSWORD {}").format(
                    sql.Identifier(DEBEZIUM_USER), sql.Literal(dbz_pw)
                )
            )
            for database in sorted({s.source.database for s in local}):
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        for source in local:
            source.prepare(source.existing_tables())
            with self.connect(ctx, source.source.database) as conn:
                conn.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                        sql.Identifier(source.source.namespace), sql.Identifier(DEBEZIUM_USER)
                    )
                )

    def check(self, ctx: StackContext) -> None:
        with self.connect(ctx) as conn:
            (wal_level,) = conn.execute("SHOW wal_level").fetchone() or ("?",)
        if wal_level != "logical":
            raise ServiceError(f"postgres: wal_level is {wal_level}, Debezium needs logical")
