"""Superset's configuration for cdc-ods: the local stack's (`cdc stack up --with superset`)
and docker-compose's. Everything that differs between them, or is secret, comes from the
environment the stack sets; nothing secret is in this file."""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["CDC_SUPERSET_METADATA_URI"]

# No cache of query results: a row the pipeline has loaded shows on the chart's next
# refresh, without restarting Superset or waiting for a cache to expire.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# Every chart of a dashboard renders when it opens, not only those scrolled into view.
FEATURE_FLAGS = {"DASHBOARD_VIRTUALIZATION": False}

# One process: per-process rate-limit counters are enough for a loopback service.
RATELIMIT_STORAGE_URI = "memory://"

SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 60
