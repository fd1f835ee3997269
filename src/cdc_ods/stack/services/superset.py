"""Apache Superset, the analysts' web UI on the ODS (`cdc stack up --with superset`).

Superset and its ~160 pinned packages live in a virtualenv of their own, under the stack's
lib directory (kept by `down --clean`, like the resolved jars), so their pins never touch
the pipeline's; its metadata (users, charts, dashboards) is a SQLite file under
`data/superset/` (removed by `down --clean`). It listens on `stack.host` only. `bootstrap`
runs `cdc superset sync` once (the ODS database, a dataset per ODS table, the provisioned
dashboards and saved queries); the `superset-sync` process beside it keeps them in step.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cdc_ods.config import Config
from cdc_ods.errors import CdcError, ServiceError, TransientError
from cdc_ods.paths import tool_file
from cdc_ods.secrets import SUPERSET_PASSWORD_ENV
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.base import Service, check_http_ready
from cdc_ods.stack.services.stages import PipelineStage
from cdc_ods.stack.supervisor import Program

INSTALL_TIMEOUT_S = 900
# what a completed install writes into the virtualenv; a different digest reinstalls
INSTALLED_MARKER = ".cdc-installed"
# what a completed metadata setup writes into the data directory
INITIALIZED_MARKER = ".cdc-initialized"


def venv_dir(ctx: StackContext) -> Path:
    return ctx.config.lib_dir / "superset"


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def install_digest() -> str:
    """What the virtualenv is built from: the lock, our Phoenix package, the interpreter."""
    source = tool_file("stack", "superset")
    files = [source / "requirements.lock", source / "pyproject.toml"]
    files += sorted((source / "cdc_superset_phoenix").glob("*.py"))
    return _digest(sys.version.encode(), *(f.read_bytes() for f in files))


def _run(step: str, command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-800:]
        raise ServiceError(f"superset: {step} failed (exit {result.returncode}): {output}")


def ensure_installed(ctx: StackContext, digest: str) -> Path:
    """Build `<lib_dir>/superset` from stack/superset/requirements.lock (a few minutes the
    first time; nothing when `digest`, its `install_digest`, matches); returns the virtualenv."""
    venv = venv_dir(ctx)
    marker = venv / INSTALLED_MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == digest:
        return venv
    source = tool_file("stack", "superset")
    _run("creating its virtualenv", [sys.executable, "-m", "venv", "--clear", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run("installing it (pip)", [*pip, "-r", str(source / "requirements.lock")], timeout=INSTALL_TIMEOUT_S)
    # built from a copy: an in-tree build would leave build/ and *.egg-info in the tool's files
    build = ctx.root / "build" / "superset-phoenix"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("__pycache__"))
    _run("installing cdc-superset-phoenix", [*pip, "--no-deps", "--no-build-isolation", str(build)])
    marker.write_text(digest + "\n", encoding="utf-8")
    return venv


class Superset(Service):
    name = "superset"
    requires = ("phoenix-query-server",)
    port_names = ("superset",)
    optional = "superset"
    stop_wait_s = 15

    def endpoint(self, ctx: StackContext) -> str:
        return f"http://{ctx.host}:{ctx.ports.superset}"

    def environment(self, ctx: StackContext) -> dict[str, str]:
        """What Superset's processes are started with (stack/superset/superset_config.py reads it)."""
        data = ctx.data(self.name)
        return {
            "SUPERSET_CONFIG_PATH": str(tool_file("stack", "superset", "superset_config.py")),
            "SUPERSET_HOME": str(data),
            "CDC_SUPERSET_METADATA_URI": f"sqlite:///{data / 'superset.db'}",
            "SUPERSET_SECRET_KEY": ctx.credentials.superset_secret_key.get_secret_value(),
            "FLASK_APP": "superset",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{venv_dir(ctx) / 'bin'}:/usr/bin:/bin",
        }

    def prepare(self, ctx: StackContext) -> None:
        """Install (once), then create or upgrade the metadata database and the admin user
        (again only when the install or the admin's password changed)."""
        installed = install_digest()
        venv = ensure_installed(ctx, installed)
        data = ctx.data(self.name)
        data.mkdir(parents=True, exist_ok=True)
        password = ctx.credentials.superset_admin.get_secret_value()
        expected = _digest(installed.encode(), password.encode())
        marker = data / INITIALIZED_MARKER
        if marker.is_file() and marker.read_text(encoding="utf-8").strip() == expected:
            return
        superset, env = str(venv / "bin" / "superset"), self.environment(ctx)
        _run("upgrading its metadata database", [superset, "db", "upgrade"], env)
        _run("setting up its roles", [superset, "init"], env)
        set_admin = [str(venv / "bin" / "python"), str(tool_file("stack", "superset", "set_admin.py"))]
        _run("creating the admin user", set_admin, {**env, SUPERSET_PASSWORD_ENV: password})
        marker.touch(mode=0o600)
        marker.write_text(expected + "\n", encoding="utf-8")

    def program(self, ctx: StackContext) -> Program:
        return Program(
            name=self.name,
            command=[
                str(venv_dir(ctx) / "bin" / "gunicorn"),
                f"--bind={ctx.host}:{ctx.ports.superset}",
                "--workers=1",  # ~300 MiB each; threads serve a dashboard's parallel chart requests
                "--threads=8",
                "--worker-class=gthread",
                "--timeout=120",
                "--limit-request-line=0",
                "superset.app:create_app()",
            ],
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
            environment=self.environment(ctx),
            stop_wait_s=self.stop_wait_s,
        )

    def bootstrap(self, ctx: StackContext) -> None:
        """The first sync: the ODS database, its datasets and the provisioned assets."""
        from cdc_ods.superset.sync import sync_superset

        self._alive_then(ctx, sync_superset)

    def check(self, ctx: StackContext) -> None:
        """Alive, and its ODS database reachable (Superset's own connection test)."""
        from cdc_ods.superset.sync import check_ods_database

        self._alive_then(ctx, check_ods_database)

    def _alive_then(self, ctx: StackContext, step: Callable[[Config], object]) -> None:
        """`step` once Superset answers /health; its failure is one not to give up on yet."""
        check_http_ready(self.name, f"{self.endpoint(ctx)}/health", timeout_s=5)
        try:
            step(ctx.config)
        except CdcError as exc:
            raise TransientError(str(exc)) from None


class SupersetSync(PipelineStage):
    """`cdc superset sync --every N`: a dataset for each table the loader creates, the
    provisioned assets re-imported when their files change."""

    name = "superset-sync"
    stage = False
    requires = ("superset",)
    optional = "superset"
    arguments = ("superset", "sync", "--every", "15")

    def metrics_ports(self, ctx: StackContext) -> list[int]:
        return []

    def endpoint(self, ctx: StackContext) -> str:
        return "(no endpoint; `cdc stack logs superset-sync`)"

    def check(self, ctx: StackContext) -> None:
        return None  # supervisord's RUNNING state is its health: it has no endpoint
