#!/usr/bin/env bash
# Installs the Debian packages the local stack needs, only those missing (a second run
# is a few dpkg queries). Called by `make setup`; safe to run by hand.
set -euo pipefail

packages=(
  mariadb-server mariadb-client   # the MySQL-family source (Debezium's MariaDB connector)
  postgresql                      # the PostgreSQL source (logical decoding, pgoutput)
  prometheus                      # metrics (prometheus + promtool)
  openjdk-17-jdk-headless maven   # Kafka, Connect, Debezium, HBase, Phoenix run on the JVM
  libkrb5-dev gcc                 # phoenixdb -> requests-gssapi -> gssapi builds from source
  python3-venv
  docker-compose                  # validates docker-compose.yaml (`config`; no engine needed)
  chromium chromium-driver        # the real browser of tests/integration/test_superset.py
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages: installing ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# policy-rc.d 101: Debian's maintainer scripts must not start system-wide instances of
# these servers; the stack runs its own, on its own data directories.
cleanup() { [[ -n "${policy:-}" ]] && $sudo rm -f /usr/sbin/policy-rc.d; }
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  policy=1
  trap cleanup EXIT
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: done"
