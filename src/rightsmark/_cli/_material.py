"""Signing keys for the commands that sign (sign, consent withdraw, keys check, keys csr).

One entry point, :func:`load_key_source`: it turns ``--key``/``--cert`` and the secret options into
a :class:`~rightsmark.keys.source.KeySource` holding the passphrase or PIN, loads it once (so every
certificate check runs before any file is touched) and asks on the terminal only when a secret is
missing and stdin is a terminal. The loaded material is memoised in the source, so calling
``source.load()`` afterwards in the same process costs nothing.

Where the secret comes from, first found wins:

1. ``--passphrase-file F`` or ``--passphrase-fd N`` (an inherited descriptor, as gpg reads it:
   one line), or ``--passphrase-env VAR`` naming another variable than the default;
2. for a token: ``pin-value``/``pin-source`` in the ``pkcs11:`` URI, then ``$RIGHTSMARK_PKCS11_PIN``;
   for a PEM key or PKCS#12 bundle: ``$RIGHTSMARK_KEY_PASSPHRASE``;
3. a prompt (getpass), only when stdin is a terminal; otherwise a one-line error.

The options, shared by every command that loads a key (aliases below, for Typer signatures)::

    --key KEY               PEM private key, PKCS#12 bundle (.p12/.pfx) or pkcs11: URI
    --cert CHAIN            certificate chain, PEM, leaf first (optional for .p12 and tokens)
    --pkcs11-module LIB     PKCS#11 library (else module-path in the URI, else $RIGHTSMARK_PKCS11_MODULE)
    --passphrase-file F     file holding the passphrase or PIN
    --passphrase-fd N       read the passphrase or PIN from inherited file descriptor N
    --passphrase-env VAR    environment variable holding it (default RIGHTSMARK_KEY_PASSPHRASE)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rightsmark.errors import PassphraseError, UsageError

if TYPE_CHECKING:
    from rightsmark.keys.material import SigningMaterial
    from rightsmark.keys.source import KeySource

PASSPHRASE_ENV = "RIGHTSMARK_KEY_PASSPHRASE"
PIN_ENV = "RIGHTSMARK_PKCS11_PIN"

# Typer option aliases: every command that loads a key declares the same options with these.
KeyOption = Annotated[
    str, typer.Option("--key", help="Private key: PEM file, PKCS#12 bundle (.p12/.pfx), or pkcs11: URI of a token key.")
]
OptionalKeyOption = Annotated[
    str | None,
    typer.Option(
        "--key", help="Private key: PEM file, PKCS#12 bundle (.p12/.pfx), or pkcs11: URI (else the profile's)."
    ),
]
CertOption = Annotated[
    Path | None,
    typer.Option("--cert", help="Certificate chain (PEM, leaf first); optional for .p12 bundles and token keys."),
]
Pkcs11ModuleOption = Annotated[
    str | None,
    typer.Option("--pkcs11-module", help="PKCS#11 library for pkcs11: keys (else $RIGHTSMARK_PKCS11_MODULE)."),
]
PassphraseFileOption = Annotated[
    Path | None, typer.Option("--passphrase-file", help="File holding the key's passphrase or the token PIN.")
]
PassphraseFdOption = Annotated[
    int | None,
    typer.Option("--passphrase-fd", help="Read the passphrase or PIN from this inherited file descriptor (one line)."),
]
PassphraseEnvOption = Annotated[
    str,
    typer.Option(
        "--passphrase-env",
        help="Environment variable holding the passphrase or PIN (token PINs: else $RIGHTSMARK_PKCS11_PIN).",
    ),
]


def _read_secret_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read passphrase file: {exc.strerror}", path=path) from None
    secret = data.rstrip(b"\r\n")
    if not secret:
        raise UsageError("the passphrase file is empty", path=path)
    return secret


def _read_secret_fd(fd: int) -> bytes:
    """One line from an inherited descriptor (the descriptor itself stays open, as gpg leaves it)."""
    hint = "open it for the command, e.g. 'rightsmark ... --passphrase-fd 3 3< pw.txt'"
    if fd < 0:
        raise UsageError(f"--passphrase-fd {fd} is not a file descriptor", hint=hint)
    try:
        with os.fdopen(os.dup(fd), "rb") as fh:
            line = fh.readline()
    except OSError as exc:
        raise UsageError(f"cannot read --passphrase-fd {fd}: {exc.strerror}", hint=hint) from None
    secret = line.rstrip(b"\r\n")
    if not secret:
        raise UsageError(f"--passphrase-fd {fd} gave an empty passphrase", hint=hint)
    return secret


def _explicit_secret(
    passphrase_file: Path | None, passphrase_fd: int | None, passphrase_env: str | None
) -> bytes | None:
    """The secret the user pointed at on the command line (a named variable that is unset is an error)."""
    if passphrase_file is not None and passphrase_fd is not None:
        raise UsageError("--passphrase-file and --passphrase-fd both given", hint="give one of them")
    if passphrase_file is not None:
        return _read_secret_file(passphrase_file)
    if passphrase_fd is not None:
        return _read_secret_fd(passphrase_fd)
    if passphrase_env and passphrase_env != PASSPHRASE_ENV:
        return secret_from_env(passphrase_env)
    return None


def secret_from_env(name: str) -> bytes:
    """The passphrase in environment variable ``name``, which the user named: unset or empty is an error."""
    value = os.environ.get(name)
    if not value:
        raise UsageError(f"environment variable {name} is empty or unset", hint="export it first")
    return value.encode()


def _env(name: str) -> bytes | None:
    value = os.environ.get(name)
    return value.encode() if value else None


def _prompt(source: KeySource) -> bytes | None:
    import getpass

    name = source.secret_name
    try:
        typed = getpass.getpass(f"{name[0].upper()}{name[1:]} for {source.describe()}: ")
    except EOFError:
        return None
    return typed.encode() or None


def load_key_source(
    key: str | Path,
    cert: Path | None = None,
    *,
    passphrase_file: Path | None = None,
    passphrase_fd: int | None = None,
    passphrase_env: str | None = PASSPHRASE_ENV,
    pkcs11_module: str | None = None,
) -> KeySource:
    """The key source with its secret resolved, loaded once and checked (see the module docstring).

    Raises the library's one-line errors: :class:`PassphraseError` (missing with no terminal, or
    wrong), :class:`TokenError`, :class:`CertificateError`, :class:`KeyMaterialError`, :class:`UsageError`.
    """
    return load_signing_key(
        key,
        cert,
        passphrase_file=passphrase_file,
        passphrase_fd=passphrase_fd,
        passphrase_env=passphrase_env,
        pkcs11_module=pkcs11_module,
    )[0]


def load_signing_key(
    key: str | Path,
    cert: Path | None = None,
    *,
    passphrase_file: Path | None = None,
    passphrase_fd: int | None = None,
    passphrase_env: str | None = PASSPHRASE_ENV,
    pkcs11_module: str | None = None,
) -> tuple[KeySource, SigningMaterial]:
    """:func:`load_key_source` and the material it loaded."""
    source = resolve_key_source(
        key,
        cert,
        passphrase_file=passphrase_file,
        passphrase_fd=passphrase_fd,
        passphrase_env=passphrase_env,
        pkcs11_module=pkcs11_module,
    )
    try:
        return source, source.load()
    except PassphraseError:
        if source.secret is not None or not sys.stdin.isatty():
            raise
    typed = _prompt(source)
    if typed is None:
        raise PassphraseError(f"no {source.secret_name} was typed for {source.describe()}")
    source = source.with_secret(typed)
    return source, source.load()


def resolve_key_source(
    key: str | Path,
    cert: Path | None = None,
    *,
    passphrase_file: Path | None = None,
    passphrase_fd: int | None = None,
    passphrase_env: str | None = PASSPHRASE_ENV,
    pkcs11_module: str | None = None,
) -> KeySource:
    """The key source with the secret from options, URI or environment; nothing loaded, no prompt."""
    from rightsmark.keys.source import key_source

    explicit = _explicit_secret(passphrase_file, passphrase_fd, passphrase_env)
    if str(key).startswith("pkcs11:"):
        source = key_source(key, cert, pin=explicit, pkcs11_module=pkcs11_module)
        if source.secret is None:
            source = source.with_secret(_env(PIN_ENV))
        return source
    return key_source(key, cert, passphrase=explicit if explicit is not None else _env(PASSPHRASE_ENV))
