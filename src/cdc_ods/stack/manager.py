"""Bring the local stack up and down, and report its state.

Order and health are the manager's job; process lifetimes are supervisord's. Every
failure names the service and says what to do: a port taken (and by whom), a process
that died while starting (with its log's last lines), a service that never got healthy.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from cdc_ods.errors import CdcError, ServiceError, TransientError
from cdc_ods.stack import maven
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services import OPTIONS, SERVICES, Service, by_name
from cdc_ods.stack.supervisor import Supervisor, render_config

Report = Callable[[str], None]

FAILED_STATES = {"FATAL", "EXITED", "BACKOFF"}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # running | starting | stopped | failed | unhealthy
    endpoint: str
    pid: int | None
    uptime_s: int | None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _log_tail(path: Path, lines: int = 8) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def port_owner(host: str, port: int) -> str | None:
    """None if `port` is free on `host`, else a description of who holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return None
        except OSError:
            pass
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({proc.name()}: {' '.join(proc.cmdline()[:3])[:80]})"
    except (psutil.Error, OSError):
        pass
    return "another process"


class StackManager:
    def __init__(self, ctx: StackContext, report: Report = lambda _msg: None) -> None:
        self.ctx = ctx
        self.supervisor = Supervisor(ctx.run)
        self.report = report

    # --- install -------------------------------------------------------------------------

    def install(self, services: list[Service] | None = None) -> list[str]:
        """Resolve the Java artifacts of `services` (default: all); returns profiles fetched."""
        profiles = [p for s in services or SERVICES for p in s.maven_profiles]
        return maven.resolve(
            self.ctx, profiles, on_profile=lambda p: self.report(f"resolving {p} with Maven")
        )

    # --- up ------------------------------------------------------------------------------

    def up(
        self, only: list[str] | None = None, pipeline: bool = False, with_: tuple[str, ...] = ()
    ) -> list[str]:
        """Start services (with their requirements) in order; returns the ones started now.

        Without names: the infrastructure, plus the pipeline stages when `pipeline`, plus
        the optional services of each `with_` option (e.g. "superset")."""
        unknown = sorted(set(with_) - set(OPTIONS))
        if unknown:
            raise CdcError(f"--with {', '.join(unknown)}: no such option; options: {', '.join(OPTIONS)}")
        if only:
            names = list(only)
        else:
            names = [s.name for s in SERVICES if (pipeline or not s.stage) and not s.optional]
        names += [s.name for s in SERVICES if s.optional in with_]
        wanted = self._with_requirements(names)
        self.ctx.ensure_dirs()
        self.install(wanted)
        programs = [p for s in SERVICES for p in s.programs(self.ctx)]
        self.supervisor.start(render_config(self.ctx.run, programs))
        started = []
        for service in wanted:
            if self.supervisor.state(service.name) in ("RUNNING", "STARTING"):  # STARTING: just (re)started
                try:
                    service.check(self.ctx)
                    service.reload(self.ctx)
                    self.report(f"{service.name}: already running")
                    continue
                except TransientError:
                    pass  # running but not healthy yet: wait below
            else:
                self._start(service)
                started.append(service.name)
            self._wait_healthy(service)
        return started

    def _with_requirements(self, names: list[str]) -> list[Service]:
        chosen: dict[str, Service] = {}

        def add(name: str) -> None:
            service = by_name(name)
            for req in service.requires:
                add(req)
            chosen.setdefault(name, service)

        for name in names:
            add(name)
        return [s for s in SERVICES if s.name in chosen]

    def _start(self, service: Service) -> None:
        for port in service.ports(self.ctx):
            owner = port_owner(self.ctx.host, port)
            if owner:
                raise ServiceError(
                    f"{service.name}: port {self.ctx.host}:{port} is already in use by {owner}"
                )
        service.prepare(self.ctx)
        self.report(f"{service.name}: starting")
        self.supervisor.start_process(service.name)

    def _wait_healthy(self, service: Service) -> None:
        t0 = time.monotonic()
        deadline = t0 + self.ctx.config.stack.start_timeout_s
        bootstrapped = False
        last = ""
        while True:
            state = self.supervisor.state(service.name)
            if state in FAILED_STATES or state == "STOPPED":
                raise ServiceError(
                    f"{service.name} died while starting (state {state}); last lines of "
                    f"{self.ctx.log(service.name)}:\n{_log_tail(self.ctx.log(service.name))}"
                )
            try:
                if not bootstrapped:
                    service.bootstrap(self.ctx)
                    bootstrapped = True
                service.check(self.ctx)
                self.report(
                    f"{service.name}: healthy at {service.endpoint(self.ctx)} ({time.monotonic() - t0:.1f}s)"
                )
                return
            except TransientError as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{service.name} not healthy after {self.ctx.config.stack.start_timeout_s:.0f}s: {last}; "
                    f"see `cdc stack logs {service.name}`"
                )
            time.sleep(0.5)

    # --- stop ----------------------------------------------------------------------------

    def stop(self, names: list[str]) -> list[str]:
        """Stop some services (and what needs them), leaving the rest running; returns the
        names stopped, so a caller can bring back exactly those."""
        doomed = {by_name(n).name for n in names}
        for service in SERVICES:  # anything that requires a stopped service stops too
            if set(service.requires) & doomed:
                doomed.add(service.name)
        stopped = []
        for service in reversed(SERVICES):
            if service.name in doomed and self.supervisor.state(service.name) != "STOPPED":
                self.report(f"{service.name}: stopping")
                self.supervisor.stop_process(service.name)
                stopped.append(service.name)
        return stopped

    # --- down ----------------------------------------------------------------------------

    def down(self, clean: bool = False) -> None:
        if self.supervisor.is_running():
            for service in reversed(SERVICES):
                if self.supervisor.state(service.name) != "STOPPED":
                    self.report(f"{service.name}: stopping")
                    self.supervisor.stop_process(service.name)
            self.supervisor.shutdown()
            self.report("stack stopped")
        else:
            self.report("stack is not running")
        if clean:
            for sub in ("data", "logs", "conf"):
                shutil.rmtree(self.ctx.root / sub, ignore_errors=True)
            self.report(f"removed stack data under {self.ctx.root} (kept resolved jars and secrets)")

    # --- status --------------------------------------------------------------------------

    def status(self, check_health: bool = True) -> list[ServiceStatus]:
        running = self.supervisor.is_running()
        infos = {}
        if running:
            infos = {i["name"]: i for i in self.supervisor.call("getAllProcessInfo")}
        result = []
        for service in SERVICES:
            health = None  # the service's check, made once for all its processes
            for name, endpoint in service.processes(self.ctx).items():
                info = infos.get(name)
                state_name = info["statename"] if info else "STOPPED"
                state, detail = _STATE_MAP.get(state_name, "failed"), ""
                if state_name in FAILED_STATES:
                    detail = _log_tail(self.ctx.log(name), 1)
                elif state in ("running", "starting") and check_health:
                    # supervisord says STARTING for its first seconds; the protocol check decides
                    if health is None:
                        health = self._health(service)
                    if health:
                        state, detail = ("unhealthy" if state == "running" else state), health
                    else:
                        state = "running"
                pid = info["pid"] if info and info["pid"] else None
                up = info and state in ("running", "unhealthy")
                uptime = int(info["now"] - info["start"]) if up else None
                result.append(ServiceStatus(name, state, endpoint, pid, uptime, detail))
        return result

    def _health(self, service: Service) -> str:
        """What the service's protocol check found wrong ("": healthy)."""
        try:
            service.check(self.ctx)
        except CdcError as exc:
            return str(exc)
        return ""

    def memory_rss_bytes(self) -> dict[str, int]:
        """Resident memory per running service, its child processes included."""
        usage = {}
        for status in self.status(check_health=False):
            if status.pid is None:
                continue
            try:
                proc = psutil.Process(status.pid)
                procs = [proc, *proc.children(recursive=True)]
                usage[status.name] = sum(p.memory_info().rss for p in procs)
            except psutil.Error:
                continue
        return usage


_STATE_MAP = {
    "RUNNING": "running",
    "STARTING": "starting",
    "STOPPED": "stopped",
    "STOPPING": "stopping",
    "BACKOFF": "failed",
    "FATAL": "failed",
    "EXITED": "failed",
    "UNKNOWN": "failed",
}
