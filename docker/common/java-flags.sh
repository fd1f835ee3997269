#!/usr/bin/env bash
# Sourced by the JVM entrypoints: the flags every JVM of the stack gets, as in
# src/cdc_ods/stack/java.py (heap, G1, IPv4, the shared log4j2 config, the JMX exporter).
#   JAVA_HEAP_MB           maximum heap (MiB)
#   JMX_EXPORTER_PORT      port of the Prometheus JMX exporter agent (unset: no agent)
#   JMX_EXPORTER_RULES     its rules file (monitoring/jmx/*.yaml, mounted read-only)

java_flags() {
  local heap=${JAVA_HEAP_MB:-512}
  local initial=$(( heap < 256 ? heap : 256 ))
  JAVA_FLAGS=(
    "-Xms${initial}m" "-Xmx${heap}m"
    -XX:+UseG1GC -XX:MaxGCPauseMillis=50
    -Djava.net.preferIPv4Stack=true
    -Dlog4j2.configurationFile=/opt/cdc/log4j2.properties
    -Dlog4j2.formatMsgNoLookups=true
  )
  if [[ -n ${JMX_EXPORTER_PORT:-} ]]; then
    local rules=${JMX_EXPORTER_RULES:?JMX_EXPORTER_RULES must name the exporter rules file}
    if [[ ! -r $rules ]]; then
      echo "JMX exporter rules $rules not readable (is monitoring/jmx mounted?)" >&2
      exit 1
    fi
    local agent
    agent=$(ls /opt/jmx-exporter/jmx_prometheus_javaagent-*.jar | head -n 1)
    # no host: the agent listens on every interface of the container, for Prometheus
    JAVA_FLAGS+=("-javaagent:${agent}=${JMX_EXPORTER_PORT}:${rules}")
  fi
}

# JDK 17 needs these for HBase and the Phoenix client (HBASE-28259), as JDK17_OPENS in java.py
JDK17_OPENS=(
  --add-modules=jdk.unsupported
  -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports=java.base/sun.net.dns=ALL-UNNAMED
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
)
