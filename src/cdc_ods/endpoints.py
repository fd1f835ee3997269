"""Where each service is reached: derived from the config, overridable by environment.

Every tool and test takes its addresses from here (or from `cdc stack env`, which prints
these), never from a port written in a second place. The platform services (Kafka,
Connect, the Query Server, Prometheus, HBase Thrift) come from cdc.yaml's `platform`
section when set, else from the local stack's ports; `mysql`, `postgres` and `mongodb` are
the local stack's source servers, used by sources that name no `address`. The environment
variables let the same commands run against docker-compose or any other deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import ClassVar

from cdc_ods.config import Config


@dataclass(frozen=True)
class Endpoints:
    mysql: str  # host:port of the local MySQL-family server
    postgres: str  # host:port of the local PostgreSQL server
    mongodb: str  # host:port of the MongoDB replica set (docker-compose; none runs locally)
    kafka_bootstrap: str
    connect_url: str
    prometheus_url: str
    phoenix_url: str
    hbase_thrift: str  # host:port

    # field name -> environment variable that overrides it
    ENV: ClassVar[dict[str, str]] = {
        "mysql": "CDC_MYSQL_ADDRESS",
        "postgres": "CDC_POSTGRES_ADDRESS",
        "mongodb": "CDC_MONGODB_ADDRESS",
        "kafka_bootstrap": "CDC_KAFKA_BOOTSTRAP",
        "connect_url": "CDC_CONNECT_URL",
        "prometheus_url": "CDC_PROMETHEUS_URL",
        "phoenix_url": "CDC_PHOENIX_URL",
        "hbase_thrift": "CDC_HBASE_THRIFT",
    }

    @classmethod
    def from_config(cls, config: Config) -> Endpoints:
        host, p = config.stack.host, config.stack.ports
        defaults = {
            "mysql": f"{host}:{p.mariadb}",
            "postgres": f"{host}:{p.postgres}",
            "mongodb": f"{host}:27017",
            "kafka_bootstrap": f"{host}:{p.kafka}",
            "connect_url": f"http://{host}:{p.connect}",
            "prometheus_url": f"http://{host}:{p.prometheus}",
            "phoenix_url": f"http://{host}:{p.phoenix_query_server}/",
            "hbase_thrift": f"{host}:{p.hbase_thrift}",
        }
        platform = config.platform.model_dump(exclude_none=True)
        defaults.update(platform)
        return cls(**{f.name: os.environ.get(cls.ENV[f.name], defaults[f.name]) for f in fields(cls)})


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)
