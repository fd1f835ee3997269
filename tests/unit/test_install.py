"""A non-editable install works: a wheel of this checkout carries the tool's own files, and
from a directory outside the checkout `cdc init` and the code that reads the tool's files find
them in the installed package and the operator's in the workspace, never in the checkout.

The wheel is built offline with the virtualenv's setuptools (requirements.lock pins one that
builds wheels by itself), from a copy of the checkout so no build/ lands in it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from tests import PROJECT_DIR

PACKAGE_SRC = PROJECT_DIR / "src" / "cdc_ods"
TOOL_LINKS = PACKAGE_SRC / "tool_files"

# Runs inside the installed package: resolves every tool file and workspace file the way the
# stack does, and prints the paths. argv: workspace, then the tool_file() arguments as JSON.
PROBE = """
import json, sys
from pathlib import Path

import cdc_ods
from cdc_ods.config import load_config
from cdc_ods.paths import tool_file
from cdc_ods.stack import maven
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import jmx_agent, log4j_flag
from cdc_ods.stack.services.prometheus import Prometheus
from cdc_ods.stack.services.stages import LoaderStage

ctx = StackContext(load_config(Path(sys.argv[1]) / "cdc.yaml"))
agent = ctx.lib("jmx-exporter") / "jmx_prometheus_javaagent-0.jar"
agent.parent.mkdir(parents=True, exist_ok=True)
agent.touch()
Prometheus().prepare(ctx)
conf = ctx.conf("prometheus")
paths = {
    "package": cdc_ods.__file__,
    "pom": str(maven.pom_path()),
    "log4j": log4j_flag().split("=", 1)[1],
    "jmx rules": jmx_agent(ctx, 9404, "kafka.yaml").rsplit(":", 1)[1],
    "prometheus.yml": str((conf / "prometheus.yml").resolve()),
    "rules": str((conf / "rules").resolve()),
    "stages' directory": str(LoaderStage().program(ctx).directory),
}
paths |= {"/".join(args): str(tool_file(*args)) for args in json.loads(sys.argv[2])}
print(json.dumps(paths))
"""


def _cannot_build_wheels() -> str | None:
    """Why this virtualenv cannot build a wheel offline, or None."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed: `make setup` installs requirements.lock's"
    if Version(version) >= Version("70.1") or importlib.util.find_spec("wheel") is not None:
        return None
    return (
        f"setuptools {version} builds no wheel without the `wheel` package (70.1 and later do):"
        " `make setup` installs requirements.lock's"
    )


def _tool_file_calls() -> list[tuple[str, ...]]:
    """The arguments of every `tool_file("...", ...)` call of the package with literal arguments."""
    calls = set()
    for module in PACKAGE_SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "tool_file"
                and node.args
                and all(isinstance(a, ast.Constant) for a in node.args)
            ):
                calls.add(tuple(a.value for a in node.args))  # type: ignore[attr-defined]
    return sorted(calls)


def _copy_checkout(tree: Path) -> None:
    """What the build reads: pyproject, README, src/ and the folders tool_files/ links to."""
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_DIR / name, tree / name)
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "target")
    shutil.copytree(PROJECT_DIR / "src", tree / "src", symlinks=True, ignore=junk)
    for link in TOOL_LINKS.iterdir():
        assert link.is_symlink(), f"{link}: tool_files/ holds links to the checkout's folders"
        folder = link.resolve().relative_to(PROJECT_DIR)
        shutil.copytree(PROJECT_DIR / folder, tree / folder, ignore=junk)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, cwd=cwd, env=env, timeout=300)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_an_installed_wheel_finds_the_tool_files_in_the_package_and_the_rest_in_the_workspace(
    tmp_path: Path,
) -> None:
    reason = _cannot_build_wheels()
    if reason:
        pytest.skip(reason)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    tree, dist, site, outside = (tmp_path / n for n in ("tree", "dist", "site", "outside"))
    _copy_checkout(tree)
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist), str(tree)],
        tmp_path,
    )
    (wheel,) = dist.glob("cdc_ods-*.whl")
    _run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)], tmp_path)

    # only the installed package: no checkout src/ on the path, no cdc.yaml of the checkout's
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "prometheus").write_text("#!/bin/sh\nexit 0\n")  # prepare() only looks it up
    (fake_bin / "prometheus").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDC_", "PYTHON"))}
    env |= {"PYTHONPATH": str(site), "PATH": f"{fake_bin}{os.pathsep}{env.get('PATH', '')}"}
    outside.mkdir()
    workspace = outside / "ws"

    init = _run([sys.executable, "-m", "cdc_ods", "init", str(workspace)], outside, env)
    defaults = ["cdc.yaml", "ksql/00_dlq.sql", "monitoring/prometheus.yml", "connectors/OVERRIDES.md"]
    for name in defaults:
        assert f"wrote {workspace / name}" in init.stdout, init.stdout
    for name in ("monitoring/prometheus.yml", "monitoring/rules/pipeline.yml", "connectors/OVERRIDES.md"):
        assert (workspace / name).read_bytes() == (PROJECT_DIR / name).read_bytes(), name

    calls = _tool_file_calls()
    assert ("stack", "pom.xml") in calls and ("producers", "mysql.sql") in calls, calls
    jmx = [("monitoring", "jmx", p.name) for p in sorted((TOOL_LINKS / "monitoring" / "jmx").glob("*.yaml"))]
    probe = _run([sys.executable, "-c", PROBE, str(workspace), json.dumps(calls + jmx)], outside, env)
    paths = {what: Path(p).resolve() for what, p in json.loads(probe.stdout).items()}

    package, ws = (site / "cdc_ods").resolve(), workspace.resolve()
    assert paths.pop("package").parent == package
    for what in ("prometheus.yml", "rules", "stages' directory"):
        assert paths.pop(what).is_relative_to(ws), what
    assert len(paths) >= len(calls) + len(jmx)
    for what, path in paths.items():
        assert path.is_relative_to(package) and path.exists(), (
            f"{what}: {path} is not the installed package's"
        )
        assert not path.is_relative_to(PROJECT_DIR), f"{what}: {path} is in the checkout"
