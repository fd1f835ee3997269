"""Apache HBase, standalone (master, region server and ZooKeeper in one JVM), with Phoenix."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import httpx

from cdc_ods.errors import TransientError
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import JDK17_OPENS, java_command
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program


def render_site_xml(properties: dict[str, object]) -> str:
    """A Hadoop-style *-site.xml."""
    rows = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(str(v))}</value></property>\n"
        for k, v in properties.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n'


def client_site(ctx: StackContext) -> dict[str, object]:
    """What every HBase/Phoenix client JVM needs to find the cluster."""
    return {
        "hbase.zookeeper.quorum": ctx.host,
        "hbase.zookeeper.property.clientPort": ctx.ports.zookeeper,
        # must match between the region server and every Phoenix client
        "phoenix.schema.isNamespaceMappingEnabled": "false",
    }


def hbase_conf_dir(ctx: StackContext) -> Path:
    return ctx.conf("hbase")


class HBase(Service):
    name = "hbase"
    maven_profiles = ("hbase", "jmx-exporter")
    port_names = (
        "zookeeper",
        "hbase_master",
        "hbase_master_info",
        "hbase_regionserver",
        "hbase_regionserver_info",
        "jmx_hbase",
    )
    metrics_port_name = "jmx_hbase"
    stop_wait_s = 60

    def endpoint(self, ctx: StackContext) -> str:
        return f"{ctx.host}:{ctx.ports.zookeeper}"

    def prepare(self, ctx: StackContext) -> None:
        host, ports, data = ctx.host, ctx.ports, ctx.data(self.name)
        site = {
            "hbase.cluster.distributed": "false",
            "hbase.rootdir": f"file://{data / 'root'}",
            "hbase.tmp.dir": data / "tmp",
            "hbase.zookeeper.property.dataDir": data / "zookeeper",
            # the local filesystem has no hflush/hsync capability checks to pass
            "hbase.unsafe.stream.capability.enforce": "false",
            "hbase.localcluster.assign.random.ports": "false",
            **client_site(ctx),
            "hbase.zookeeper.property.clientPortAddress": host,
            "hbase.master.hostname": host,
            "hbase.unsafe.regionserver.hostname": host,
            "hbase.master.ipc.address": host,
            "hbase.regionserver.ipc.address": host,
            "hbase.master.port": ports.hbase_master,
            "hbase.master.info.port": ports.hbase_master_info,
            "hbase.master.info.bindAddress": host,
            "hbase.regionserver.port": ports.hbase_regionserver,
            "hbase.regionserver.info.port": ports.hbase_regionserver_info,
            "hbase.regionserver.info.bindAddress": host,
            # ZooKeeper runs inside this JVM and is gone first on SIGTERM: without these the
            # region server retries its znode delete for ~20 s before exiting.
            "zookeeper.recovery.retry": 1,
            "zookeeper.recovery.retry.intervalmill": 500,
            # Phoenix's secondary indexes need its WAL codec on the region server
            "hbase.regionserver.wal.codec": "org.apache.hadoop.hbase.regionserver.wal.IndexedWALEditCodec",
        }
        conf = hbase_conf_dir(ctx)
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "hbase-site.xml").write_text(render_site_xml(site), encoding="utf-8")
        data.mkdir(parents=True, exist_ok=True)

    def program(self, ctx: StackContext) -> Program:
        return Program(
            name=self.name,
            command=java_command(
                ctx,
                main="org.apache.hadoop.hbase.master.HMaster",
                classpath=[hbase_conf_dir(ctx), f"{ctx.lib('hbase')}/*"],
                heap_mb=ctx.config.stack.heap_mb.hbase,
                args=["start"],
                jvm_flags=[*JDK17_OPENS, f"-Dhbase.log.dir={ctx.root / 'logs'}"],
                jmx=(ctx.ports.jmx_hbase, "hbase.yaml"),
            ),
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
            stop_wait_s=self.stop_wait_s,
        )

    def check(self, ctx: StackContext) -> None:
        """The master is active, initialized, and has its region server."""
        url = f"http://{ctx.host}:{ctx.ports.hbase_master_info}/jmx"
        try:
            response = httpx.get(
                url, params={"qry": "Hadoop:service=HBase,name=Master,sub=Server"}, timeout=5
            )
            beans = response.json().get("beans", [])
        except (httpx.HTTPError, ValueError) as exc:
            raise TransientError(f"hbase: master not answering at {url}: {exc}") from None
        if not beans:
            raise TransientError("hbase: master not initialized yet")
        master = beans[0]
        if master.get("tag.isActiveMaster") != "true" or not master.get("masterFinishedInitializationTime"):
            raise TransientError("hbase: master not active/initialized yet")
        if master.get("numRegionServers", 0) < 1:
            raise TransientError("hbase: no region server online yet")
