"""Credentials are generated into an owner-only untracked file, and the environment wins."""

import stat
from pathlib import Path

import pytest

from cdc_ods.secrets import SECRET_VARS, SECRETS_FILE, load_credentials


def test_generated_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    first = load_credentials(tmp_path)
    file = tmp_path / SECRETS_FILE
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert len(first.mysql_debezium.get_secret_value()) >= 20
    assert first.mysql_admin.get_secret_value() != first.postgres_admin.get_secret_value()
    again = load_credentials(tmp_path)
    assert again.postgres_debezium.get_secret_value() == first.postgres_debezium.get_secret_value()
    assert "**" in repr(first.mysql_admin)  # never printed by accident


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_credentials(tmp_path)
    monkeypatch.setenv("CDC_POSTGRES_ADMIN_PASSWORD", "from-env")
    assert load_credentials(tmp_path).postgres_admin.get_secret_value() == "from-env"
