"""The command line: parses arguments, calls the library, prints. No logic of its own.

One module per command group (``keys``, ``sign``, ``consent``, ``verify``); each registers its
commands on the application in :mod:`._app` when imported.

Exit codes: 0 success (every file signed / kept), 1 some file failed or was dropped,
2 usage or configuration error. Errors are one line on stderr, never a traceback
(``RIGHTSMARK_DEBUG=1`` shows it).
"""

from __future__ import annotations

from rightsmark._cli import consent, init, keys, sign, trust, verify, watch  # noqa: F401 - importing registers the commands
from rightsmark._cli._app import app


def main() -> None:
    app(prog_name="rightsmark")


__all__ = ["app", "main"]
