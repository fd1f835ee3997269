"""The cleansing stage: KSQL scripts (`ksql/*.sql`) run by a ksqlDB server or the embedded runner.

`parser` reads the supported KSQL subset into `ast` nodes (refusing anything else with the
construct and its line), `compiler` turns expressions into Python closures with KSQL
semantics, `plan` wires statements into pipelines, `runner` is the embedded Kafka
consumer/producer, `ksqldb` the REST backend, `generate` writes scripts from source schemas.
"""
