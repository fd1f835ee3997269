#!/usr/bin/env bash
# First start of the MySQL 8 container (docker-entrypoint-initdb.d): the admin user, the
# source database and the least-privilege Debezium user, mirroring MariaDB.bootstrap() in
# src/cdc_ods/stack/services/mariadb.py. Passwords come from the environment (.env), never
# from a file. The image's entrypoint runs this against its temporary, socket-only server.
set -euo pipefail

: "${MYSQL_ROOT_PASSWORD:?}" "${CDC_MYSQL_ADMIN_PASSWORD:?}" "${CDC_MYSQL_DEBEZIUM_PASSWORD:?}"
database=${MYSQL_DATABASE:-maf}

quote() {  # a MySQL string literal
  local value=${1//\\/\\\\}
  printf "'%s'" "${value//\'/\'\'}"
}
admin_pw=$(quote "$CDC_MYSQL_ADMIN_PASSWORD")
dbz_pw=$(quote "$CDC_MYSQL_DEBEZIUM_PASSWORD")

MYSQL_PWD=$MYSQL_ROOT_PASSWORD mysql --protocol=socket -uroot --batch <<SQL
CREATE DATABASE IF NOT EXISTS \`$database\`;

CREATE USER IF NOT EXISTS 'cdc_admin'@'%' IDENTIFIED BY $admin_pw;
ALTER USER 'cdc_admin'@'%' IDENTIFIED BY $admin_pw;
GRANT ALL PRIVILEGES ON *.* TO 'cdc_admin'@'%' WITH GRANT OPTION;

-- What Debezium's MySQL connector documents: SELECT for snapshots (on the source database
-- only), RELOAD for FLUSH, SHOW DATABASES, and the two replication privileges for the binlog.
CREATE USER IF NOT EXISTS 'debezium'@'%' IDENTIFIED BY $dbz_pw;
ALTER USER 'debezium'@'%' IDENTIFIED BY $dbz_pw;
GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'debezium'@'%';
GRANT SELECT ON \`$database\`.* TO 'debezium'@'%';

-- Debezium's source signalling channel (connectors/mysql.json: signal.data.collection):
-- the admin inserts signals, the connector writes its incremental-snapshot watermarks.
CREATE TABLE IF NOT EXISTS \`$database\`.debezium_signal (
  id VARCHAR(42) PRIMARY KEY,
  type VARCHAR(32) NOT NULL,
  data VARCHAR(2048) NULL
);
GRANT INSERT ON \`$database\`.debezium_signal TO 'debezium'@'%';

FLUSH PRIVILEGES;
SQL
