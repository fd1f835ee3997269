"""Where the local stack keeps things, and what every service needs to render itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cdc_ods.config import Config
from cdc_ods.secrets import Credentials, load_credentials
from cdc_ods.sources import Source, source_for


def local_sources(config: Config, kinds: tuple[str, ...]) -> list[Source]:
    """The enabled sources of these kinds that are the local stack's servers (no address)."""
    return [source_for(config, s) for s in config.sources if s.enabled and s.is_local and s.kind in kinds]


@dataclass
class StackContext:
    """The configuration plus the on-disk layout under `stack.data_dir`:

    lib/<profile>/   jars resolved by Maven (kept by `down --clean`; `stack.lib_dir` moves it)
    data/<service>/  each service's state (wiped by `down --clean`)
    conf/<service>/  rendered configuration files (re-rendered on every `up`)
    logs/<service>.log, run/ (supervisord socket, pid, sockets)
    """

    config: Config

    @property
    def root(self) -> Path:
        return self.config.data_dir

    @property
    def host(self) -> str:
        return self.config.stack.host

    @property
    def ports(self):  # -> Ports; untyped to keep the import graph flat
        return self.config.stack.ports

    @cached_property
    def credentials(self) -> Credentials:
        return load_credentials(self.root)

    def lib(self, profile: str) -> Path:
        """Jars of one Maven profile. Connect plugins (profiles `debezium-*`) go one level
        down, in lib/connect-plugins/, the directory Connect's plugin.path names."""
        if profile.startswith("debezium-"):
            return self.config.lib_dir / "connect-plugins" / profile
        return self.config.lib_dir / profile

    def data(self, service: str) -> Path:
        return self.root / "data" / service

    def conf(self, service: str) -> Path:
        return self.root / "conf" / service

    def log(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def is_root_user(self) -> bool:
        return os.geteuid() == 0

    def ensure_dirs(self) -> None:
        for sub in ("data", "conf", "logs", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.config.lib_dir.mkdir(parents=True, exist_ok=True)
