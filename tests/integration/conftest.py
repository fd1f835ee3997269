"""The real local stack, started once per test session.

If the stack is already running (say, after `make demo`), the tests use it and leave it
running; otherwise the fixture starts it and stops it at the end (set CDC_KEEP_STACK=1 to
keep it). Tests that need a stack of their own (lifecycle) use `isolated_config`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from cdc_ods.config import Config, load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def config_path() -> Path:
    """The configuration the tests run against: $CDC_CONFIG or the project's cdc.yaml."""
    return Path(os.environ.get("CDC_CONFIG") or PROJECT_DIR / "cdc.yaml").resolve()


@pytest.fixture(scope="session")
def stack() -> Iterator[StackContext]:
    ctx = StackContext(load_config(config_path()))
    manager = StackManager(ctx, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.is_running()
    manager.up(pipeline=True)
    yield ctx
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.down()


@pytest.fixture(scope="session")
def endpoints(stack: StackContext) -> Endpoints:
    return Endpoints.from_config(stack.config)


def prepare_pipeline(stack: StackContext, seed: int) -> StackContext:
    """Source tables exist (a first production creates them) and the connectors run."""
    first = cdc("produce", "all", "--count", "300", "--rate", "0", "--seed", str(seed))
    assert first.returncode == 0, first.stderr
    applied = cdc("connectors", "apply", timeout=300)
    assert applied.returncode == 0, applied.stderr
    return stack


@pytest.fixture(scope="module")
def pipeline(stack: StackContext) -> StackContext:
    return prepare_pipeline(stack, seed=101)


@dataclass(frozen=True)
class Stack:
    """Some services of the stack, for tests that need no pipeline."""

    ctx: StackContext
    config_path: Path
    endpoints: Endpoints

    @property
    def bootstrap(self) -> str:
        return self.endpoints.kafka_bootstrap


@contextlib.contextmanager
def services_stack(services: list[str], paused: tuple[str, ...] = ()) -> Iterator[Stack]:
    """`services` up (and `paused` stopped) for the duration; stopped again if they were not up."""
    path = config_path()
    ctx = StackContext(load_config(path))
    manager = StackManager(ctx, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.is_running()
    manager.up(services)
    stopped = manager.stop(list(paused)) if paused else []
    yield Stack(ctx, path, Endpoints.from_config(ctx.config))
    if stopped:
        manager.up(stopped)
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.down()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> end offset of `topic` now."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}"}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
    finally:
        consumer.close()


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


def connector_spec(config: Config, source: str, **overrides: str) -> dict:
    """A one-off connector for a test: the source's generated config, with `overrides` (a
    private table, topic prefix, slot...). A PostgreSQL table named in `table.include.list`
    is added to the source's publication (as `cdc connectors apply` does), so it streams."""
    from cdc_ods.connectors.configs import source_connector
    from cdc_ods.sources import source_for
    from cdc_ods.sources.postgres import PostgresSource

    spec = source_connector(config, config.source(source), Endpoints.from_config(config), [], **overrides)
    src = source_for(config, source)
    if isinstance(src, PostgresSource) and spec["config"].get("publication.name") == src.publication:
        namespace = f"{src.source.namespace}."
        tables = [t.replace("\\", "") for t in spec["config"]["table.include.list"].split(",") if t]
        src.publish([t.removeprefix(namespace) for t in tables if t.startswith(namespace)])
    return spec


def restore_services(*services: str) -> None:
    """After a test ran `services` on a cdc.yaml of its own: stopped and started again on the
    project's (the stack's supervisord renders each program from the config it was given)."""
    main = ["--config", str(config_path()), "stack"]
    cdc(*main, "stop", *services, timeout=300)
    cdc(*main, "up", "--pipeline", timeout=300)


def metric_value(url: str, name: str, labels: dict[str, str]) -> float | None:
    """The first sample `name` at a Prometheus endpoint whose labels include `labels`; None
    when there is none or the endpoint does not answer."""
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None
