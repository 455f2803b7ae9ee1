"""Storage behind URLs (fsspec): which specs are URLs, opening one, and telling missing credentials apart.

Shared by the plug-ins that read URLs (:mod:`~rightsmark.sources.remote`, :mod:`~rightsmark.sources.tar`,
:mod:`~rightsmark.sources.parquet`); fsspec is imported only when a URL is actually opened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


def is_url(spec: str) -> bool:
    """True for ``scheme://...`` (at least two letters, so a Windows drive letter is not a scheme)."""
    return bool(_SCHEME.match(spec))


def open_url(url: str, storage_options: Mapping[str, Any] | None = None) -> IO[bytes]:
    """A binary, seekable file object for ``url``, read lazily by the storage backend."""
    import fsspec

    handle: IO[bytes] = fsspec.open(url, "rb", **dict(storage_options or {})).open()
    return handle


#: Exceptions (by class name, anywhere in the chain) that mean "no credentials were found".
_NO_CREDENTIALS = frozenset({"NoCredentialsError", "PartialCredentialsError"})


def credentials_problem(exc: BaseException, url: str) -> None:
    """Raise :class:`~rightsmark.errors.CredentialsError` when ``exc`` says no credentials were found."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        if type(seen).__name__ in _NO_CREDENTIALS:
            from rightsmark.errors import CredentialsError

            raise CredentialsError(
                f"no credentials found to read it ({seen})",
                path=url,
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or pass --storage-option "
                "key=... --storage-option secret=..., or --storage-option anon=true for a public bucket",
            ) from None
        seen = seen.__cause__ or seen.__context__
