"""Imports run one way: core -> I/O clients -> topology and the stage runtime -> stages -> tools
-> local stack and producers -> CLI (docs/architecture.md, "Layers"). Checked over every import
statement of the package, those inside functions too; nothing imports a CLI module."""

from __future__ import annotations

import ast
from pathlib import Path

import cdc_ods

PACKAGE = Path(cdc_ods.__file__).parent
LAYERS = [
    {
        "errors",
        "paths",
        "contract",
        "config",
        "settings",
        "secrets",
        "endpoints",
        "metrics_server",
        "kafka_security",
        "__init__",
    },
    {"sources", "kafka", "dlq", "prometheus"},
    {"topology", "runtime"},
    {"ksql", "ods", "collector", "connectors"},
    {"reconcile", "operations", "monitoring", "bench", "workspace", "superset"},
    {"stack", "producers"},
]
CLI = len(LAYERS)


def _layer(module: str) -> int:
    """`module` is dotted below cdc_ods (`ods.loader`); CLI modules are the top layer."""
    parts = module.split(".")
    if parts[-1] in ("cli", "sql_cli", "__main__") or module == "cli":
        return CLI
    for rank, names in enumerate(LAYERS):
        if parts[0] in names:
            return rank
    raise AssertionError(f"cdc_ods.{module} is in no layer: add it to LAYERS (and docs/architecture.md)")


def _is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _imports(path: Path, module: str) -> set[str]:
    """The cdc_ods modules (dotted below cdc_ods) a file imports; `from cdc_ods import x` is x."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("cdc_ods.") for a in node.names if a.name.startswith("cdc_ods.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: against the module's own package
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1])
                target = ".".join(p for p in (base, node.module or "") if p)
            elif node.module == "cdc_ods":  # a module of the package, or a name of its __init__
                found |= {a.name if _is_module(a.name) else "__init__" for a in node.names}
                continue
            elif (node.module or "").startswith("cdc_ods."):
                target = node.module.removeprefix("cdc_ods.")  # type: ignore[union-attr]
            else:
                continue
            found.add(target)
    return found


def test_every_import_points_down_or_sideways() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for imported in sorted(_imports(path, module)):
            if _layer(imported) > _layer(module):
                upward.append(f"cdc_ods.{module} imports cdc_ods.{imported}")
    assert not upward, "\n".join(upward)
