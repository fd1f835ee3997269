"""`cdc ksql generate`: each configured table's script, from its source's catalog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.ksql.generate import DLQ_HEADER, is_unedited, stream_prefix, table_script
from cdc_ods.sources import source_for


def write_scripts(
    config: Config,
    directory: Path,
    force: bool,
    update: bool,
    report: Callable[[str], None],
    only: tuple[str, str] | None = None,
) -> list[Path]:
    """A script for every captured table that has none (`update`: also rewrite unedited
    generated ones; `force`: every one); returns the files written. A table the generator
    refuses is reported and the others still get theirs; then the refusals are raised.
    `only`: (source, table), that table's script alone."""
    endpoints = Endpoints.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    header = directory / "00_dlq.sql"
    if force or not header.exists():
        header.write_text(DLQ_HEADER, encoding="utf-8")
    written: list[Path] = []
    refused: list[str] = []
    for source in config.sources:
        if only and only[0] != source.name:
            continue
        src = source_for(config, source, endpoints)
        tables = src.tables() if source.has_catalog else source.tables
        for table in tables if only is None else [t for t in tables if t == only[1]]:
            path = directory / f"{stream_prefix(source.name, source.database, table)}.sql"
            if path.exists() and not force:
                if not update:
                    report(f"[dim]kept[/] {path} (exists; --update or --force rewrites it)")
                    continue
                if not is_unedited(path.read_text(encoding="utf-8")):
                    report(f"[yellow]kept[/] {path}: edited by hand (--force overwrites it)")
                    continue
            if not source.has_catalog:
                report(f"[yellow]skipped[/] {path}: MongoDB has no schema to read; write it by hand")
                continue
            try:
                catalog = src.catalog(table)
                text = table_script(source, catalog)
            except CdcError as exc:  # the other tables still get their scripts
                report(f"[red]refused[/] {path}: {exc}")
                refused.append(f"{source.name}.{table}")
                continue
            path.write_text(text, encoding="utf-8")
            written.append(path)
            report(f"[green]wrote[/] {path} ({len(catalog.columns)} columns)")
    if refused:
        raise CdcError(f"no script for {len(refused)} table(s): {', '.join(refused)} (reasons above)")
    return written
