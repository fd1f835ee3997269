"""The local stack's process supervisor: supervisord, driven over its XML-RPC socket.

supervisord owns every service process (start, stop with SIGTERM then SIGKILL after a
grace period, restart on unexpected exit, log capture). This module renders its config
and wraps the few RPC calls the stack manager needs.
"""

from __future__ import annotations

import configparser
import io
import resource
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import Faults, SupervisorTransport

from cdc_ods.errors import ServiceError
from cdc_ods.secrets import write_private


@dataclass(frozen=True)
class Program:
    """One supervised process."""

    name: str
    command: list[str]
    directory: Path
    log: Path
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_wait_s: int = 30
    # the service's name when it runs several processes: supervisord groups them under it
    group: str | None = None


def _quote(arg: str) -> str:
    # supervisord splits `command` with shlex; quote anything with spaces or quotes.
    if arg and all(c not in arg for c in " \t'\"%"):
        return arg
    return "'" + arg.replace("%", "%%").replace("'", "'\"'\"'") + "'"


def render_config(run_dir: Path, programs: list[Program]) -> str:
    parser = configparser.RawConfigParser()
    parser["unix_http_server"] = {"file": str(run_dir / "supervisor.sock"), "chmod": "0700"}
    parser["supervisord"] = {
        "logfile": str(run_dir / "supervisord.log"),
        "pidfile": str(run_dir / "supervisord.pid"),
        "childlogdir": str(run_dir),
        "nodaemon": "false",
        # Kafka and HBase keep many files open: ask for as many as the hard limit allows.
        "minfds": str(min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)),
    }
    parser["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    parser["supervisorctl"] = {"serverurl": f"unix://{run_dir / 'supervisor.sock'}"}
    for prog in programs:
        section = {
            "command": " ".join(_quote(a) for a in prog.command),
            "directory": str(prog.directory),
            "autostart": "false",
            # A crash after start-up is restarted by supervisord; a failed start is not
            # retried forever (the manager reports it with the log's last lines).
            "autorestart": "unexpected",
            "startsecs": "3",
            "startretries": "2",
            "stopsignal": "TERM",
            "stopwaitsecs": str(prog.stop_wait_s),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": str(prog.log),
            "stdout_logfile_maxbytes": "50MB",
            "stdout_logfile_backups": "2",
        }
        if prog.user:
            section["user"] = prog.user
        if prog.environment:
            section["environment"] = ",".join(
                f'{k}="{v.replace("%", "%%")}"' for k, v in prog.environment.items()
            )
        parser[f"program:{prog.name}"] = section
    groups: dict[str, list[str]] = {}
    for prog in programs:
        if prog.group:
            groups.setdefault(prog.group, []).append(prog.name)
    for group, names in groups.items():
        parser[f"group:{group}"] = {"programs": ",".join(names)}
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


class Supervisor:
    """A handle on the stack's supervisord (which may or may not be running)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.conf = run_dir / "supervisord.conf"
        self.socket = run_dir / "supervisor.sock"

    def call(self, method: str, *args: object) -> Any:
        """One call of supervisord's XML-RPC API (`supervisor.<method>`), on its own connection."""
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        try:
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            return getattr(proxy.supervisor, method)(*args)
        finally:
            transport.close()

    def is_running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self.call("getState")["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start(self, config_text: str, timeout_s: float = 15.0) -> None:
        """Start supervisord (daemonized) with `config_text`, or reload it if running."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # the config carries services' environment (credentials): owner-only
        write_private(self.conf, config_text)
        if self.is_running():
            self._reload()
            return
        binary = Path(sys.executable).parent / "supervisord"
        result = subprocess.run(
            [str(binary), "-c", str(self.conf)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceError(f"supervisord did not start: {result.stderr.strip()[-500:]}")
        deadline = time.monotonic() + timeout_s
        while not self.is_running():
            if time.monotonic() > deadline:
                raise ServiceError(f"supervisord did not come up; see {self.run_dir}/supervisord.log")
            time.sleep(0.2)

    def _reload(self) -> None:
        """Apply a changed config to programs that are not running (like `supervisorctl update`)."""
        added, changed, removed = self.call("reloadConfig")[0]
        for name in removed:
            self.call("stopProcess", name, True)
            self.call("removeProcessGroup", name)
        for name in changed:
            if self.state(name) in ("RUNNING", "STARTING"):
                continue  # keep a running service; its new config applies on next restart
            self.call("removeProcessGroup", name)
            self.call("addProcessGroup", name)
        for name in added:
            self.call("addProcessGroup", name)

    def info(self, name: str) -> dict:
        return self.call("getProcessInfo", name)

    def state(self, name: str) -> str:
        """supervisord's state name (RUNNING, STARTING, BACKOFF, FATAL, EXITED, STOPPED...) of a
        service; of a service with several processes, the one furthest from RUNNING."""
        if not self.is_running():
            return "STOPPED"
        try:
            states = {i["statename"] for i in self.call("getAllProcessInfo") if i["group"] == name}
        except xmlrpc.client.Fault:
            return "STOPPED"
        return min(states, key=_STATE_ORDER.index, default="STOPPED")

    def start_process(self, name: str) -> None:
        """Start a service: every process of its group that is not running."""
        try:
            results = self.call("startProcess", f"{name}:*", False)
        except xmlrpc.client.Fault as fault:
            raise ServiceError(f"{name}: supervisord could not start it: {fault.faultString}") from None
        for result in results:
            if result["status"] not in (Faults.SUCCESS, Faults.ALREADY_STARTED):
                reason = f"{result['name']}: {result['description']}"
                raise ServiceError(f"{name}: supervisord could not start {reason}")

    def stop_process(self, name: str) -> None:
        """Stop a service: every process of its group, waiting for each to end."""
        try:
            self.call("stopProcess", f"{name}:*", True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString and "BAD_NAME" not in fault.faultString:
                raise ServiceError(f"{name}: supervisord could not stop it: {fault.faultString}") from None

    def shutdown(self, timeout_s: float = 30.0) -> None:
        if not self.is_running():
            return
        pid_file = self.run_dir / "supervisord.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        self.call("shutdown")
        deadline = time.monotonic() + timeout_s
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)


# from a failed process to a running one: a group's state is its members' first in this order
_STATE_ORDER = ["FATAL", "BACKOFF", "EXITED", "UNKNOWN", "STOPPING", "STOPPED", "STARTING", "RUNNING"]


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
