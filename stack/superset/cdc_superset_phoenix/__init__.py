"""Apache Phoenix in Superset, as the cdc-ods ODS needs it: `cdc_phoenix://HOST:PORT/`.

phoenixdb ships a SQLAlchemy dialect (`phoenix://`) that its own docstring calls
incomplete, and Superset's Phoenix engine spec fails some charts on the ODS. What this
package mends, each tested by tests/integration/test_superset.py:

- `dialect.py`: every ODS table has an ARRAY column (`CDC_EMPTY`), on which phoenixdb's
  column reflection fails (KeyError 3012), so no ODS table could become a dataset; table
  names were matched as LIKE patterns (`_` matches any character), so one table's reflection
  could take another's columns; a password in the URL was sent as the user name.
- `engine_spec.py`: time-grain labels Phoenix refuses, upper-cased aliases, a grain Phoenix
  lacks, time filters cut to seconds (see there).

Installed into the local stack's Superset virtualenv by `cdc stack up --with superset`.
"""
