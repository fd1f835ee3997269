"""No generated password or key shows anywhere an operator, a log shipper or another user of
the machine can read: searched for, after the pipeline carried the demo's changes, in every log
file of the stack, the `--json` output of the commands that report on it, `cdc stack env`,
Connect's config topic and REST API (connector configs name `${env:...}` instead), and every
process's command line.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import psutil

from cdc_ods.endpoints import Endpoints
from cdc_ods.secrets import CONNECT_USER, SECRET_VARS, lookup_secret
from cdc_ods.stack.context import StackContext

from .conftest import cdc
from .workspaces import topic_records

CONNECT_CONFIG_TOPIC = "connect-configs"  # config.storage.topic of the stack's worker
REPORTS = [
    ("status", "--json"),
    ("stack", "status", "--json"),
    ("connectors", "status", "--json"),
    ("sources", "list", "--json"),
    ("sources", "check", "--json"),
    ("dlq", "list", "--json"),
    ("stack", "env"),
]


def _secrets(ctx: StackContext) -> dict[str, str]:
    """Each generated secret as written and URL-quoted."""
    found = {}
    for var in SECRET_VARS:
        secret = lookup_secret(ctx.root, var)
        assert secret is not None, f"{var} is neither set nor in {ctx.root}"
        value = secret.get_secret_value()
        assert len(value) >= 16, var  # long enough not to turn up by chance
        found[var] = value
        found[f"{var} (URL-quoted)"] = quote(value, safe="")
    return found


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def test_no_secret_in_logs_reports_connect_or_command_lines(pipeline: StackContext) -> None:
    secrets = _secrets(pipeline)
    endpoints = Endpoints.from_config(pipeline.config)
    leaks: dict[str, list[str]] = {}

    logs = [*sorted((pipeline.root / "logs").glob("*")), *sorted(pipeline.run.glob("*.log"))]
    assert len(logs) >= 10, logs  # every service's, and supervisord's
    for log in logs:
        if found := _leaks(log.read_text(errors="replace"), secrets):
            leaks[str(log)] = found

    for command in REPORTS:
        shown = cdc(*command)
        assert shown.returncode in (0, 1), shown.stderr  # 1: a report that found a problem
        if command[-1] == "--json":
            json.loads(shown.stdout)  # the report itself, not an error message
        if found := _leaks(shown.stdout + shown.stderr, secrets):
            leaks["cdc " + " ".join(command)] = found

    records = topic_records(endpoints.kafka_bootstrap, CONNECT_CONFIG_TOPIC)
    configs = [value.decode(errors="replace") for _key, value in records if value is not None]
    assert any('"database.password":"${env:' in c.replace(" ", "") for c in configs), configs[:3]
    if found := _leaks("\n".join(configs), secrets):
        leaks[f"topic {CONNECT_CONFIG_TOPIC}"] = found
    password = pipeline.credentials.connect.get_secret_value()
    registered = httpx.get(
        f"{endpoints.connect_url}/connectors",
        params={"expand": "info"},
        timeout=10,
        auth=(CONNECT_USER, password),
    )
    assert registered.status_code == 200, registered.text
    if found := _leaks(registered.text, secrets):
        leaks["Connect REST /connectors?expand=info"] = found

    supervisord = psutil.Process(int((pipeline.run / "supervisord.pid").read_text()))
    for process in [supervisord, *supervisord.children(recursive=True)]:
        if found := _leaks(" ".join(process.cmdline()), secrets):
            leaks[f"command line of pid {process.pid} ({process.name()})"] = found

    assert leaks == {}, leaks
