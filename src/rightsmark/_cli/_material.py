"""Loading signing material for the commands that sign (sign, consent withdraw)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rightsmark.errors import UsageError


def passphrase_from(passphrase_file: Path | None) -> bytes | None:
    if passphrase_file is not None:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read passphrase file: {exc.strerror}", path=passphrase_file) from None
    env = os.environ.get("RIGHTSMARK_KEY_PASSPHRASE")
    return env.encode() if env else None


def load_material(key: Path, cert: Path, passphrase_file: Path | None) -> object:
    from rightsmark.errors import PassphraseError
    from rightsmark.keys import load_signing_material

    passphrase = passphrase_from(passphrase_file)
    try:
        return load_signing_material(key, cert, passphrase)
    except PassphraseError:
        if passphrase is not None or not sys.stdin.isatty():
            raise
        import getpass

        typed = getpass.getpass(f"Passphrase for {key}: ").encode()
        return load_signing_material(key, cert, typed)
