"""Command lines for the stack's JVM services (Kafka, Connect, HBase, Query Server)."""

from __future__ import annotations

import shutil
from pathlib import Path

from cdc_ods.errors import ServiceError
from cdc_ods.paths import tool_file
from cdc_ods.stack.context import StackContext

# JDK 17 needs these for HBase and the Phoenix client (HBASE-28259): they reach into JDK
# internals for off-heap buffers and Kerberos/DNS helpers.
JDK17_OPENS = [
    "--add-modules=jdk.unsupported",
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
    *(
        f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
        for pkg in (
            "java.io",
            "java.nio",
            "sun.nio.ch",
            "java.lang",
            "jdk.internal.ref",
            "java.lang.reflect",
            "java.util",
            "java.util.concurrent",
        )
    ),
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.base/sun.net.dns=ALL-UNNAMED",
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
]


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError("Java not found on PATH: install a JDK 17 (`make setup` does)")
    return java


def log4j_flag() -> str:
    """The JVMs' logging configuration (the tool's stack/log4j2.properties)."""
    return f"-Dlog4j2.configurationFile={tool_file('stack', 'log4j2.properties')}"


def jmx_agent(ctx: StackContext, port: int, rules: str) -> str:
    """-javaagent flag for the Prometheus JMX exporter, bound to the stack host only."""
    jars = sorted(ctx.lib("jmx-exporter").glob("jmx_prometheus_javaagent-*.jar"))
    if not jars:
        raise ServiceError("JMX exporter agent jar missing; run `cdc stack install`")
    config = tool_file("monitoring", "jmx", rules)  # the tool's curated rules, not the workspace's
    return f"-javaagent:{jars[0]}={ctx.host}:{port}:{config}"


def java_command(
    ctx: StackContext,
    *,
    main: str,
    classpath: list[Path | str],
    heap_mb: int,
    args: list[str] | None = None,
    jvm_flags: list[str] | None = None,
    jmx: tuple[int, str] | None = None,
) -> list[str]:
    # the whole heap is taken and touched at start: a service's memory is known when it starts,
    # not an hour later when the OS may no longer have it (and the soak judges what grows
    # besides the heap)
    command = [
        java_binary(),
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        "-XX:+AlwaysPreTouch",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=50",
        "-Djava.net.preferIPv4Stack=true",
        log4j_flag(),
        "-Dlog4j2.formatMsgNoLookups=true",
    ]
    if jmx is not None:
        command.append(jmx_agent(ctx, *jmx))
    command += jvm_flags or []
    command += ["-cp", ":".join(str(p) for p in classpath), main, *(args or [])]
    return command
