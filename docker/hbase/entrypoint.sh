#!/usr/bin/env bash
# One image, three roles, each configured as the local stack configures it
# (src/cdc_ods/stack/services/hbase.py, phoenix_query_server.py, hbase_thrift.py), with
# container hostnames instead of 127.0.0.1:
#   master        HBase standalone (HMaster + region server + ZooKeeper), Phoenix coprocessors
#   query-server  Phoenix Query Server (Avatica over HTTP, protobuf: what phoenixdb speaks)
#   thrift        HBase Thrift v1 server (what happybase speaks)
# Environment: HBASE_HOSTNAME (this container's name for the others, default: hostname),
# HBASE_ZOOKEEPER_QUORUM (default: hbase), JAVA_HEAP_MB, JMX_EXPORTER_PORT, JMX_EXPORTER_RULES.
set -euo pipefail
. /opt/cdc/java-flags.sh

role=${1:-master}
hostname=${HBASE_HOSTNAME:-$(hostname)}
quorum=${HBASE_ZOOKEEPER_QUORUM:-hbase}
data=/var/lib/hbase
conf=/etc/hbase/$role
mkdir -p "$conf"

site() {  # site NAME VALUE ... -> hbase-site.xml
  printf '<?xml version="1.0"?>\n<configuration>\n'
  while (( $# )); do
    printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"
    shift 2
  done
  printf '</configuration>\n'
}

# what every HBase/Phoenix client JVM needs (client_site in hbase.py)
client=(
  hbase.zookeeper.quorum "$quorum"
  hbase.zookeeper.property.clientPort 2181
  phoenix.schema.isNamespaceMappingEnabled false
)
java_flags

case $role in
  master)
    site \
      hbase.cluster.distributed false \
      hbase.rootdir "file://$data/root" \
      hbase.tmp.dir "$data/tmp" \
      hbase.zookeeper.property.dataDir "$data/zookeeper" \
      hbase.unsafe.stream.capability.enforce false \
      hbase.localcluster.assign.random.ports false \
      "${client[@]}" \
      hbase.zookeeper.property.clientPortAddress 0.0.0.0 \
      hbase.master.hostname "$hostname" \
      hbase.unsafe.regionserver.hostname "$hostname" \
      hbase.master.ipc.address 0.0.0.0 \
      hbase.regionserver.ipc.address 0.0.0.0 \
      hbase.master.port 16000 \
      hbase.master.info.port 16010 \
      hbase.master.info.bindAddress 0.0.0.0 \
      hbase.regionserver.port 16020 \
      hbase.regionserver.info.port 16030 \
      hbase.regionserver.info.bindAddress 0.0.0.0 \
      zookeeper.recovery.retry 1 \
      zookeeper.recovery.retry.intervalmill 500 \
      hbase.regionserver.wal.codec org.apache.hadoop.hbase.regionserver.wal.IndexedWALEditCodec \
      > "$conf/hbase-site.xml"
    exec java "${JAVA_FLAGS[@]}" "${JDK17_OPENS[@]}" "-Dhbase.log.dir=$data/logs" \
      -cp "$conf:/opt/hbase/lib/*" org.apache.hadoop.hbase.master.HMaster start
    ;;
  query-server)
    site \
      "${client[@]}" \
      phoenix.queryserver.http.port 8765 \
      phoenix.queryserver.http.bind.address 0.0.0.0 \
      phoenix.queryserver.serialization PROTOBUF \
      phoenix.queryserver.jmxjsonendpoint.disabled true \
      > "$conf/hbase-site.xml"
    lib=/opt/phoenix-query-server/lib
    # Order matters: the bind plug-in, then the PQS jar (with its Jetty) before the embedded
    # client, which bundles classes of the same names; then the rest.
    first=("$lib/cdc-pqs-bind.jar" "$(ls "$lib"/phoenix-queryserver-*.jar)" "$(ls "$lib"/phoenix-client-embedded-*.jar)")
    classpath="$conf"
    for jar in "${first[@]}"; do classpath+=":$jar"; done
    for jar in "$lib"/*.jar; do
      [[ " ${first[*]} " == *" $jar "* ]] || classpath+=":$jar"
    done
    exec java "${JAVA_FLAGS[@]}" "${JDK17_OPENS[@]}" -cp "$classpath" \
      org.apache.phoenix.queryserver.server.QueryServer
    ;;
  thrift)
    site "${client[@]}" > "$conf/hbase-site.xml"
    # thrift1 over a plain socket, binary protocol: what happybase speaks by default
    exec java "${JAVA_FLAGS[@]}" "${JDK17_OPENS[@]}" -cp "$conf:/opt/hbase/lib/*" \
      org.apache.hadoop.hbase.thrift.ThriftServer -b 0.0.0.0 -p 9095 --infoport 9096 -threadpool start
    ;;
  *)
    echo "unknown role '$role' (master | query-server | thrift)" >&2
    exit 2
    ;;
esac
