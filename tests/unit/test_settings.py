"""The deployment's settings: the environment wins over the secrets file, an empty variable
counts as unset, and secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from cdc_ods.ksql.functions import PII_KEY_ENV, pii_key, use_pii_key
from cdc_ods.secrets import SECRETS_FILE, lookup_secret
from cdc_ods.settings import KsqlDb, read_variables, source_overrides


def test_the_environment_wins_over_the_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / SECRETS_FILE).write_text("# generated\nSHOP_PW=from-file\nexport OTHER_PW='quoted'\n")
    for var in ("SHOP_PW", "OTHER_PW", "MISSING_PW"):
        monkeypatch.delenv(var, raising=False)
    found = lookup_secret(tmp_path, "SHOP_PW")
    assert found is not None and found.get_secret_value() == "from-file" and "from-file" not in repr(found)
    assert lookup_secret(tmp_path, "OTHER_PW").get_secret_value() == "quoted"  # type: ignore[union-attr]
    assert lookup_secret(tmp_path, "MISSING_PW") is None and lookup_secret(None, "SHOP_PW") is None
    monkeypatch.setenv("SHOP_PW", "")  # empty: unset
    assert lookup_secret(tmp_path, "SHOP_PW").get_secret_value() == "from-file"  # type: ignore[union-attr]
    monkeypatch.setenv("SHOP_PW", "from-env")
    assert lookup_secret(tmp_path, "SHOP_PW").get_secret_value() == "from-env"  # type: ignore[union-attr]
    assert read_variables(("shop_pw",)) == {}  # names are case-sensitive


def test_deployment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_SOURCE_SHOP_DB_KIND", "mysql")
    monkeypatch.delenv("CDC_SOURCE_SHOP_DB_ENABLED", raising=False)
    assert source_overrides("shop_db") == {"kind": "mysql"}
    monkeypatch.setenv("CDC_KSQLDB_URL", "http://ksqldb:8088")
    assert KsqlDb().url == "http://ksqldb:8088"


def test_the_masking_key_is_given_not_put_into_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PII_KEY_ENV, "from-env")
    pii_key.cache_clear()
    assert pii_key() == b"from-env"
    use_pii_key(SecretStr("given"))
    try:
        assert pii_key() == b"given"
    finally:
        use_pii_key(None)
