"""The CLI answers --help fast and fails with one line naming the problem."""

import subprocess
import sys
from pathlib import Path


def cdc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdc_ods", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_the_stack_commands() -> None:
    result = cdc("stack", "--help")
    assert result.returncode == 0
    for command in ("up", "down", "status", "logs", "env", "install"):
        assert command in result.stdout


def test_a_bad_config_is_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "cdc.yaml"
    bad.write_text("stack:\n  ports:\n    kafka: nine\n")
    result = cdc("--config", str(bad), "stack", "status")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "stack.ports.kafka" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_service_for_logs_is_named(tmp_path: Path) -> None:
    result = cdc("stack", "logs", "oracle")
    assert result.returncode == 1
    assert "no service named 'oracle'" in result.stderr
