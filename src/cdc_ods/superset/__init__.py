"""Apache Superset on the ODS: the REST client, the provisioned assets, `cdc superset`."""
