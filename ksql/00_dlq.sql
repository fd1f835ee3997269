-- The dead-letter stream every cleansing script inserts its rejects into (ods.dlq).
-- The embedded backend writes these through cdc_ods.dlq (original bytes, topic, partition,
-- offset, stage, reason); a ksqlDB server writes the columns below.
CREATE STREAM IF NOT EXISTS ods_dlq (
    `dlq_key` STRING KEY,
    `stage` STRING,
    `reason` STRING,
    `source` STRUCT<`topic` STRING, `partition` INT, `offset` BIGINT>
) WITH (KAFKA_TOPIC='ods.dlq', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');
