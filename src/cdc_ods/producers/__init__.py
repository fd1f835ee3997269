"""Load producers: deterministic inserts, updates and deletes into the source databases.

`ops` models a change as data, `ledger` records what was committed, `runner` paces and
batches changes into transactions; one module per source (`mysql`, `postgres`,
`mongodb`) generates its rows and writes them; `cli` is `cdc produce`.
"""
