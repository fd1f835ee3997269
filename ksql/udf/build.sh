#!/usr/bin/env bash
# Builds the ksqlDB UDF jar of the CDC_* functions that ksql/*.sql call (one class per
# function in src/; semantics: src/cdc_ods/ksql/functions.py). Used by `make ksqldb-udf`, by
# docker/ksqldb/Dockerfile and by tests/unit/test_ksqldb_udf.py, so all three build it alike.
#
#   ksql/udf/build.sh OUT.jar      (work files in OUT.jar's directory, under build/)
#
# Compiled against stubs/ (ksqlDB's annotation types, same names; the real artifact is not on
# Maven Central) and kafka-clients (profile ksqldb-udf of stack/pom.xml). Neither goes into
# the jar: the ksqlDB server provides both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(realpath -m "$1")"
build="$(dirname "$out")/build"
rm -rf "$build"
mkdir -p "$build"
mvn -B -q -f "$here/../../stack/pom.xml" -P ksqldb-udf dependency:build-classpath \
  -Dmdep.outputFile="$build/classpath" >"$build/maven.log" 2>&1 || { cat "$build/maven.log" >&2; exit 1; }
# Java 11 bytecode: ksqlDB 0.29's image runs Java 11
javac --release 11 -nowarn -d "$build/stubs" $(find "$here/stubs" -name '*.java')
javac --release 11 -Xlint:all -Werror -d "$build/classes" -cp "$build/stubs:$(cat "$build/classpath")" \
  $(find "$here/src" -name '*.java')
jar cf "$out" -C "$build/classes" .
echo "built $out"
