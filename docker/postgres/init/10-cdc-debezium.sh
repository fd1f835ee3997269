#!/usr/bin/env bash
# First start of the PostgreSQL 15 container (docker-entrypoint-initdb.d): the schema, the
# Debezium replication role and the publication, mirroring Postgres.bootstrap() in
# src/cdc_ods/stack/services/postgres.py. The admin (POSTGRES_USER=cdc_admin) and the
# database (POSTGRES_DB=maf) are created by the image itself. The password comes from the
# environment (.env) and reaches SQL as a psql variable, quoted by psql (:'name').
set -euo pipefail

: "${CDC_POSTGRES_DEBEZIUM_PASSWORD:?}"
schema=maf

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v dbz_password="$CDC_POSTGRES_DEBEZIUM_PASSWORD" -v schema="$schema" <<'SQL'
SELECT 'CREATE ROLE debezium' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'debezium')
\gexec
ALTER ROLE debezium WITH LOGIN REPLICATION PASSWORD :'dbz_password';

CREATE SCHEMA IF NOT EXISTS :"schema";
SELECT format('GRANT CONNECT ON DATABASE %I TO debezium', current_database())
\gexec
GRANT USAGE ON SCHEMA :"schema" TO debezium;
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO debezium;
ALTER DEFAULT PRIVILEGES IN SCHEMA :"schema" GRANT SELECT ON TABLES TO debezium;

-- connectors/postgres.json: heartbeat.action.query keeps the slot moving on an idle
-- database; signal.data.collection is the incremental-snapshot signalling table.
CREATE TABLE IF NOT EXISTS :"schema".debezium_heartbeat (id INTEGER PRIMARY KEY, ts TIMESTAMPTZ NOT NULL);
INSERT INTO :"schema".debezium_heartbeat VALUES (1, now()) ON CONFLICT (id) DO NOTHING;
GRANT UPDATE ON :"schema".debezium_heartbeat TO debezium;
CREATE TABLE IF NOT EXISTS :"schema".debezium_signal (
  id VARCHAR(42) PRIMARY KEY,
  type VARCHAR(32) NOT NULL,
  data VARCHAR(2048) NULL
);
GRANT INSERT ON :"schema".debezium_signal TO debezium;

-- Created by the admin so Debezium needs no ownership of the tables
-- (publication.autocreate.mode=disabled); schema-wide, so later tables are included.
SELECT format('CREATE PUBLICATION cdc_publication FOR TABLES IN SCHEMA %I', :'schema')
WHERE NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'cdc_publication')
\gexec
SQL
