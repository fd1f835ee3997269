"""`cdc init DIR` gives a new user a workspace that loads, and never overwrites one by accident."""

import subprocess
import sys
from pathlib import Path

from cdc_ods.config import load_config
from cdc_ods.paths import PROJECT_DIR


def _init(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdc_ods", "init", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
    )


def test_init_writes_a_workspace_that_loads_and_keeps_an_existing_one(tmp_path: Path) -> None:
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
    assert (target / "ksql" / "00_dlq.sql").is_file() and (target / "connectors").is_dir()
    again = _init(str(target))
    assert again.returncode == 1 and "exists; keep it, or pass --force" in again.stderr
    assert _init(str(target), "--force").returncode == 0
