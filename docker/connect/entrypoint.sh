#!/usr/bin/env bash
# Kafka Connect distributed worker. connect-distributed.properties comes from the CONNECT_*
# environment (docker-compose.yaml). Connector passwords stay ${env:...} references that the
# worker resolves with EnvVarConfigProvider (CONNECT_CONFIG_PROVIDERS=env), so they never
# enter the config topic.
set -euo pipefail
. /opt/cdc/java-flags.sh

conf=/etc/connect/connect-distributed.properties
/opt/cdc/env-properties.sh CONNECT_ > "$conf"
java_flags
# the binlog client logs through java.util.logging: route it to log4j2
exec java "${JAVA_FLAGS[@]}" -Djava.util.logging.manager=org.apache.logging.log4j.jul.LogManager \
  -cp '/opt/connect/lib/*' org.apache.kafka.connect.cli.ConnectDistributed "$conf"
