"""rightsmark serve: a manifest repository served as the C2PA Soft Binding Resolution API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rightsmark._cli._app import _errors, app
from rightsmark.errors import UsageError

if TYPE_CHECKING:
    from rightsmark.repository.base import Repository


@app.command()
def serve(
    repo: Annotated[
        str, typer.Option("--repo", metavar="REPO", help="The repository: a path, or a postgresql:// URL.")
    ],
    host: Annotated[str, typer.Option(help="The address to listen on (loopback unless you mean otherwise).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="The port to listen on; 0 picks a free one.")] = 8080,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="A file holding the write token for POST /manifests (else $RIGHTSMARK_SERVE_TOKEN; "
            "neither: writes are disabled).",
        ),
    ] = None,
    max_upload: Annotated[
        int, typer.Option("--max-upload", metavar="BYTES", help="The largest image /matches/byContent accepts.", min=1)
    ] = 8 * 1024 * 1024,
    rate: Annotated[
        str, typer.Option(metavar="N/s", help="Requests per second per client address (bursts of twice that).")
    ] = "50/s",
) -> None:
    """Serve a manifest repository over HTTP as the C2PA Soft Binding Resolution API (GET /openapi.json)."""
    from rightsmark.serve import limits, run
    from rightsmark.serve.service import RepositoryThread

    with _errors():
        run.check_stack()
        settings = limits.ServiceSettings(
            token=limits.load_token(token_file), max_upload=max_upload, rate=limits.parse_rate(rate)
        )
        thread = RepositoryThread()  # the repository is opened, used and closed on this one thread
        try:
            repository = thread.call(_open_local, repo)
            try:
                if not run.is_loopback(host):
                    typer.echo(
                        f"rightsmark: warning: listening on {host}: other machines can query this repository"
                        + (" and, with the token, write to it" if settings.token else ""),
                        err=True,
                    )
                listener = run.listen(host, port)
                try:
                    run.serve(repository, thread, listener, settings, lambda line: typer.echo(line))
                finally:
                    listener.close()
            finally:
                thread.call(repository.close)
        finally:
            thread.close()


def _open_local(spec: str) -> Repository:
    """The repository ``spec`` names, which must exist and be local (a path or a PostgreSQL URL)."""
    from rightsmark.repository.open import kind, open_repository

    if kind(spec) == "http":
        raise UsageError(
            "serve keeps its own repository: give a path or a postgresql:// URL, not a service URL",
            path=spec,
        )
    return open_repository(spec)
