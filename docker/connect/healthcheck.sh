#!/usr/bin/env bash
# Healthy when the REST API lists every Debezium source plugin (as the local stack checks).
set -euo pipefail
plugins=$(curl -fsS --max-time 5 -u "cdc:${CDC_CONNECT_PASSWORD:?}" http://localhost:8083/connector-plugins)
for class in io.debezium.connector.mariadb.MariaDbConnector \
             io.debezium.connector.mysql.MySqlConnector \
             io.debezium.connector.postgresql.PostgresConnector \
             io.debezium.connector.mongodb.MongoDbConnector; do
  if [[ $plugins != *"\"$class\""* ]]; then
    echo "plugin $class not loaded" >&2
    exit 1
  fi
done
