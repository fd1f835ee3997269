-- Source schema of the `postgres` source, run by `cdc produce postgres` with search_path
-- set to the configured schema. Ids are assigned by the producer (no sequences), so a seed
-- reproduces them.

CREATE TABLE IF NOT EXISTS tv_series (
    id             bigint       PRIMARY KEY,
    uuid           uuid         NOT NULL UNIQUE,
    title          text         NOT NULL,
    original_title text,
    genres         text[]       NOT NULL DEFAULT '{}',
    first_aired    date,
    rating         numeric(3,1),
    is_running     boolean      NOT NULL,
    metadata       jsonb,
    created_at     timestamptz  NOT NULL,
    updated_at     timestamptz  NOT NULL
);

-- No ON DELETE CASCADE: the producer deletes a series' episodes itself, so every delete
-- is an operation it counts and the ledger records.
CREATE TABLE IF NOT EXISTS episodes (
    id               bigint      PRIMARY KEY,
    series_id        bigint      NOT NULL REFERENCES tv_series (id),
    season           smallint    NOT NULL,
    number           smallint    NOT NULL,
    title            text        NOT NULL,
    air_date         date,
    runtime_min      integer,
    viewers_millions numeric(6,3),
    has_subtitles    boolean     NOT NULL,
    languages        text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (series_id, season, number)
);

CREATE INDEX IF NOT EXISTS episodes_series_id ON episodes (series_id);

-- Full before images in the WAL: Debezium's update and delete events then carry every
-- column of the old row, not only the key, as MariaDB's binlog_row_image=FULL does. The
-- ODS can keep soft-deleted rows whole and audits can diff updates; the price is more WAL.
ALTER TABLE tv_series REPLICA IDENTITY FULL;
ALTER TABLE episodes REPLICA IDENTITY FULL;
