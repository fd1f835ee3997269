"""Settings for every test folder."""

# tests/fault kills stack services under load for minutes: `make fault` runs it, `pytest tests` does not.
collect_ignore = ["fault"]
