"""Measure the local stack: cold and warm `cdc stack up` times and idle memory per service.

Runs on a private stack (ports shifted by 2000, data under .stack/measure) so a running
demo stack is left alone. Cold = empty data directories (jars already resolved); warm =
restart with the data from the cold run. Prints a Markdown table for the README and
writes bench-results/stack.json.

    .venv/bin/python scripts/measure_stack.py [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import psutil
import yaml

from cdc_ods.config import load_config
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from cdc_ods.stack.services import SERVICES

PROJECT_DIR = Path(__file__).resolve().parents[1]  # the checkout this script is part of


def private_config(directory: Path) -> Path:
    base = load_config(PROJECT_DIR / "cdc.yaml")
    ports = {name: port + 2000 for name, port in base.stack.ports.model_dump().items()}
    data = {
        "stack": {"data_dir": str(directory), "lib_dir": str(base.lib_dir), "ports": ports},
        "sources": [s.model_dump(by_alias=True) for s in base.sources],
    }
    path = directory.parent / "measure.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def timed_up(manager: StackManager) -> tuple[float, dict[str, float]]:
    per_service: dict[str, float] = {}
    t0 = time.monotonic()
    last = t0

    def report(message: str) -> None:
        nonlocal last
        if ": healthy" in message:
            name = message.split(":", 1)[0]
            now = time.monotonic()
            per_service[name] = round(now - last, 1)
            last = now

    manager.report = report
    manager.up()
    return round(time.monotonic() - t0, 1), per_service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()

    directory = PROJECT_DIR / ".stack" / "measure" / "stack"
    shutil.rmtree(directory.parent, ignore_errors=True)
    directory.mkdir(parents=True)
    ctx = StackContext(load_config(private_config(directory)))
    manager = StackManager(ctx)
    manager.install()
    try:
        cold, cold_steps = timed_up(manager)
        time.sleep(args.idle_seconds)
        rss = manager.memory_rss_bytes()
        manager.down()
        warm, warm_steps = timed_up(manager)
    finally:
        manager.down(clean=True)
        shutil.rmtree(directory.parent, ignore_errors=True)

    result = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
        },
        "cold_up_s": cold,
        "warm_up_s": warm,
        "cold_per_service_s": cold_steps,
        "warm_per_service_s": warm_steps,
        "idle_rss_mib": {name: round(b / 2**20) for name, b in rss.items()},
        "idle_rss_total_mib": round(sum(rss.values()) / 2**20),
        "idle_seconds": args.idle_seconds,
    }
    out = PROJECT_DIR / "bench-results" / "stack.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print("| service | cold start (s) | warm start (s) | idle RSS (MiB) |\n|---|---|---|---|")
    for service in SERVICES:
        name = service.name
        print(
            f"| {name} | {cold_steps.get(name, '')} | {warm_steps.get(name, '')} | "
            f"{result['idle_rss_mib'].get(name, '')} |"
        )
    print(f"| **whole stack** | **{cold}** | **{warm}** | **{result['idle_rss_total_mib']}** |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
