"""rightsmark keys ..."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    secret_from_env,
)
from rightsmark.errors import UsageError
from rightsmark.models import Algorithm

if TYPE_CHECKING:
    from rightsmark.keys.algorithms import SigningKey
    from rightsmark.keys.source import KeySource

keys_app = typer.Typer(name="keys", help="Create and manage signing keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(keys_app)


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
    from rightsmark.keys.devca import init_keys

    with _errors():
        passphrase = secret_from_env(passphrase_env) if passphrase_env else None
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


@keys_app.command("check")
def keys_check(
    key: KeyOption,
    cert: CertOption = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_fd: PassphraseFdOption = None,
    passphrase_env: PassphraseEnvOption = PASSPHRASE_ENV,
    engine: Annotated[
        bool, typer.Option(help="Also have the C2PA engine sign a test image in memory (nothing is written).")
    ] = True,
) -> None:
    """Check a key and its certificate: every rule the C2PA engine applies, then a trial signature."""
    from cryptography.x509.oid import NameOID

    from rightsmark._cli._material import load_signing_key
    from rightsmark.sign.trial import engine_trial

    with _errors():
        source, material = load_signing_key(
            key,
            cert,
            passphrase_file=passphrase_file,
            passphrase_fd=passphrase_fd,
            passphrase_env=passphrase_env,
            pkcs11_module=pkcs11_module,
        )
        with material:
            if engine:
                engine_trial(material, path=cert or source.location)
    leaf = material.leaf
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else leaf.subject.rfc4514_string()
    typer.echo(f"ok: {subject}, {material.algorithm.name}, valid until {leaf.not_valid_after_utc:%Y-%m-%d}")


@keys_app.command("csr")
def keys_csr(
    subject: Annotated[str, typer.Option(help="Your name as the certificate should show it (common name).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the request (PEM).")],
    organization: Annotated[str | None, typer.Option(help="Organization (O) in the certificate.")] = None,
    email: Annotated[
        str | None, typer.Option(help="Email address (subjectAltName): S/MIME CAs issue for a verified address.")
    ] = None,
    country: Annotated[str | None, typer.Option(help="Two-letter country code (C).")] = None,
    algorithm: Annotated[
        Algorithm | None,
        typer.Option(case_sensitive=False, help="Algorithm of a --new-key [default: es256]; must match --key."),
    ] = None,
    document_signing: Annotated[
        bool, typer.Option(help="Also request the documentSigning extended key usage (besides emailProtection).")
    ] = False,
    key: Annotated[
        str | None, typer.Option(help="Existing key to request a certificate for: PEM, .p12 or pkcs11: URI.")
    ] = None,
    new_key: Annotated[
        Path | None, typer.Option(help="Create a new private key here (PEM, mode 0600) and request for it.")
    ] = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_fd: PassphraseFdOption = None,
    passphrase_env: Annotated[
        str | None,
        typer.Option(
            help="--new-key: encrypt it with the passphrase in this variable; --key: the variable holding its "
            "passphrase (default RIGHTSMARK_KEY_PASSPHRASE)."
        ),
    ] = None,
) -> None:
    """Write a certificate signing request for a real CA, asking for what C2PA needs (never overwrites).

    Requested: KeyUsage digitalSignature (critical), ExtendedKeyUsage emailProtection
    (+ documentSigning), the email as subjectAltName, and no CA rights.
    """
    from cryptography.hazmat.primitives import serialization

    from rightsmark._cli._material import PASSPHRASE_ENV as DEFAULT_ENV
    from rightsmark._cli._material import resolve_key_source
    from rightsmark.keys.algorithms import algorithm_for, public_key_of
    from rightsmark.keys.csr import certificate_request, request_subject
    from rightsmark.keys.devca import new_private_key, write_new_file, write_private_key

    with _errors():
        if (key is None) == (new_key is None):
            raise UsageError("give --key EXISTING or --new-key PATH", hint="one of them, not both")
        name = request_subject(subject, organization=organization, country=country, email=email)
        for path in (output, new_key):
            if path is not None and (path.exists() or path.is_symlink()):
                raise UsageError(
                    "already exists; refusing to overwrite", path=path, hint="choose another name or move it away"
                )
        if new_key is not None:
            if passphrase_file is not None or passphrase_fd is not None:
                raise UsageError(
                    "--new-key takes its passphrase from --passphrase-env VAR", hint="export VAR, then pass its name"
                )
            passphrase = secret_from_env(passphrase_env) if passphrase_env else None
            private = new_private_key(algorithm or Algorithm.ES256)
            csr = certificate_request(private, name, email=email, document_signing=document_signing)
            write_private_key(new_key, private, passphrase)
        else:
            assert key is not None
            source = resolve_key_source(
                key,
                None,
                passphrase_file=passphrase_file,
                passphrase_fd=passphrase_fd,
                passphrase_env=passphrase_env or DEFAULT_ENV,
                pkcs11_module=pkcs11_module,
            )
            signing_key = _load_key_prompting(source)
            actual = algorithm_for(public_key_of(signing_key), key)
            if algorithm is not None and algorithm is not actual:
                raise UsageError(
                    f"--algorithm {algorithm.name} does not match the key, which signs {actual.name}",
                    hint="leave --algorithm out with --key",
                )
            csr = certificate_request(signing_key, name, email=email, document_signing=document_signing)
        write_new_file(output, csr.public_bytes(serialization.Encoding.PEM), 0o644)
    if new_key is not None:
        sealed = "encrypted" if passphrase_env else "unencrypted: --passphrase-env VAR encrypts it"
        typer.echo(f"wrote {new_key} (private key, mode 0600, {sealed}: keep it secret)")
    typer.echo(f"wrote {output} (certificate signing request for {name.rfc4514_string()})")
    typer.echo(
        "Send it to a CA that issues S/MIME or document signing certificates; check what comes back with "
        "'rightsmark keys check --key KEY --cert CERT.pem'."
    )


def _load_key_prompting(source: KeySource) -> SigningKey:
    """The private key alone (no certificate needed), asking for a missing secret on a terminal."""
    import sys

    from rightsmark._cli._material import _prompt
    from rightsmark.errors import PassphraseError

    try:
        return source.load_key()
    except PassphraseError:
        if source.secret is not None or not sys.stdin.isatty():
            raise
    typed = _prompt(source)
    if typed is None:
        raise PassphraseError(f"no {source.secret_name} was typed for {source.describe()}")
    return source.with_secret(typed).load_key()
