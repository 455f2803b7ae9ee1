"""rightsmark filter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, app


@app.command(name="filter")
def filter_(
    specs: Annotated[
        list[str] | None,
        typer.Argument(help="Tar shards (.tar, .tar.gz, ...) and Parquet files to copy, filtered.", show_default=False),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="The verify report deciding what is kept (jsonl, json, csv, parquet, or a folder of them)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder the copies go to, each under its input's name.")
    ] = None,
    allow_unmatched: Annotated[
        bool,
        typer.Option(help="Exit 0 even when the report lacks records of some samples (they are never copied)."),
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace copies already in the output folder.")] = False,
    column: Annotated[
        str | None, typer.Option(help="Parquet image column, as given to verify (for reports without sample rows).")
    ] = None,
    key_column: Annotated[str | None, typer.Option(help="Parquet key column, as given to verify (likewise).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
) -> None:
    """Copy tar shards and Parquet files holding only the samples and rows a verify report kept.

    Exit 0: done, every sample matched a record; 1: done, but some samples had no record (not copied)
    or records named nothing in the inputs; 2: stopped (a bad argument, report or input): nothing
    written for the input named.
    """
    from rightsmark.errors import UsageError

    def echo(line: str) -> None:
        if not quiet:
            from rightsmark.reports.formats import terminal_safe

            typer.echo(terminal_safe(line), err=True)

    with _errors():
        if report is None or output is None:
            raise UsageError("filter needs --report REPORT and -o OUT", hint="e.g. -o filtered/ --report report.jsonl")
        from rightsmark.subset.run import filter_inputs

        result = filter_inputs(
            specs or [],
            report,
            output,
            allow_unmatched=allow_unmatched,
            force=force,
            column=column,
            key_column=key_column,
            echo=echo,
        )
        total = result.total
        if len(result.inputs) > 1:
            echo(f"total: {total.describe('samples or rows')}")
        if total.mismatched:
            echo(
                "rightsmark: the report does not describe these inputs exactly (a sample without a record, or a record"
                " naming nothing in them): unmatched samples were not copied"
                + ("" if allow_unmatched else "; exit 1 (--allow-unmatched: exit 0)")
            )
    raise typer.Exit(result.exit_code)
