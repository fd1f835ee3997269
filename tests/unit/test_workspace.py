"""`cdc init DIR` gives a new user a complete workspace that loads, writes only what is missing
when run again, and never replaces an edited file without --force. The local stack reads the
workspace's monitoring/, never the tool's."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_ods.config import load_config
from cdc_ods.errors import ServiceError
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.prometheus import Prometheus
from cdc_ods.stack.services.stages import LoaderStage
from tests import PROJECT_DIR

# the tool's defaults a workspace starts with, as the checkout has them
DEFAULTS = [
    "monitoring/prometheus.yml",
    *(f"monitoring/rules/{p.name}" for p in sorted((PROJECT_DIR / "monitoring" / "rules").glob("*.yml"))),
    *(
        f"monitoring/grafana/dashboards/{p.name}"
        for p in sorted((PROJECT_DIR / "monitoring" / "grafana" / "dashboards").glob("*.json"))
    ),
    "connectors/OVERRIDES.md",
]


def _init(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdc_ods", "init", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
    )


def test_init_writes_a_complete_workspace_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    first = _init(str(target))
    assert first.returncode == 0, first.stderr
    assert "cdc sources check" in first.stdout
    config = load_config(target / "cdc.yaml")
    assert config.root == target.resolve()
    shop = config.source("shop")
    assert (
        shop.address == "db1.internal:5432"
        and shop.capture
        and shop.capture.password_env == "SHOP_CAPTURE_PASSWORD"
    )
    assert (target / "ksql" / "00_dlq.sql").is_file()
    assert len(DEFAULTS) > 5
    for name in DEFAULTS:
        assert (target / name).read_bytes() == (PROJECT_DIR / name).read_bytes(), name
        assert f"wrote {target / name}" in first.stdout


def test_init_again_writes_what_is_missing_and_keeps_edits_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    assert _init(str(target)).returncode == 0
    again = _init(str(target))
    assert again.returncode == 0, again.stderr
    assert "every file is already there" in again.stdout and "wrote" not in again.stdout

    config, rule = target / "cdc.yaml", target / "monitoring" / "rules" / "pipeline.yml"
    config.write_text("sources: []\n")
    rule.write_text("groups: []\n")
    (target / "monitoring" / "prometheus.yml").unlink()
    kept = _init(str(target))
    assert kept.returncode == 0, kept.stderr
    assert config.read_text() == "sources: []\n" and rule.read_text() == "groups: []\n"
    for path in (config, rule):
        assert f"kept {path} (differs from the default; --force replaces it)" in kept.stdout
    assert f"wrote {target / 'monitoring' / 'prometheus.yml'}" in kept.stdout
    assert (target / "monitoring" / "prometheus.yml").is_file()

    forced = _init(str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "sources:" in config.read_text() and "shop" in config.read_text()
    assert rule.read_bytes() == (PROJECT_DIR / "monitoring" / "rules" / "pipeline.yml").read_bytes()
    assert "kept" not in forced.stdout


@pytest.fixture
def fake_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `prometheus` on PATH: prepare() only checks that the binary exists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    binary = bin_dir / "prometheus"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_the_stack_reads_the_workspace_monitoring_and_runs_the_stages_there(
    tmp_path: Path, fake_prometheus: None
) -> None:
    target = tmp_path / "ws"
    assert _init(str(target)).returncode == 0
    (target / "monitoring" / "rules" / "mine.yml").write_text("groups: []\n")
    ctx = StackContext(load_config(target / "cdc.yaml"))
    Prometheus().prepare(ctx)
    conf = ctx.conf("prometheus")
    assert (conf / "prometheus.yml").resolve() == (target / "monitoring" / "prometheus.yml").resolve()
    assert (conf / "rules" / "mine.yml").is_file()  # the operator's own rule is loaded
    assert LoaderStage().program(ctx).directory == target.resolve()


def test_a_workspace_without_monitoring_is_refused_with_the_fix(
    tmp_path: Path, fake_prometheus: None
) -> None:
    (tmp_path / "cdc.yaml").write_text("stack: {data_dir: .stack}\n")
    ctx = StackContext(load_config(tmp_path / "cdc.yaml"))
    with pytest.raises(ServiceError) as caught:
        Prometheus().prepare(ctx)
    message = str(caught.value)
    assert str(tmp_path.resolve() / "monitoring" / "prometheus.yml") in message
    assert f"cdc init {tmp_path.resolve()}" in message
