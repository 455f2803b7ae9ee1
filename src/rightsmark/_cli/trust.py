"""rightsmark trust ...: the bundled trust lists, what they hold and where they come from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, app
from rightsmark.errors import UsageError

trust_app = typer.Typer(
    name="trust",
    help="The bundled trust lists: where they come from and which certificates they hold.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(trust_app)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for programs instead of text.")]


@trust_app.command("list")
def trust_list(as_json: JsonOption = False) -> None:
    """Print each bundled trust list: role, entries, sha256, dates, source, whether used by default."""
    from rightsmark.trust import lists as trustlists

    with _errors():
        rows = [trustlists.summary(name) for name in trustlists.BUNDLED]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    header = ("name", "role", "entries", "sha256", "changed", "retrieved", "default", "repository")
    table = [header]
    for row in rows:
        entries = f"{row['anchors']}" + (f"+{row['allowed']} allowed" if row["allowed"] else "")
        table.append(
            (
                str(row["name"]),
                str(row["role"]),
                entries,
                str(row["sha256"])[:16],
                str(row["date"])[:10],
                str(row["retrieved"]),
                "yes" if row["default"] else "no",
                str(row["repository"]),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


@trust_app.command("show")
def trust_show(
    name: Annotated[str, typer.Argument(help="The list: c2pa, c2pa-tsa or interim.")],
    trust_list_file: Annotated[
        str | None,
        typer.Option(
            "--trust-list-file",
            metavar="NAME=FILE",
            help="Show the list with its anchors replaced by FILE (PEM), as verification would use it.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print where a trust list comes from, then each certificate: subject, fingerprint, validity, kind."""
    from rightsmark.trust import lists as trustlists

    with _errors():
        override = None
        if trust_list_file is not None:
            for_name, override = trustlists.parse_override(trust_list_file)
            if for_name != name:
                raise UsageError(
                    f"--trust-list-file names the list {for_name!r}, not {name!r}", hint=f"give {name}=FILE"
                )
        tl = trustlists.load(name, override)
        now = datetime.now(UTC)
        if as_json:
            doc = trustlists.details(tl, now)
        else:
            about, listed = trustlists.description(name), trustlists.entries(tl)
    if as_json:
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    for key, value in tl.describe().items():
        typer.echo(f"{key}: {value}")
    typer.echo(f"description: {about}")
    if tl.ekus:
        typer.echo(f"ekus: {' '.join(tl.ekus)}")
    expired = sum(e.expired(now) for e in listed)
    counts = f"{tl.anchor_count} anchors" + (f", {tl.allowed_count} allowed" if tl.allowed_pem else "")
    typer.echo(f"entries: {counts} ({expired} expired, {len(tl.warnings)} ignored)")
    typer.echo("")
    for e in listed:
        mark = "  expired" if e.expired(now) else ""
        typer.echo(f"{e.subject}  {e.sha256}  {e.not_before:%Y-%m-%d} – {e.not_after:%Y-%m-%d}{mark}  {e.kind}")
    for warning in tl.warnings:
        typer.echo(f"warning: {warning}")
