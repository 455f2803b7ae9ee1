"""Typed errors.

Every failure the library expects to meet derives from :class:`RightsmarkError`.
Each carries the path it concerns (when there is one) and a ``hint`` telling the
user what to do next; the CLI prints :meth:`RightsmarkError.one_line` and never
a traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path


class RightsmarkError(Exception):
    """Base class of every error rightsmark raises on purpose."""

    #: Process exit code the CLI uses when this error ends a command.
    exit_code: int = 2

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint

    def one_line(self) -> str:
        """One line for a person: the file, the problem, what to do."""
        parts = []
        if self.path:
            parts.append(f"{self.path}: ")
        parts.append(self.message.rstrip("."))
        if self.hint:
            parts.append(f" ({self.hint.rstrip('.')})")
        return "".join(parts).replace("\n", " ")

    def __str__(self) -> str:
        return self.one_line()


class UsageError(RightsmarkError):
    """The arguments given cannot work together."""


class InputError(RightsmarkError):
    """An input path is missing, unreadable, or of the wrong kind."""

    exit_code = 1


class UnsupportedFormatError(InputError):
    """The file is not an image format the C2PA engine can sign."""


class KeyMaterialError(RightsmarkError):
    """A private key or certificate is unusable."""


class PassphraseError(KeyMaterialError):
    """The private key is encrypted and the passphrase is missing or wrong."""


class CertificateError(KeyMaterialError):
    """The signing certificate would be refused by the C2PA engine or by verifiers."""


class ConsentError(RightsmarkError):
    """The consent file is unreadable or does not match schemas/consent.schema.json."""


class LicenseError(RightsmarkError):
    """The license is neither a known SPDX identifier nor a URL."""


class OutputExistsError(RightsmarkError):
    """The output file exists and --force was not given."""

    exit_code = 1


class OutputError(RightsmarkError):
    """The output file or directory cannot be created or written."""

    exit_code = 1


class SigningError(RightsmarkError):
    """The C2PA engine refused to sign a file."""

    exit_code = 1


class TrustError(RightsmarkError):
    """A trust anchor file is unreadable or holds no certificate."""


class TimestampError(RightsmarkError):
    """The RFC 3161 timestamp authority is unusable (bad URL, unreachable, refused the request)."""


class TokenError(KeyMaterialError):
    """A PKCS#11 token (hardware key, HSM) cannot be opened, logged into, or holds no such key."""


class ProfileError(RightsmarkError):
    """A signing profile or consent mapping file is missing, malformed or contradicts itself."""


class CredentialsError(RightsmarkError):
    """Object storage cannot be listed or read at all because no credentials were found (a configuration error)."""


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the device written to is full (or the user's quota there is spent)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
