"""The monitoring config is valid: Prometheus config and rules (promtool), alert unit tests, dashboards."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import PROJECT_DIR

MONITORING = PROJECT_DIR / "monitoring"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: `make setup` installs Debian's prometheus package"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, cwd=MONITORING)


def test_promtool_checks_the_scrape_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rules", sorted((MONITORING / "rules").glob("*.yml")), ids=lambda p: p.name)
def test_promtool_checks_the_alert_rules(rules: Path) -> None:
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tests", sorted((MONITORING / "tests").glob("*.yml")), ids=lambda p: p.name)
def test_alerts_fire_as_their_unit_tests_expect(tests: Path) -> None:
    result = promtool("test", "rules", str(tests.relative_to(MONITORING)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = "\n".join(p.read_text() for p in (MONITORING / "tests").glob("*.yml"))
    for file in (MONITORING / "rules").glob("*.yml"):
        for group in yaml.safe_load(file.read_text())["groups"]:
            for rule in group["rules"]:
                assert f"alertname: {rule['alert']}" in tested, f"{rule['alert']} has no promtool test"


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for file in (MONITORING / "rules").glob("*.yml"):
        for group in yaml.safe_load(file.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_are_valid_and_every_panel_queries_the_provisioned_datasource(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    provisioned = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    uids = {d["uid"] for d in provisioned["datasources"]}
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids
            assert target["expr"].strip(), panel["title"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_there_is_an_overview_and_a_page_per_component() -> None:
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert "cdc-ods: pipeline overview" in titles
    assert {
        "cdc-ods: Kafka",
        "cdc-ods: Kafka Connect and Debezium",
        "cdc-ods: ODS loader, Phoenix and HBase",
    } <= titles
