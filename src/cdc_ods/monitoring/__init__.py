"""The pipeline's health at a glance (`cdc status`)."""
