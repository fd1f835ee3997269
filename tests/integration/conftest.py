"""The real local stack, started once per test session.

If the stack is already running (say, after `make demo`), the tests use it and leave it
running; otherwise the fixture starts it and stops it at the end (set CDC_KEEP_STACK=1 to
keep it). Tests that need a stack of their own (lifecycle) use `isolated_config`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cdc_ods.config import Config, load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.paths import PROJECT_DIR
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackContext]:
    config = load_config(
        Path(os.environ["CDC_CONFIG"]) if os.environ.get("CDC_CONFIG") else PROJECT_DIR / "cdc.yaml"
    )
    ctx = StackContext(config)
    manager = StackManager(ctx, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.is_running()
    manager.up(pipeline=True)
    yield ctx
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.down()


@pytest.fixture(scope="session")
def endpoints(stack: StackContext) -> Endpoints:
    return Endpoints.from_config(stack.config)


@pytest.fixture(scope="module")
def pipeline(stack: StackContext) -> StackContext:
    """Source tables exist (a first production creates them) and the connectors run."""
    first = cdc("produce", "all", "--count", "300", "--rate", "0", "--seed", "101")
    assert first.returncode == 0, first.stderr
    applied = cdc("connectors", "apply", timeout=300)
    assert applied.returncode == 0, applied.stderr
    return stack


def cdc(*args: str, config: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real `cdc` command."""
    prefix = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "cdc_ods", *prefix, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=PROJECT_DIR,
    )


@pytest.fixture
def private_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A scratch directory the services' own accounts (mysql, postgres) can enter.

    pytest's tmp_path is private to root; this one lives under the project's .stack/.
    """
    base = load_config(PROJECT_DIR / "cdc.yaml").data_dir / "itest" / request.node.name[:40]
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def background_producers(rate: int, duration_s: int, seed: int) -> subprocess.Popen[str]:
    """`cdc produce all` at `rate` changes/s for `duration_s`, in a process of its own (stderr kept)."""
    load = ["--rate", str(rate), "--duration", str(duration_s), "--seed", str(seed)]
    return subprocess.Popen(
        [sys.executable, "-m", "cdc_ods", "produce", "all", *load],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def isolated_config(directory: Path, port_offset: int) -> tuple[Path, Config]:
    """A config for a second, private stack: every port (services and pipeline stages)
    shifted, data under `directory`, jars shared with the main stack."""
    base = load_config(PROJECT_DIR / "cdc.yaml")
    ports = {name: port + port_offset for name, port in base.stack.ports.model_dump().items()}
    data = {
        "stack": {"data_dir": str(directory / "stack"), "lib_dir": str(base.lib_dir), "ports": ports},
        "sources": [s.model_dump(by_alias=True) for s in base.sources],
        # the pipeline stages' own ports move with the stack's
        "collector": {"port": base.collector.port + port_offset},
        "cleansing": {"metrics_port": base.cleansing.metrics_port + port_offset},
        "ods": {"metrics_port": base.ods.metrics_port + port_offset},
        "operations": {"metrics_port": base.operations.metrics_port + port_offset},
    }
    path = directory / "cdc.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, load_config(path)
