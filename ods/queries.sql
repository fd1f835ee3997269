-- Analyst queries over the ODS: the sources side by side, as one store.
-- Run one with `cdc sql "$(sed -n '/^-- name: titles/,/;/p' ods/queries.sql)"`, paste into
-- `cdc sql`'s prompt, or use any phoenixdb/Avatica client. Phoenix views cover one table
-- each, so cross-source reads are queries (UNION ALL), kept here in one place and run by
-- tests/integration/test_queries_over_the_ods.py against the live ODS.

-- name: titles
-- Every title across sources: movies (MySQL family) and TV series (PostgreSQL).
SELECT 'movie' AS KIND, TITLE, RATING, CAST(RELEASE_DATE AS DATE) AS RELEASED, CDC_SOURCE_TS
FROM ODS.MYSQL_MAF_MOVIES
UNION ALL
SELECT 'tv_series' AS KIND, TITLE, RATING, FIRST_AIRED AS RELEASED, CDC_SOURCE_TS
FROM ODS.POSTGRES_MAF_TV_SERIES;

-- name: events_per_minute
-- The apps' events per minute, platform and event, over the last hour (near real time:
-- the loader commits within a second of the collector).
SELECT CAST(TRUNC(EVENT_TS, 'MINUTE') AS TIMESTAMP) AS MINUTE, PLATFORM, EVENT, COUNT(*) AS EVENTS
FROM ODS.EVENTS_APP_CLIENT_EVENTS
WHERE EVENT_TS > CURRENT_DATE() - 1.0 / 24
GROUP BY TRUNC(EVENT_TS, 'MINUTE'), PLATFORM, EVENT
ORDER BY MINUTE DESC, EVENTS DESC;

-- name: app_events_per_minute
-- The replicated client event log (MySQL family `app_events`) the same way.
SELECT CAST(TRUNC(EVENT_TS, 'MINUTE') AS TIMESTAMP) AS MINUTE, PLATFORM, EVENT, COUNT(*) AS EVENTS
FROM ODS.MYSQL_MAF_APP_EVENTS
GROUP BY TRUNC(EVENT_TS, 'MINUTE'), PLATFORM, EVENT
ORDER BY MINUTE DESC, EVENTS DESC;

-- name: episodes_per_series
-- A join inside one source: episodes per series with the series' title.
SELECT S.TITLE, COUNT(E.ID) AS EPISODES, MAX(E.AIR_DATE) AS LATEST
FROM ODS.POSTGRES_MAF_TV_SERIES S
JOIN ODS.POSTGRES_MAF_EPISODES E ON E.SERIES_ID = S.ID
GROUP BY S.TITLE
ORDER BY EPISODES DESC
LIMIT 20;

-- name: freshness
-- How far behind each table is: the newest source commit applied, per ODS table.
SELECT 'movies' AS T, MAX(CDC_SOURCE_TS) AS NEWEST_SOURCE_COMMIT, MAX(CDC_LOADED_AT) AS LAST_LOADED
FROM ODS.MYSQL_MAF_MOVIES
UNION ALL
SELECT 'tv_series' AS T, MAX(CDC_SOURCE_TS), MAX(CDC_LOADED_AT) FROM ODS.POSTGRES_MAF_TV_SERIES;
