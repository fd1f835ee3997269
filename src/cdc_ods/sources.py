"""Admin connections to the source databases, shared by every stage that reads them.

Addresses come from `Endpoints` (cdc.yaml or CDC_*_ADDRESS), the admin password from the
credentials (environment or the stack's secrets file). A source that cannot be reached is
named with its address in one line.
"""

from __future__ import annotations

import psycopg
import pymysql

from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.errors import TransientError
from cdc_ods.secrets import ADMIN_USER, load_credentials


def open_mysql(
    address: str, password: str, database: str | None = None, autocommit: bool = True
) -> pymysql.Connection:
    host, port = split_host_port(address)
    try:
        return pymysql.connect(
            host=host,
            port=port,
            user=ADMIN_USER,
            password=password,
            database=database,
            autocommit=autocommit,
            connect_timeout=5,
            charset="utf8mb4",
        )
    except pymysql.MySQLError as exc:
        raise TransientError(f"MySQL source at {address}: {exc.args[-1]}") from None


def open_postgres(address: str, password: str, database: str, autocommit: bool = True) -> psycopg.Connection:
    host, port = split_host_port(address)
    try:
        return psycopg.connect(
            host=host,
            port=port,
            user=ADMIN_USER,
            password=password,
            dbname=database,
            autocommit=autocommit,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise TransientError(f"PostgreSQL source at {address}: {str(exc).strip()}") from None


def mysql_connect(config: Config, database: str | None = None, autocommit: bool = True) -> pymysql.Connection:
    password = load_credentials(config.data_dir).mysql_admin.get_secret_value()
    return open_mysql(Endpoints.from_config(config).mysql, password, database, autocommit)


def postgres_connect(config: Config, database: str, autocommit: bool = True) -> psycopg.Connection:
    password = load_credentials(config.data_dir).postgres_admin.get_secret_value()
    return open_postgres(Endpoints.from_config(config).postgres, password, database, autocommit)
