"""The command line: parses arguments, calls the library, prints. No logic of its own.

One module per command group (``keys``, ``sign``, ``consent``, ``verify``, ``filter``, ...); each registers its
commands on the application in :mod:`._app` when imported, and a run imports only the module of the command it
runs (the table :data:`._app.COMMANDS`).

Exit codes: 0 success (every file signed / kept), 1 some file failed or was dropped,
2 usage or configuration error, 130 interrupted (Ctrl-C), 141 stdout's reader went away
(``... | head -1``: quietly, as a filter killed by SIGPIPE). Errors are one line on stderr,
never a traceback (``RIGHTSMARK_DEBUG=1`` shows it).
"""

from __future__ import annotations

import sys

import typer

from rightsmark._cli._app import EXIT_BROKEN_PIPE, app, broken_pipe, no_space
from rightsmark.errors import disk_full


def main() -> None:
    try:
        try:
            app(prog_name="rightsmark")
        finally:
            sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe can only be reported
    except BrokenPipeError:
        broken_pipe()
    except OSError as exc:  # flushing standard output into a full disk
        if not disk_full(exc):
            raise
        try:
            no_space(exc)
        except typer.Exit as stop:
            raise SystemExit(stop.exit_code) from None
    except SystemExit:
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # Click met the closed pipe outside a command's body
            raise SystemExit(EXIT_BROKEN_PIPE) from None
        raise


__all__ = ["app", "main"]
