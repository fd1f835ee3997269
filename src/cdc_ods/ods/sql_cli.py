"""`cdc sql`: one Phoenix statement, or an interactive prompt with history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)

HISTORY = Path.home() / ".cdc_sql_history"


def _print(columns: list[str], rows: list[tuple], rowcount: int, as_json: bool) -> None:
    from cdc_ods.ods.phoenix import to_json_value

    if as_json:
        if not columns:
            return
        typer.echo(
            json.dumps([{c: to_json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows])
        )
        return
    if not columns:
        err.print(f"ok ({rowcount} row(s) affected)" if rowcount >= 0 else "ok")
        return
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console.print(table)
    err.print(f"{len(rows)} row(s)")


def _interactive(conn, as_json: bool) -> None:
    import readline

    from cdc_ods.ods.phoenix import StatementError, run

    if HISTORY.exists():
        readline.read_history_file(HISTORY)
    err.print("Phoenix SQL. End a statement with ';'. Ctrl-D quits.")
    buffer: list[str] = []
    try:
        while True:
            try:
                line = input("phoenix> " if not buffer else "     ...> ")
            except EOFError:
                break
            buffer.append(line)
            if not line.rstrip().endswith(";"):
                continue
            statement = "\n".join(buffer)
            buffer = []
            try:
                _print(*run(conn, statement), as_json)
            except StatementError as exc:
                err.print(f"[red]error:[/] {exc}", highlight=False)
    finally:
        readline.write_history_file(HISTORY)


def sql(
    ctx: typer.Context,
    statement: Annotated[str | None, typer.Argument(help="One SQL statement; none opens a prompt.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Rows as a JSON array of objects.")] = False,
) -> None:
    """Run Phoenix SQL against the ODS through the Query Server."""
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.ods.phoenix import connect, run

    url = Endpoints.from_config(ctx.obj.config()).phoenix_url
    conn = connect(url)
    try:
        if statement is None:
            _interactive(conn, as_json)
        else:
            _print(*run(conn, statement), as_json)
    finally:
        conn.close()
