"""The Typer application, its sub-commands and the error handling every command shares."""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Iterator
from typing import Annotated, NoReturn

import typer

from rightsmark._version import __version__
from rightsmark.errors import RightsmarkError, disk_full

app = typer.Typer(
    name="rightsmark",
    help="Sign and verify C2PA manifests carrying author, license, AI-use permission and consent.",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = typer.Typer(help="Create and manage signing keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(keys_app, name="keys")
consent_app = typer.Typer(help="Manage consent records: withdraw them.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(consent_app, name="consent")


class UseChoice(str, enum.Enum):
    allowed = "allowed"
    notAllowed = "notAllowed"  # noqa: N815 - the CAWG spelling
    constrained = "constrained"


#: The exit status when the reader of stdout goes away (``rightsmark verify ... | head -1``): what a
#: shell reports for a filter killed by SIGPIPE (128 + 13), without a message.
EXIT_BROKEN_PIPE = 141


def broken_pipe() -> NoReturn:
    """Stop quietly because stdout's reader has gone: point stdout at /dev/null so that nothing
    left in its buffer fails again when the interpreter flushes it at exit (the Python docs' recipe)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    raise SystemExit(EXIT_BROKEN_PIPE)


def no_space(exc: OSError) -> NoReturn:
    """A write the library does not name itself (standard output, say) met a full disk: one line, exit 2."""
    from rightsmark.reports.formats import terminal_safe

    where = f"{terminal_safe(exc.filename)}: " if exc.filename else ""
    typer.echo(f"rightsmark: {where}cannot write: {exc.strerror or exc} (free some space, then run again)", err=True)
    raise typer.Exit(2)


def _fail(exc: RightsmarkError) -> NoReturn:
    from rightsmark.reports.formats import terminal_safe  # a path or message may carry text from a file

    typer.echo(f"rightsmark: {terminal_safe(exc.one_line())}", err=True)
    raise typer.Exit(exc.exit_code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn typed errors into one line and an exit code; anything else too, unless debugging."""
    try:
        yield
    except RightsmarkError as exc:
        if os.environ.get("RIGHTSMARK_DEBUG"):
            raise
        _fail(exc)
    except KeyboardInterrupt:
        typer.echo("rightsmark: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except BrokenPipeError:
        broken_pipe()
    except Exception as exc:
        if os.environ.get("RIGHTSMARK_DEBUG"):
            raise
        if isinstance(exc, OSError) and disk_full(exc):
            no_space(exc)
        typer.echo(
            f"rightsmark: internal error: {type(exc).__name__}: {exc} (set RIGHTSMARK_DEBUG=1 for details)", err=True
        )
        raise typer.Exit(3) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rightsmark {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """rightsmark: permission that travels with the picture."""
