"""rightsmark repo ...: manifest repositories, where signed manifests are kept to be found again from the pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, app

repo_app = typer.Typer(
    name="repo",
    help="Manifest repositories: keep signed manifests so that stripped copies of a picture find them again.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(repo_app)

RepoArgument = Annotated[
    str,
    typer.Argument(
        metavar="REPO",
        help="A file path (an embedded repository, created by the first `repo add`), a postgresql:// URL, "
        "or the http(s):// URL of a resolution service.",
    ),
]


@repo_app.command("add")
def repo_add(
    repo: RepoArgument,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Signed files whose manifests to keep.")],
) -> None:
    """Keep the manifests of signed files in REPO, indexed by the soft bindings they record.

    Each manifest must validate (in the file and read alone) and record a soft binding. Exit 0 when every
    file's manifest is kept (or already was), 1 when some file was refused (one line each), 2 when the
    repository cannot be used."""
    from rightsmark.reports.formats import terminal_safe
    from rightsmark.repository.ingest import register

    with _errors():
        results = register(repo, files)
    counts = {"added": 0, "present": 0, "refused": 0}
    for r in results:
        counts[r.outcome] += 1
        if r.outcome == "refused":
            typer.echo(f"rightsmark: {terminal_safe(r.message or r.path)}", err=True)
        else:
            verb = "added" if r.outcome == "added" else "already kept"
            typer.echo(f"{verb} {terminal_safe(r.path)} ({terminal_safe(r.manifest_id or '')})")
    typer.echo(f"{counts['added']} added, {counts['present']} already kept, {counts['refused']} refused", err=True)
    if counts["refused"]:
        raise typer.Exit(1)


@repo_app.command("info")
def repo_info(
    repo: Annotated[
        str,
        typer.Argument(
            metavar="REPO",
            help="A file path or a postgresql:// URL (a resolution service does not say how many it keeps).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs instead of text.")] = False,
) -> None:
    """Print how many manifests REPO keeps and its soft-binding values by algorithm."""
    from rightsmark.repository.base import BatchRepository
    from rightsmark.repository.open import open_repository

    with _errors():
        store = open_repository(repo)
        try:
            count = store.count()
            algorithms = store.algorithms() if isinstance(store, BatchRepository) else None
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps({"repository": store.location, "manifests": count, "algorithms": algorithms}, indent=2))
        return
    from rightsmark.reports.formats import terminal_safe

    typer.echo(f"repository: {terminal_safe(store.location)}")
    typer.echo(f"manifests: {count}")
    if algorithms is None:
        typer.echo("algorithms: not reported by this repository")
    for alg, n in (algorithms or {}).items():
        typer.echo(f"{terminal_safe(alg)}: {n} values")
