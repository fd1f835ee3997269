"""The services of the local stack, in start order (stopped in reverse)."""

from __future__ import annotations

from cdc_ods.errors import CdcError
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.services.connect import Connect
from cdc_ods.stack.services.hbase import HBase
from cdc_ods.stack.services.hbase_thrift import HBaseThrift
from cdc_ods.stack.services.kafka import Kafka
from cdc_ods.stack.services.mariadb import MariaDB
from cdc_ods.stack.services.phoenix_query_server import PhoenixQueryServer
from cdc_ods.stack.services.postgres import Postgres
from cdc_ods.stack.services.prometheus import Prometheus
from cdc_ods.stack.services.stages import CleansingStage, CollectorStage, LoaderStage, WatchdogStage
from cdc_ods.stack.services.superset import Superset, SupersetSync

SERVICES: list[Service] = [
    MariaDB(),
    Postgres(),
    Kafka(),
    Connect(),
    HBase(),
    PhoenixQueryServer(),
    HBaseThrift(),
    Prometheus(),
    CollectorStage(),
    CleansingStage(),
    LoaderStage(),
    WatchdogStage(),
    Superset(),
    SupersetSync(),
]


OPTIONS = sorted({s.optional for s in SERVICES if s.optional})


def by_name(name: str) -> Service:
    for service in SERVICES:
        if service.name == name:
            return service
    raise CdcError(f"no service named {name!r}; services: {', '.join(s.name for s in SERVICES)}")


__all__ = ["OPTIONS", "SERVICES", "Service", "by_name"]
