"""The HBase Thrift (v1) server, for raw row access with happybase."""

from __future__ import annotations

import happybase
from thriftpy2.transport import TTransportException

from cdc_ods.errors import TransientError
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import JDK17_OPENS, java_command
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.services.hbase import hbase_conf_dir
from cdc_ods.stack.supervisor import Program

HEALTH_TABLE = "cdc_health"


class HBaseThrift(Service):
    name = "hbase-thrift"
    requires = ("hbase",)
    maven_profiles = ("hbase",)
    port_names = ("hbase_thrift", "hbase_thrift_info")

    def endpoint(self, ctx: StackContext) -> str:
        return f"{ctx.host}:{ctx.ports.hbase_thrift}"

    def program(self, ctx: StackContext) -> Program:
        return Program(
            name=self.name,
            command=java_command(
                ctx,
                main="org.apache.hadoop.hbase.thrift.ThriftServer",
                classpath=[hbase_conf_dir(ctx), f"{ctx.lib('hbase')}/*"],
                heap_mb=ctx.config.stack.heap_mb.hbase_thrift,
                # thrift1 over a plain socket, binary protocol: what happybase speaks by default
                args=[
                    "-b",
                    ctx.host,
                    "-p",
                    str(ctx.ports.hbase_thrift),
                    "--infoport",
                    str(ctx.ports.hbase_thrift_info),
                    "-threadpool",
                    "start",
                ],
                jvm_flags=JDK17_OPENS,
            ),
            directory=ctx.data("hbase"),
            log=ctx.log(self.name),
        )

    def check(self, ctx: StackContext) -> None:
        """Put a cell into a scratch table and read it back."""
        try:
            conn = happybase.Connection(ctx.host, port=ctx.ports.hbase_thrift, timeout=10_000)
        except (TTransportException, OSError) as exc:
            raise TransientError(f"hbase-thrift: {exc}") from None
        try:
            if HEALTH_TABLE.encode() not in conn.tables():
                conn.create_table(HEALTH_TABLE, {"f": {"max_versions": 1}})
            table = conn.table(HEALTH_TABLE)
            token = str(id(conn)).encode()
            table.put(b"probe", {b"f:token": token})
            if table.row(b"probe").get(b"f:token") != token:
                raise TransientError("hbase-thrift: the cell written was not read back")
        except (TTransportException, OSError) as exc:
            raise TransientError(f"hbase-thrift: {exc}") from None
        except Exception as exc:  # thrift IOError/TException from the server while HBase settles
            raise TransientError(f"hbase-thrift: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
