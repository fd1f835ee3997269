#!/bin/sh
# The metadata database and the admin user (idempotent, as the local stack's Superset service
# does), then the web server on all interfaces of the container (published on 127.0.0.1 only).
set -eu
: "${CDC_SUPERSET_ADMIN_PASSWORD:?set CDC_SUPERSET_ADMIN_PASSWORD}"
superset db upgrade
superset init
python /etc/superset/set_admin.py
exec gunicorn --bind=0.0.0.0:8088 --workers=1 --threads=8 --worker-class=gthread \
  --timeout=120 --limit-request-line=0 'superset.app:create_app()'
