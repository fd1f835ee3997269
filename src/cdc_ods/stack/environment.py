"""Connection settings of the local stack, as environment variables (`cdc stack env`)."""

from __future__ import annotations

from cdc_ods.endpoints import Endpoints
from cdc_ods.secrets import ADMIN_USER, SECRETS_FILE
from cdc_ods.stack.context import StackContext


def connection_settings(ctx: StackContext) -> dict[str, str]:
    """Addresses (the same variables `Endpoints` reads), admin URLs and where the passwords
    are. Never a password itself: what this prints ends up in terminals, scrollback and CI
    logs; the secrets file (mode 0600) is read by whoever may (`set -a; . "$CDC_SECRETS_FILE"`)."""
    ends = Endpoints.from_config(ctx.config)
    settings = {Endpoints.ENV[name]: value for name, value in vars(ends).items()}
    settings["CDC_MYSQL_URL"] = f"mysql://{ADMIN_USER}@{ends.mysql}/maf"
    settings["CDC_POSTGRES_URL"] = f"postgresql://{ADMIN_USER}@{ends.postgres}/maf"
    settings["CDC_STACK_DIR"] = str(ctx.root)
    settings["CDC_SECRETS_FILE"] = str(ctx.root / SECRETS_FILE)
    return settings
