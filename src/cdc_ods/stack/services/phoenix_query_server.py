"""The Phoenix Query Server: Phoenix SQL over HTTP (Avatica, protobuf), what phoenixdb speaks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cdc_ods.errors import CdcError, ServiceError
from cdc_ods.ods.phoenix import connect, run
from cdc_ods.paths import tool_file
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import JDK17_OPENS, java_command
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.services.hbase import client_site, render_site_xml
from cdc_ods.stack.supervisor import Program

PROFILE = "phoenix-query-server"
BIND_PLUGIN_JAR = "cdc-pqs-bind.jar"


class PhoenixQueryServer(Service):
    name = "phoenix-query-server"
    requires = ("hbase",)
    maven_profiles = (PROFILE, "jmx-exporter")
    port_names = ("phoenix_query_server", "jmx_phoenix_query_server")
    metrics_port_name = "jmx_phoenix_query_server"

    def endpoint(self, ctx: StackContext) -> str:
        return f"http://{ctx.host}:{ctx.ports.phoenix_query_server}/"

    def _jar(self, ctx: StackContext, prefix: str) -> Path:
        jars = sorted(ctx.lib(PROFILE).glob(f"{prefix}-*.jar"))
        if not jars:
            raise ServiceError(
                f"{self.name}: {prefix} jar missing from {ctx.lib(PROFILE)}; run `cdc stack install`"
            )
        return jars[0]

    def _build_bind_plugin(self, ctx: StackContext) -> Path:
        """Compile the tool's stack/pqs-bind (our Query Server plug-in that binds to one address)."""
        source = tool_file("stack", "pqs-bind")
        jar = ctx.lib(PROFILE) / BIND_PLUGIN_JAR
        newest = max(p.stat().st_mtime for p in source.rglob("*") if p.is_file())
        if jar.exists() and jar.stat().st_mtime >= newest:
            return jar
        javac, jar_tool = shutil.which("javac"), shutil.which("jar")
        if not javac or not jar_tool:
            raise ServiceError(f"{self.name}: javac/jar not found; install a JDK 17 (`make setup` does)")
        build = ctx.root / "build" / "pqs-bind"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        classpath = f"{self._jar(ctx, 'phoenix-queryserver')}:{self._jar(ctx, 'phoenix-client-embedded')}"
        steps = [
            [javac, "--release", "8", "-nowarn", "-d", str(build), "-cp", classpath,
             *(str(p) for p in (source / "src").rglob("*.java"))],
            [jar_tool, "cf", str(jar), "-C", str(build), ".", "-C", str(source), "META-INF"],
        ]  # fmt: skip
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ServiceError(
                    f"{self.name}: building the bind plug-in failed: {result.stderr.strip()[-400:]}"
                )
        return jar

    def prepare(self, ctx: StackContext) -> None:
        site = {
            **client_site(ctx),
            "phoenix.queryserver.http.port": ctx.ports.phoenix_query_server,
            "phoenix.queryserver.http.bind.address": ctx.host,
            "phoenix.queryserver.serialization": "PROTOBUF",
            # PHOENIX-6605/6861: the /jmx servlet of the embedded client extends an unrelocated
            # javax.servlet class that PQS 6.0.0 relocates; the JMX exporter covers metrics.
            "phoenix.queryserver.jmxjsonendpoint.disabled": "true",
        }
        conf = ctx.conf(self.name)
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "hbase-site.xml").write_text(render_site_xml(site), encoding="utf-8")
        self._build_bind_plugin(ctx)
        ctx.data(self.name).mkdir(parents=True, exist_ok=True)

    def program(self, ctx: StackContext) -> Program:
        lib = ctx.lib(PROFILE)
        # Order matters: the PQS jar (with its Jetty) before the embedded client, which
        # bundles classes of the same names.
        first = [
            lib / BIND_PLUGIN_JAR,
            self._jar(ctx, "phoenix-queryserver"),
            self._jar(ctx, "phoenix-client-embedded"),
        ]
        rest = sorted(p for p in lib.glob("*.jar") if p not in first)
        return Program(
            name=self.name,
            command=java_command(
                ctx,
                main="org.apache.phoenix.queryserver.server.QueryServer",
                classpath=[ctx.conf(self.name), *first, *rest],
                heap_mb=ctx.config.stack.heap_mb.phoenix_query_server,
                jvm_flags=JDK17_OPENS,
                jmx=(ctx.ports.jmx_phoenix_query_server, "phoenix-query-server.yaml"),
            ),
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
        )

    def check(self, ctx: StackContext) -> None:
        """A SQL round trip: the first one also creates Phoenix's SYSTEM tables on a cold start."""
        conn = connect(self.endpoint(ctx))
        try:
            run(conn, "SELECT COUNT(*) FROM SYSTEM.CATALOG")
        except CdcError as exc:
            from cdc_ods.errors import TransientError

            raise TransientError(f"{self.name}: {exc}") from None
        finally:
            conn.close()
