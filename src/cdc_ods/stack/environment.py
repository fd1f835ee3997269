"""Connection settings of the local stack, as environment variables (`cdc stack env`)."""

from __future__ import annotations

from urllib.parse import quote

from cdc_ods.endpoints import Endpoints
from cdc_ods.secrets import ADMIN_USER
from cdc_ods.stack.context import StackContext


def connection_settings(ctx: StackContext) -> dict[str, str]:
    """Addresses (the same variables `Endpoints` reads) plus admin URLs with credentials."""
    ends = Endpoints.from_config(ctx.config)
    creds = ctx.credentials
    settings = {Endpoints.ENV[name]: value for name, value in vars(ends).items()}
    my_pw = quote(creds.mysql_admin.get_secret_value(), safe="")
    pg_pw = quote(creds.postgres_admin.get_secret_value(), safe="")
    settings["CDC_MYSQL_URL"] = f"mysql://{ADMIN_USER}:{my_pw}@{ends.mysql}/maf"
    settings["CDC_POSTGRES_URL"] = f"postgresql://{ADMIN_USER}:{pg_pw}@{ends.postgres}/maf"
    settings["CDC_STACK_DIR"] = str(ctx.root)
    return settings
