"""Reading the small files a user hands rightsmark (profiles, policies, consent files and mappings,
withdrawal lists and their signatures).

One place turns every way of failing to read or parse one into a typed, one-line error naming the
file, so each loader states only what the file is and where to look. Parsing is hardened against
hostile documents: nesting deeper than :data:`MAX_DEPTH` (which would exhaust the interpreter's
recursion limit, in the parser or in schema validation later), integers with more digits than
Python converts (``sys.get_int_max_str_digits``) or outside the signed 64-bit range are refused
with the same kind of error as a syntax error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

from rightsmark.errors import RightsmarkError

#: The deepest nesting of arrays and objects (tables) a user document may have.
MAX_DEPTH = 64
#: Integers in user documents must fit a signed 64-bit value.
_INT_LIMIT = 2**63
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
_TOO_LARGE = "holds an integer too large (over 64 bits)"


def read_text(
    path: Path,
    error: type[RightsmarkError],
    *,
    what: str,
    missing_hint: str | None = None,
    directory_hint: str = "name the file itself",
    encoding: str = "utf-8",
) -> str:
    """The text of ``path``; a missing file, a directory or unreadable bytes raise ``error`` naming it."""
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise error(f"no such {what}", path=path, hint=missing_hint) from None
    except IsADirectoryError:
        raise error(f"is a directory, not a {what}", path=path, hint=directory_hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what}: {exc}", path=path) from None


def _check_shape(data: Any) -> str | None:
    """What is wrong with a parsed document's shape (too deep, a number too large), or None."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            if isinstance(value, int) and not isinstance(value, bool) and not -_INT_LIMIT <= value < _INT_LIMIT:
                return _TOO_LARGE
            continue
        if depth >= MAX_DEPTH:
            return _TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


def _toml() -> Any:
    """:mod:`tomllib`, imported when a TOML document is read (a run that reads none does not load the parser)."""
    import tomllib

    return tomllib


def parse_document(
    text: str | bytes,
    path: str | Path,
    error: type[RightsmarkError],
    *,
    syntax: Literal["json", "toml"],
    what: str | None = None,
    hint: str | None = None,
    syntax_hint: str | None = None,
) -> Any:
    """``text`` parsed as JSON or TOML; every problem (syntax, not UTF-8, nesting too deep, a number too
    large) raises ``error`` naming ``path``, in one line, with ``hint`` (``syntax_hint``, when given, for
    a syntax error)."""
    name = "JSON" if syntax == "json" else "TOML"
    it = f"{what} is " if what else ""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = json.loads(text) if syntax == "json" else _toml().loads(text)
    except UnicodeDecodeError:
        raise error(f"{it}not UTF-8 text", path=path, hint=hint) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise error(f"{it}not valid JSON ({where}: {exc.msg})", path=path, hint=syntax_hint or hint) from None
    except _toml().TOMLDecodeError as exc:  # evaluated only for an error neither of the clauses above took
        raise error(f"{it}not valid TOML: {exc}", path=path, hint=syntax_hint or hint) from None
    except RecursionError:
        raise error(f"{it}not usable {name}: {_TOO_DEEP}", path=path, hint=hint) from None
    except ValueError:  # int(): more digits than sys.get_int_max_str_digits() allows
        raise error(f"{it}not usable {name}: {_TOO_LARGE}", path=path, hint=hint) from None
    problem = _check_shape(data)
    if problem:
        raise error(f"{it}not usable {name}: {problem}", path=path, hint=hint)
    return data


def load_document(path: Path, error: type[RightsmarkError], *, what: str, missing_hint: str | None = None) -> Any:
    """A TOML file (JSON when its name ends in .json), parsed; any problem raises ``error`` naming it."""
    text = read_text(path, error, what=what, missing_hint=missing_hint)
    syntax: Literal["json", "toml"] = "json" if path.suffix.lower() == ".json" else "toml"
    return parse_document(text, path, error, syntax=syntax)


# ---------------------------------------------------------------------------------------------
# Temporary files rightsmark writes beside its outputs

#: ``.NAME.PID.XXXXXXXX.part``: what :func:`temp_prefix` and ``tempfile.mkstemp(..., suffix=".part")`` make.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>[1-9][0-9]{0,9})\.[a-z0-9_]{8}\.part")


def temp_prefix(dest: Path) -> str:
    """The ``mkstemp`` prefix of a temporary written beside ``dest`` (use it with ``suffix=".part"``).

    The name carries this process's id, so :func:`sweep_stale_temporaries` can tell one that a
    killed run left behind from one a live run is still writing.
    """
    return f".{dest.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def sweep_stale_temporaries(folder: Path, *, started: float) -> list[Path]:
    """Remove rightsmark's own temporaries in ``folder`` that a killed run left behind; the paths removed.

    Only regular files named exactly as :func:`temp_prefix` makes them count, and only when the
    process named in the name is gone and the file has not changed since before ``started``
    (a ``time.time()``; its status-change time, which setting the times of a file does not move
    back). Anything else, a user's file that merely looks alike included, is left alone.
    """
    if os.name != "posix":
        return []
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_ctime >= started or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` by way of a temporary beside it (:func:`temp_prefix`), synced, then renamed.

    Stale temporaries of killed runs beside ``path`` are swept first; on any failure the temporary is
    removed and the error raised (OSError for the caller to name).
    """
    import tempfile
    import time

    sweep_stale_temporaries(path.parent, started=time.time())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
