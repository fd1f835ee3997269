"""What the topology tells the stages about topics that do not exist yet."""

from pathlib import Path

from cdc_ods.config import parse_config
from cdc_ods.topology import raw_topic_partitions


def test_a_raw_topic_is_planned_with_its_tables_partitions_else_kafkas() -> None:
    shop = {
        "name": "shop", "kind": "postgres", "database": "shop", "schema": "sales",
        "tables": ["orders", "items"], "table_options": {"orders": {"partitions": 8}},
    }  # fmt: skip
    data = {"kafka": {"partitions": 3}, "collector": {"partitions": 5}, "sources": [shop]}
    config = parse_config(data, Path("/tmp"), "test.yaml")
    assert raw_topic_partitions(config, "shop.sales.orders") == 8
    assert raw_topic_partitions(config, "shop.sales.items") == 3
    assert raw_topic_partitions(config, "events.app.client_events") == 5  # the collector's
