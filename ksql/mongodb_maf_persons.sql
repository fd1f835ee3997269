-- Cleansing of mongodb.maf.persons -> ods.mongodb.maf.persons. Written by hand: MongoDB has
-- no schema for `cdc ksql generate` to read. Debezium's MongoDB connector sends each
-- document as extended-JSON text in `after` (and `before` with pre-images), so fields are
-- read with EXTRACTJSONFIELD; deletes carry only the key. `_id` is the key's text form.
-- Personal data: email and phone become keyed hashes (equal values still join), the birth
-- date only its year, and the street and postcode of the address are dropped.

CREATE STREAM IF NOT EXISTS mongodb_maf_persons_raw (
    `k` STRUCT<`id` STRING> KEY,
    `before` STRING,
    `after` STRING,
    `source` STRUCT<`ts_ms` BIGINT, `ord` INT>,
    `op` STRING
) WITH (KAFKA_TOPIC='mongodb.maf.persons', KEY_FORMAT='JSON', VALUE_FORMAT='JSON');

CREATE STREAM IF NOT EXISTS mongodb_maf_persons_checked
  WITH (KAFKA_TOPIC='ksql.mongodb.maf.persons.checked', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
SELECT
    `k`,
    `k`->`id` AS `_id`,
    TRIM(CDC_NFC(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.name.first'))) AS `name_first`,
    TRIM(CDC_NFC(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.name.last'))) AS `name_last`,
    CAST(SUBSTRING(CDC_BSON_TS(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.birth_date')), 1, 4) AS INT)
        AS `birth_year`,
    CDC_HMAC(LCASE(TRIM(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.email')))) AS `email`,
    CDC_HMAC(REGEXP_REPLACE(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.phone'), '[^0-9]', '')) AS `phone`,
    TRIM(CDC_NFC(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.address.city'))) AS `address_city`,
    TRIM(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.address.country')) AS `address_country`,
    CDC_JSON_ARRAY(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.tags')) AS `tags`,
    TRIM(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.loyalty.tier')) AS `loyalty_tier`,
    CAST(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.loyalty.points') AS INT) AS `loyalty_points`,
    CAST(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.active') AS BOOLEAN) AS `active`,
    CDC_BSON_TS(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.created_at')) AS `created_at`,
    CDC_BSON_TS(EXTRACTJSONFIELD(COALESCE(`after`, `before`), '$.updated_at')) AS `updated_at`,
    `op` AS `__op`,
    `source`->`ts_ms` AS `__source_ts_ms`,
    -- the oplog timestamp (whole seconds, as ts_ms) and the order of the change in that second
    `source`->`ts_ms` * 1000000 + COALESCE(`source`->`ord`, 0) AS `__source_pos`,
    `op` = 'd' AS `__deleted`,
    ROWPARTITION AS `__partition`,
    ROWOFFSET AS `__offset`,
    CASE
        WHEN `k` IS NULL OR `k`->`id` IS NULL THEN 'no key'
        WHEN `op` IS NULL OR `op` NOT IN ('c', 'u', 'd', 'r') THEN 'unknown op (not c, u, d, r)'
        WHEN `after` IS NULL AND `op` <> 'd' THEN 'no after image in a change that is not a delete'
        WHEN COALESCE(`after`, `before`) IS NOT NULL AND NOT IS_JSON_STRING(COALESCE(`after`, `before`))
            THEN 'malformed JSON document'
    END AS `__reject`
FROM mongodb_maf_persons_raw
EMIT CHANGES;

CREATE STREAM IF NOT EXISTS ods_mongodb_maf_persons
  WITH (KAFKA_TOPIC='ods.mongodb.maf.persons', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
SELECT `k`, `_id`, `name_first`, `name_last`, `birth_year`, `email`, `phone`, `address_city`,
    `address_country`, `tags`, `loyalty_tier`, `loyalty_points`, `active`, `created_at`, `updated_at`,
    `__op`, `__source_ts_ms`, `__source_pos`, `__deleted`
FROM mongodb_maf_persons_checked
WHERE `__reject` IS NULL
EMIT CHANGES;

-- Rejected records to ods.dlq (declared in 00_dlq.sql) with their reason.
INSERT INTO ods_dlq
SELECT TO_JSON_STRING(`k`) AS `dlq_key`, 'cleansing' AS `stage`, `__reject` AS `reason`,
    STRUCT(`topic` := 'mongodb.maf.persons', `partition` := `__partition`,
           `offset` := `__offset`) AS `source`
FROM mongodb_maf_persons_checked
WHERE `__reject` IS NOT NULL
PARTITION BY TO_JSON_STRING(`k`)
EMIT CHANGES;
