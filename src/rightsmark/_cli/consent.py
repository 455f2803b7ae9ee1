"""rightsmark consent ..."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, consent_app
from rightsmark._cli._material import load_material


@consent_app.command("withdraw")
def consent_withdraw(
    release_ids: Annotated[
        list[str],
        typer.Argument(
            help="release_id of each consent record withdrawn.", metavar="RELEASE_ID...", show_default=False
        ),
    ],
    list_: Annotated[
        Path, typer.Option("--list", help="Withdrawal list to create or extend (FILE.sig is written beside it).")
    ],
    key: Annotated[Path, typer.Option(help="Private key of the party that holds the releases (PEM).")],
    cert: Annotated[Path, typer.Option(help="Its certificate chain (PEM, leaf first).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the list's holder (never a name).")] = None,
    issuer: Annotated[
        str | None, typer.Option(help="Who holds the releases (default: the list's, else the certificate's name).")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="File holding the key's passphrase (else $RIGHTSMARK_KEY_PASSPHRASE, else a prompt)."),
    ] = None,
) -> None:
    """Withdraw consent records: create or extend a signed withdrawal list (schemas/withdrawals.schema.json)."""
    from rightsmark.withdrawals import create_or_extend, signature_path

    with _errors():
        material = load_material(key, cert, passphrase_file)
        result = create_or_extend(list_, release_ids, material, reason=reason, issuer=issuer)  # type: ignore[arg-type]
    when = result.withdrawn
    for rid in dict.fromkeys(release_ids):
        state = "withdrew" if rid in result.added else "already withdrawn:"
        typer.echo(f"{state} {rid} (at {when[rid]})")
    if result.added:
        typer.echo(f"wrote {list_} ({len(result.entries)} withdrawn) and {signature_path(list_)}")
    else:
        typer.echo(f"{list_} unchanged ({len(result.entries)} withdrawn)")
