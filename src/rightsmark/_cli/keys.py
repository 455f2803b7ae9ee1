"""rightsmark keys ..."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, keys_app
from rightsmark.errors import UsageError
from rightsmark.models import Algorithm


@keys_app.command("init")
def keys_init(
    directory: Annotated[Path, typer.Argument(help="Directory to write ca.pem, signer.pem and signer.key into.")],
    subject: Annotated[
        str, typer.Option(help="Common name of the signing certificate.")
    ] = "rightsmark development signer",
    organization: Annotated[
        str, typer.Option(help="Organization named in the certificates.")
    ] = "rightsmark development CA",
    algorithm: Annotated[Algorithm, typer.Option(help="Signature algorithm.")] = Algorithm.ES256,
    years: Annotated[int, typer.Option(help="Validity of the signing certificate in years.")] = 12,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Encrypt signer.key with the passphrase in this environment variable.")
    ] = None,
    example: Annotated[bool, typer.Option(help="Mark the certificates as example keys that prove nothing.")] = False,
) -> None:
    """Create a development CA and a C2PA signing certificate (never overwrites)."""
    from rightsmark.keys import init_keys

    with _errors():
        passphrase = None
        if passphrase_env:
            value = os.environ.get(passphrase_env)
            if not value:
                raise UsageError(f"environment variable {passphrase_env} is empty or unset", hint="export it first")
            passphrase = value.encode()
        files = init_keys(
            directory,
            subject=subject,
            organization=organization,
            algorithm=algorithm,
            years=years,
            passphrase=passphrase,
            example=example,
        )
    typer.echo(f"wrote {files.ca} (trust anchor: give it to verifiers with --trust)")
    typer.echo(f"wrote {files.chain} (signing certificate chain, leaf first)")
    typer.echo(f"wrote {files.key} (private key, mode 0600: keep it secret)")
    typer.echo("These are development keys: nobody else trusts this CA. Use a certificate from a real CA to publish.")
