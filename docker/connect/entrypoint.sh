#!/usr/bin/env bash
# Kafka Connect distributed worker. connect-distributed.properties comes from the CONNECT_*
# environment (docker-compose.yaml). Connector passwords stay ${env:...} references that the
# worker resolves with EnvVarConfigProvider (CONNECT_CONFIG_PROVIDERS=env), so they never
# enter the config topic.
set -euo pipefail
. /opt/cdc/java-flags.sh

conf=/etc/connect/connect-distributed.properties
/opt/cdc/env-properties.sh CONNECT_ > "$conf"
# the REST API's user cdc (CONNECT_REST_EXTENSION_CLASSES: basic authentication), as the local
# stack writes it (src/cdc_ods/stack/services/connect.py)
users=/etc/connect/rest-users.properties
(umask 077 && printf 'cdc: %s\n' "${CDC_CONNECT_PASSWORD:?}" > "$users")
printf 'KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file="%s";\n};\n' \
  "$users" > /etc/connect/rest-jaas.conf
java_flags
# the binlog client logs through java.util.logging: route it to log4j2
exec java "${JAVA_FLAGS[@]}" -Djava.util.logging.manager=org.apache.logging.log4j.jul.LogManager \
  -Djava.security.auth.login.config=/etc/connect/rest-jaas.conf \
  -cp '/opt/connect/lib/*' org.apache.kafka.connect.cli.ConnectDistributed "$conf"
