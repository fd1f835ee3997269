"""What a source is made of before it is connected to: its tables by pattern, its logins,
its passwords by variable name."""

from pathlib import Path

import pytest

from cdc_ods.config import Config, parse_config
from cdc_ods.errors import ConfigError
from cdc_ods.sources import UnknownTableError, source_for


def _config(tmp_path: Path, **entry: object) -> Config:
    source = {"name": "shop", "kind": "postgres", "database": "shop", "tables": ["*"], **entry}
    return parse_config({"stack": {"data_dir": str(tmp_path)}, "sources": [source]}, tmp_path, "cdc.yaml")


def test_patterns_choose_among_the_sources_tables_and_a_missing_name_is_named(tmp_path: Path) -> None:
    available = ["film", "film_actor", "payment", "staff"]
    src = source_for(_config(tmp_path, tables=["film*", "staff"]), "shop")
    assert src.resolve_tables(available) == ["film", "film_actor", "staff"]
    assert source_for(_config(tmp_path), "shop").resolve_tables(available) == available
    with pytest.raises(UnknownTableError, match=r"sources\.shop\.tables: rental not found in public"):
        source_for(_config(tmp_path, tables=["film", "rental"]), "shop").resolve_tables(available)


def test_named_tables_need_no_catalog_read(tmp_path: Path) -> None:
    # no server at this address: tables() must not try to connect
    login = {"user": "u", "password_env": "SHOP_PW"}
    config = _config(tmp_path, tables=["a", "b"], address="127.0.0.1:9", capture=login, read=login)
    assert source_for(config, "shop").tables() == ["a", "b"]


def test_the_local_stacks_logins_and_an_external_sources_own(tmp_path: Path, monkeypatch) -> None:
    local = source_for(_config(tmp_path), "shop")
    assert (local.login("capture").user, local.login("capture").password_env) == (
        "debezium",
        "CDC_POSTGRES_DEBEZIUM_PASSWORD",
    )
    assert local.login("admin").user == "cdc_admin"
    login = {"user": "reader", "password_env": "SHOP_READ_PW"}
    external = source_for(_config(tmp_path, address="db1:5432", capture=login, read=login), "shop")
    with pytest.raises(ConfigError, match=r"sources\.shop\.admin: not set"):
        external.login("admin")
    with pytest.raises(ConfigError, match="SHOP_READ_PW is not set"):
        external.password("read")
    (tmp_path / "secrets.env").write_text("SHOP_READ_PW=from-file\n")
    assert external.password("read").get_secret_value() == "from-file"
    monkeypatch.setenv("SHOP_READ_PW", "from-env")
    assert external.password("read").get_secret_value() == "from-env"  # the environment wins
    assert "from-env" not in repr(external.password("read"))


def test_a_configured_key_must_name_columns_of_the_table(tmp_path: Path) -> None:
    from cdc_ods.sources import CatalogColumn

    src = source_for(_config(tmp_path, table_options={"log": {"key": ["nope"]}}), "shop")
    with pytest.raises(ConfigError, match=r"table_options\.log\.key: no column nope"):
        src._table("log", [CatalogColumn("id", "integer")], [])
    with pytest.raises(UnknownTableError, match="has no primary key: add one, or name its key columns"):
        source_for(_config(tmp_path), "shop")._table("log", [CatalogColumn("id", "integer")], [])
