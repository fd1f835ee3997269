#!/usr/bin/env bash
# Print a Java .properties file built from environment variables with a prefix, the way
# Confluent's and Apache Kafka's images read their settings:
#   PREFIX_A_B=x -> a.b=x      PREFIX_A__B=x -> a_b=x      PREFIX_A___B=x -> a-b=x
# Usage: env-properties.sh PREFIX_ > file.properties
set -euo pipefail
prefix=${1:?usage: env-properties.sh PREFIX_}
env -0 | while IFS= read -r -d '' entry; do
  name=${entry%%=*}
  value=${entry#*=}
  [[ $name == "$prefix"* ]] || continue
  key=${name#"$prefix"}
  key=${key,,}
  key=${key//___/-}
  key=${key//__/@}
  key=${key//_/.}
  key=${key//@/_}
  printf '%s=%s\n' "$key" "${value//\\/\\\\}"
done | LC_ALL=C sort
