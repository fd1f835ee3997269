-- Source schema of the `mysql` source (MariaDB locally, MySQL 8 in docker-compose).
-- Run by `cdc produce mysql` in the configured database when tables are missing; keep it
-- valid on both servers. Ids are assigned by the producer (no AUTO_INCREMENT), so a seed
-- reproduces them.

CREATE TABLE IF NOT EXISTS movies (
    id             BIGINT        NOT NULL PRIMARY KEY,
    title          VARCHAR(200)  NOT NULL,
    original_title VARCHAR(200)  NULL,
    genres         VARCHAR(200)  NOT NULL,          -- comma-separated, e.g. 'Comedy,Drama'
    release_date   DATE          NULL,
    rating         DECIMAL(3,1)  NULL,              -- 1.0 .. 10.0
    runtime_min    SMALLINT UNSIGNED NULL,
    budget_usd     DECIMAL(15,2) NULL,
    metadata       JSON          NULL,
    created_at     DATETIME(6)   NOT NULL,          -- UTC
    updated_at     DATETIME(6)   NOT NULL           -- UTC
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The mobile apps' client event log: append-mostly.
CREATE TABLE IF NOT EXISTS app_events (
    id          BIGINT       NOT NULL PRIMARY KEY,
    -- explicit DEFAULT: without it MariaDB would add ON UPDATE CURRENT_TIMESTAMP
    event_ts    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    uid         BIGINT       NOT NULL,
    sid         CHAR(36)     NOT NULL,
    event       VARCHAR(32)  NOT NULL,              -- click_timeline, click_transaction, ...
    platform    ENUM('ios', 'android', 'web') NOT NULL,
    country     CHAR(2)      NULL,
    app_version VARCHAR(16)  NULL,
    KEY app_events_event_ts (event_ts),
    KEY app_events_uid (uid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
