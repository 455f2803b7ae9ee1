"""rightsmark consent ..."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, app
from rightsmark._cli._material import (
    PASSPHRASE_ENV,
    CertOption,
    KeyOption,
    PassphraseEnvOption,
    PassphraseFdOption,
    PassphraseFileOption,
    Pkcs11ModuleOption,
    load_signing_key,
)

consent_app = typer.Typer(
    name="consent", help="Manage consent records: withdraw them.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(consent_app)


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
    key: KeyOption,
    cert: CertOption = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the list's holder (never a name).")] = None,
    issuer: Annotated[
        str | None, typer.Option(help="Who holds the releases (default: the list's, else the certificate's name).")
    ] = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_fd: PassphraseFdOption = None,
    passphrase_env: PassphraseEnvOption = PASSPHRASE_ENV,
) -> None:
    """Withdraw consent records: create or extend a signed withdrawal list (schemas/withdrawals.schema.json).

    The key of the party that holds the releases signs the list: a PEM key with --cert, a PKCS#12
    bundle, or a pkcs11: URI of a token key (its passphrase or PIN as for 'rightsmark sign').
    """
    from rightsmark.verify.withdraw import create_or_extend
    from rightsmark.verify.withdrawals import signature_path

    with _errors():
        _, material = load_signing_key(
            key,
            cert,
            passphrase_file=passphrase_file,
            passphrase_fd=passphrase_fd,
            passphrase_env=passphrase_env,
            pkcs11_module=pkcs11_module,
        )
        with material:
            result = create_or_extend(list_, release_ids, material, reason=reason, issuer=issuer)
    when = result.withdrawn
    for rid in dict.fromkeys(release_ids):
        state = "withdrew" if rid in result.added else "already withdrawn:"
        typer.echo(f"{state} {rid} (at {when[rid]})")
    if result.added:
        typer.echo(f"wrote {list_} ({len(result.entries)} withdrawn) and {signature_path(list_)}")
    else:
        typer.echo(f"{list_} unchanged ({len(result.entries)} withdrawn)")
