-- Cleansing of events.app.client_events (written by the collector, `cdc collector run`) ->
-- ods.events.app.client_events. Not a Debezium envelope: each record is one app event,
-- keyed by uid (plain text). Every event is an insert; the ODS key is (uid, sid, seq), so
-- a batch a client sent twice (a retry after a lost acknowledgement) overwrites itself.

CREATE STREAM IF NOT EXISTS events_app_client_events_raw (
    `uid_key` STRING KEY,
    `ts` BIGINT,
    `uid` STRING,
    `sid` STRING,
    `seq` BIGINT,
    `event` STRING,
    `platform` STRING,
    `country` STRING,
    `app_version` STRING,
    `os` STRING,
    `device` STRING,
    `props` MAP<STRING, STRING>,
    `received_at_ms` BIGINT
) WITH (KAFKA_TOPIC='events.app.client_events', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');

CREATE STREAM IF NOT EXISTS events_app_client_events_checked
  WITH (KAFKA_TOPIC='ksql.events.app.client_events.checked', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
SELECT
    STRUCT(`uid` := `uid`, `sid` := `sid`, `seq` := `seq`) AS `k`,
    `uid`,
    `sid`,
    `seq`,
    TRIM(`event`) AS `event`,
    TRIM(`platform`) AS `platform`,
    TRIM(`country`) AS `country`,
    `app_version`,
    `os`,
    `device`,
    TO_JSON_STRING(`props`) AS `props`,
    CDC_TS_MILLIS(`ts`) AS `event_ts`,
    CDC_TS_MILLIS(`received_at_ms`) AS `received_at`,
    'c' AS `__op`,
    `received_at_ms` AS `__source_ts_ms`,
    `seq` AS `__source_pos`,
    FALSE AS `__deleted`,
    ROWPARTITION AS `__partition`,
    ROWOFFSET AS `__offset`,
    CASE
        WHEN `uid` IS NULL OR `sid` IS NULL OR `seq` IS NULL THEN 'no key (uid, sid, seq)'
        WHEN `seq` < 1 THEN 'sequence number below 1'
        WHEN `platform` NOT IN ('ios', 'android', 'web') THEN 'unknown platform'
        WHEN `ts` IS NULL THEN 'no event timestamp'
    END AS `__reject`
FROM events_app_client_events_raw
PARTITION BY STRUCT(`uid` := `uid`, `sid` := `sid`, `seq` := `seq`)
EMIT CHANGES;

CREATE STREAM IF NOT EXISTS ods_events_app_client_events
  WITH (KAFKA_TOPIC='ods.events.app.client_events', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
SELECT `k`, `uid`, `sid`, `seq`, `event`, `platform`, `country`, `app_version`, `os`, `device`, `props`,
    `event_ts`, `received_at`, `__op`, `__source_ts_ms`, `__source_pos`, `__deleted`
FROM events_app_client_events_checked
WHERE `__reject` IS NULL
EMIT CHANGES;

-- Rejected events to ods.dlq (declared in 00_dlq.sql) with their reason.
INSERT INTO ods_dlq
SELECT TO_JSON_STRING(`k`) AS `dlq_key`, 'cleansing' AS `stage`, `__reject` AS `reason`,
    STRUCT(`topic` := 'events.app.client_events', `partition` := `__partition`,
           `offset` := `__offset`) AS `source`
FROM events_app_client_events_checked
WHERE `__reject` IS NOT NULL
PARTITION BY TO_JSON_STRING(`k`)
EMIT CHANGES;
