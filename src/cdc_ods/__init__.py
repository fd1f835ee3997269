"""cdc-ods: change-data-capture from operational databases into a Phoenix/HBase ODS."""

__version__ = "0.1.0"
