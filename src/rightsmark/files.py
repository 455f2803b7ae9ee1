"""Reading the small files a user hands rightsmark (profiles, policies, consent files and mappings).

One place turns every way of failing to read one into a typed, one-line error naming the file,
so each loader states only what the file is and where to look.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from rightsmark.errors import RightsmarkError


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


def load_document(path: Path, error: type[RightsmarkError], *, what: str, missing_hint: str | None = None) -> Any:
    """A TOML file (JSON when its name ends in .json), parsed; any problem raises ``error`` naming it."""
    text = read_text(path, error, what=what, missing_hint=missing_hint)
    is_json = path.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise error(f"not valid {'JSON' if is_json else 'TOML'}: {exc}", path=path) from None
