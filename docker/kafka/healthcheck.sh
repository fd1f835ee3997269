#!/usr/bin/env bash
# Healthy when the broker answers an ApiVersions request on its internal listener.
set -euo pipefail
exec java -Xmx64m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=/opt/cdc/log4j2.properties \
  -cp '/opt/kafka/lib/*' org.apache.kafka.tools.BrokerApiVersionsCommand \
  --bootstrap-server "${1:-localhost:9092}" > /dev/null
