"""The Typer application, the table of its commands and the error handling every command shares.

Start-up builds only the command that runs: the application's group knows each command by name and module
(:data:`COMMANDS`); ``rightsmark verify ...`` imports :mod:`rightsmark._cli.verify` and has Typer build the
parameters of ``verify`` alone (building a command evaluates its annotations: the bulk of a start-up that
built them all). The listing of ``rightsmark --help`` reads each command's help without building it.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import inspect
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Annotated, Any, NoReturn

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo

from rightsmark._version import __version__
from rightsmark.errors import RightsmarkError, disk_full

#: Every command, in the order ``rightsmark --help`` lists them, and the module that registers it on
#: :data:`app` when imported (``@app.command()``, or ``app.add_typer`` of a group named at construction).
COMMANDS: dict[str, str] = {
    "filter": "rightsmark._cli.filter",
    "init": "rightsmark._cli.init",
    "sign": "rightsmark._cli.sign",
    "verify": "rightsmark._cli.verify",
    "inspect": "rightsmark._cli.verify",
    "audit": "rightsmark._cli.verify",
    "watch": "rightsmark._cli.watch",
    "keys": "rightsmark._cli.keys",
    "consent": "rightsmark._cli.consent",
    "trust": "rightsmark._cli.trust",
    "repo": "rightsmark._cli.repo",
}


def _registered(name: str) -> CommandInfo | TyperInfo | None:
    """What :data:`app` has registered under ``name`` so far."""
    for command in app.registered_commands:
        if command.callback and (command.name or typer.main.get_command_name(command.callback.__name__)) == name:
            return command
    for group in app.registered_groups:
        if group.typer_instance and typer.main.solve_typer_info_defaults(group).name == name:
            return group
    return None


def _defined(name: str) -> CommandInfo | TyperInfo:
    importlib.import_module(COMMANDS[name])
    found = _registered(name)
    if found is None:
        raise LookupError(f"{COMMANDS[name]} registers no command {name!r}")
    return found


def _build(name: str) -> Any:
    """The click command ``name``, built by Typer as it builds every command of an eager application."""
    found = _defined(name)
    if isinstance(found, CommandInfo):
        return typer.main.get_command_from_info(
            found, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
        )
    assert found.typer_instance is not None  # _registered looks only at groups that have one
    return typer.main.get_group(found.typer_instance)


def _summary(name: str) -> TyperCommand:
    """A stand-in for the command ``name`` that carries what a listing shows (help, hidden) and no parameters."""
    found = _defined(name)
    if isinstance(found, CommandInfo):
        assert found.callback is not None
        text = inspect.getdoc(found.callback) if found.help is None else inspect.cleandoc(found.help)
        short, hidden, deprecated = found.short_help, found.hidden, found.deprecated
    else:
        solved = typer.main.solve_typer_info_defaults(found)
        text, short, hidden, deprecated = solved.help, solved.short_help, solved.hidden, solved.deprecated
    return TyperCommand(
        name, help=text, short_help=short, hidden=hidden, deprecated=deprecated, rich_markup_mode=app.rich_markup_mode
    )


class _Commands(MutableMapping[str, Any]):
    """The group's commands by name, in :data:`COMMANDS`' order (click ``Command`` objects of the Click that
    Typer uses): each is built on first access; commands built eagerly (their modules imported before the
    application ran) are kept as they are."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self._built = dict(built)
        self._names = [*COMMANDS, *(name for name in built if name not in COMMANDS)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = _build(name)
        return self._built[name]

    def summary(self, name: str) -> Any:
        """The command ``name`` as a listing needs it: built if it is, else :func:`_summary`."""
        if name in self._built or name not in self._names:
            return self.get(name)
        return _summary(name)

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


class LazyGroup(TyperGroup):
    """Typer's group, its commands built on demand (:class:`_Commands`); help lists them without building any."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands: _Commands = _Commands(self.commands)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing:
            return self.commands.summary(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="rightsmark",
    help="Sign and verify C2PA manifests carrying author, license, AI-use permission and consent.",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=LazyGroup,
)


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
