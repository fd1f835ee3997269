"""`python -m cdc_ods.ksql ...`: the `cdc ksql` commands, also before `cdc` lists them."""

from cdc_ods.cli import app, main
from cdc_ods.ksql.cli import ksql_app

if not any(group.name == "ksql" for group in app.registered_groups):
    app.add_typer(ksql_app, name="ksql")
main()
