#!/usr/bin/env bash
# A replica set with access control needs a key file for its members' internal auth; a
# single node has nobody to share it with, so it is generated once, into the config volume.
set -euo pipefail
keyfile=/data/configdb/cdc-keyfile
if [[ ! -s $keyfile ]]; then
  umask 077
  head -c 756 /dev/urandom | base64 -w 0 > "$keyfile"
fi
chown mongodb:mongodb "$keyfile"
chmod 0400 "$keyfile"
exec docker-entrypoint.sh "$@"
