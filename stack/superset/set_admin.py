"""Create Superset's admin user, or set its password, from the environment.

Run with Superset's own interpreter (`cdc stack up --with superset`, docker/superset's
entrypoint) after `superset init`. The password comes from CDC_SUPERSET_ADMIN_PASSWORD, not
from a command-line argument, which any user of the machine could read in the process list.
"""

import os
import sys

from superset.app import create_app

USER = "admin"

password = os.environ.get("CDC_SUPERSET_ADMIN_PASSWORD", "")
if not password:
    sys.exit("set_admin: CDC_SUPERSET_ADMIN_PASSWORD is empty")
app = create_app()
with app.app_context():
    security = app.appbuilder.sm
    user = security.find_user(username=USER)
    if user:
        security.reset_password(user.id, password)
        print(f"set_admin: password of {USER} set")
    elif security.add_user(USER, "cdc", "admin", "admin@localhost", security.find_role("Admin"), password):
        print(f"set_admin: {USER} created")
    else:
        sys.exit(f"set_admin: could not create {USER} (see the lines above)")
