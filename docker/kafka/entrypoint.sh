#!/usr/bin/env bash
# Kafka broker + KRaft controller. server.properties comes from the KAFKA_* environment
# (docker-compose.yaml); the log directory is formatted once, as the local stack does.
set -euo pipefail
. /opt/cdc/java-flags.sh

conf=/etc/kafka/server.properties
/opt/cdc/env-properties.sh KAFKA_ > "$conf"
log_dir=${KAFKA_LOG_DIRS:?KAFKA_LOG_DIRS is required}
cluster_id=${CDC_KAFKA_CLUSTER_ID:?CDC_KAFKA_CLUSTER_ID is required}
java_flags

if [[ ! -f $log_dir/meta.properties ]]; then
  java -Xmx256m -Dlog4j2.configurationFile=/opt/cdc/log4j2.properties -cp '/opt/kafka/lib/*' \
    kafka.tools.StorageTool format --standalone "--cluster-id=$cluster_id" -c "$conf"
fi
exec java "${JAVA_FLAGS[@]}" -cp '/opt/kafka/lib/*' kafka.Kafka "$conf"
