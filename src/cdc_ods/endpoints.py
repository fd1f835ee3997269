"""Where each service is reached: derived from the config, overridable by environment.

Every tool and test takes its addresses from here (or from `cdc stack env`, which prints
these), never from a port written in a second place. The platform services (Kafka,
Connect, the Query Server, Prometheus, HBase Thrift) come from cdc.yaml's `platform`
section when set, else from the local stack's ports; `mysql`, `postgres` and `mongodb` are
the local stack's source servers, used by sources that name no `address`. The environment
variables (`cdc_ods.settings.Addresses`) let the same commands run against docker-compose or
any other deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cdc_ods.config import Config
from cdc_ods.settings import Addresses

MONGODB_PORT = 27017  # no MongoDB runs on the local stack: docker-compose's replica set


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
    superset_url: str  # the analysts' web UI (`cdc stack up --with superset`)

    # field name -> environment variable that overrides it
    ENV: ClassVar[dict[str, str]] = Addresses.variables()

    @classmethod
    def from_config(cls, config: Config) -> Endpoints:
        host, p = config.stack.host, config.stack.ports
        defaults = {
            "mysql": f"{host}:{p.mariadb}",
            "postgres": f"{host}:{p.postgres}",
            "mongodb": f"{host}:{MONGODB_PORT}",
            "kafka_bootstrap": f"{host}:{p.kafka}",
            "connect_url": f"http://{host}:{p.connect}",
            "prometheus_url": f"http://{host}:{p.prometheus}",
            "phoenix_url": f"http://{host}:{p.phoenix_query_server}/",
            "hbase_thrift": f"{host}:{p.hbase_thrift}",
            "superset_url": f"http://{host}:{p.superset}",
        }
        defaults.update(config.platform.model_dump(exclude_none=True))
        defaults.update(Addresses().model_dump(exclude_none=True))
        return cls(**defaults)


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)
