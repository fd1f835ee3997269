"""`cdc bench` on the running pipeline: its figures are there, and it leaves the pipeline as it
found it (connectors and stages running again after the drain and the ceilings, every change
in the ODS)."""

from __future__ import annotations

import json
from pathlib import Path

from cdc_ods.bench.breakdown import HOPS
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.stack.context import StackContext

from .conftest import cdc


def test_a_short_bench_reports_latency_by_stage_cost_a_drain_and_each_stage_alone(
    pipeline: StackContext, tmp_path: Path
) -> None:
    ran = cdc(
        "bench", "--warmup", "10", "--rates", "200", "--step-seconds", "5", "--drain", "3000", "--ceilings",
        "--out", str(tmp_path), "--json", timeout=900,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads(ran.stdout)
    assert json.loads((tmp_path / "bench.json").read_text()) == result and (tmp_path / "bench.png").is_file()

    # the warm-up: one window (10 s) of load, its JIT share measured and judged
    warmup = result["warmup"]
    assert 10 <= warmup["seconds"] < 120 and len(warmup["jit_cores"]) == 1, warmup
    assert warmup["settled"] == (warmup["jit_cores"][0] < 0.1), warmup

    (step,) = result["steps"]
    for name, source in step["sources"].items():
        assert source["probes"] > 0 and source["latency_ms"]["p50"] is not None, name
        # every probe split into its stages; each stage takes time, none runs backwards
        assert list(source["stages_ms"]) == list(HOPS), name
        assert all(0 <= hop["p50"] < 60_000 for hop in source["stages_ms"].values()), source["stages_ms"]
    # every row PostgreSQL's producer changed, timed from its ODS timestamps; none for MariaDB,
    # whose binlog stamps commits in whole seconds
    rows = step["sources"]["postgres"]["rows_ms"]
    assert rows["rows"] > 10 and 0 <= rows["p50"] <= rows["p99"] <= rows["max"] < 60_000, rows
    assert step["sources"]["mysql"]["rows_ms"] is None
    for process in ("kafka", "connect", "cleansing", "loader", "phoenix-query-server", "hbase", "producers"):
        assert step["cost"][process]["cpu_s"] > 0, (process, step["cost"])
    for jvm in ("kafka", "connect", "hbase", "phoenix-query-server"):  # their compilers counted apart
        assert 0 <= step["cost"][jvm]["jit_cpu_s"] <= step["cost"][jvm]["cpu_s"], step["cost"][jvm]
    assert step["cost"]["loader"]["jit_cpu_s"] == 0  # a Python process has none
    assert step["stack_cpu_us_per_change"] > 0

    drain = result["drain"]
    assert drain["changes"] >= 3000 and drain["per_s"] > 0 and drain["cost"]["loader"]["cpu_s"] > 0, drain
    assert "producers" not in drain["cost"]  # nothing but the stack ran while it drained

    # each stage alone on a second backlog of the same size: all of it went through each
    ceilings = result["ceilings"]
    by_stage = {c["stage"]: c for c in ceilings["stages"]}
    assert list(by_stage) == ["capture", "cleansing", "loader", "hbase puts"], ceilings
    assert by_stage["capture"]["records"] >= 3000 and by_stage["cleansing"]["records"] >= 3000, ceilings
    assert all(c["per_s"] > 0 and c["seconds"] > 0 for c in ceilings["stages"]), ceilings
    assert by_stage["cleansing"]["cost"]["cleansing"]["cpu_s"] > 0, by_stage["cleansing"]["cost"]
    slowest = min(ceilings["stages"], key=lambda c: c["per_s"])
    assert ceilings["slowest"] == slowest["stage"]
    assert ceilings["drain_vs_slowest"] == round(drain["per_s"] / slowest["per_s"], 3)
    with ConnectClient.of(pipeline.config) as connect:
        states = {name: s["connector"]["state"] for name, s in connect.statuses().items()}
    assert {states[s.name] for s in pipeline.config.sources if s.enabled and s.has_catalog} == {"RUNNING"}
    services = {s["name"]: s["state"] for s in json.loads(cdc("stack", "status", "--json").stdout)}
    assert services["cleansing"] == services["loader"] == "running", services
    reconciled = cdc("reconcile", "--json", timeout=600)
    assert reconciled.returncode == 0, reconciled.stdout[-3000:]
