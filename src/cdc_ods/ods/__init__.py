"""The operational data store: Apache Phoenix tables on HBase, reached through the Query Server."""
