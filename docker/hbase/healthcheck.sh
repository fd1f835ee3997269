#!/usr/bin/env bash
# Health of each role, by what it serves:
#   master        the master is active, initialized and has its region server (as hbase.py checks)
#   query-server  the Avatica HTTP endpoint answers (a SQL round trip needs a protobuf client:
#                 the loader's own connection is that check)
#   thrift        the Thrift server's info server answers and the Thrift port accepts connections
set -euo pipefail
role=${1:-master}
case $role in
  master)
    bean=$(curl -fsS --max-time 5 'http://localhost:16010/jmx?qry=Hadoop:service=HBase,name=Master,sub=Server')
    grep -Eq '"tag.isActiveMaster" *: *"true"' <<< "$bean"
    grep -Eq '"masterFinishedInitializationTime" *: *[1-9]' <<< "$bean"
    grep -Eq '"numRegionServers" *: *[1-9]' <<< "$bean"
    ;;
  query-server)
    # any HTTP answer (Avatica rejects an empty request with an error status) means it serves
    curl -sS --max-time 5 -o /dev/null http://localhost:8765/
    ;;
  thrift)
    curl -fsS --max-time 5 -o /dev/null http://localhost:9096/
    exec 3<> /dev/tcp/127.0.0.1/9095
    ;;
  *)
    echo "unknown role '$role'" >&2
    exit 2
    ;;
esac
