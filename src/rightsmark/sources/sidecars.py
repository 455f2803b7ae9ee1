"""Values recorded beside an image: the HTTP headers a crawler saw and license fields, read raw.

Where they come from (each value becomes a :class:`~rightsmark.sources.base.SidecarValue`; what it means
for each use is :mod:`rightsmark.rights.signals`' business):

* a JSON sidecar: a WebDataset sample's ``.json`` member, an img2dataset folder's ``NNNN.json``
  (:func:`from_json`). The document must be a JSON object. Read from it: its top-level keys named like
  one of :data:`FIELDS`, and the entries of a ``headers``, ``http_headers`` or ``response_headers``
  member (an object, a list of ``[name, value]`` pairs, a JSON string of either, or the raw header
  lines ``Name: value``) named like one of them; its top-level ``url`` (a string) is the sample's URL.
* a Parquet row: columns named like one of :data:`FIELDS`, and a ``headers`` column (a struct, a
  map, or a string as above) (:class:`ColumnReader`); a ``url`` column gives the row's URL.

Names match case-insensitively, ``-`` and ``_`` alike (``x_robots_tag``, ``X-Robots-Tag``); values are
reported under the spelling of :data:`FIELDS`. A value is a string as found; a number or a boolean as
its JSON text (``1``, ``true``); a list gives one value per element (a header sent several times); a
null is no value. Anything else fails closed: what cannot be read is never read as "nothing declared".
A sidecar larger than :data:`MAX_SIDECAR_BYTES`, one that is not JSON or not an object, a field of
another type (an object where a header value was expected), a value longer than
:data:`MAX_VALUE_CHARS` or more than :data:`MAX_VALUES` values all give one
``SidecarValue(name="sidecar", value="unreadable: WHY")`` (:data:`UNREADABLE`) instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from rightsmark.models import SignalSource
from rightsmark.rights.signals import TABLE
from rightsmark.sources.base import UNREADABLE, SidecarValue
from rightsmark.sources.guard import escape_key


def normalised(name: str) -> str:
    return name.strip().lower().replace("_", "-")


#: The fields read, by their normalised name (lower case, ``_`` as ``-``), spelled as reported: every name
#: the table of declared signals knows (:data:`rightsmark.rights.signals.TABLE`: a ``data_mining`` column is
#: read as ``plus:DataMining``), the header spellings and ``license`` as they are.
FIELDS = {
    **{normalised(alias): signal.name for alias, signal in TABLE.items() if alias != UNREADABLE},
    "x-robots-tag": "X-Robots-Tag",
    "tdm-reservation": "tdm-reservation",
    "tdm-policy": "tdm-policy",
    "content-usage": "Content-Usage",
    "license": "license",
}
#: Members (JSON) and columns (Parquet) holding a set of HTTP headers, by their normalised name.
HEADER_SETS = frozenset({"headers", "http-headers", "response-headers"})
#: The largest JSON sidecar read (bytes); a larger one is unreadable.
MAX_SIDECAR_BYTES = 1 << 20
#: The longest value kept (characters); a longer one is unreadable.
MAX_VALUE_CHARS = 8192
#: The most values kept from one sidecar or row; more are unreadable.
MAX_VALUES = 64


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose fields are each stated once: a field read here stated twice (``"X-Robots-Tag"``
    in two spellings or twice over, where a JSON reader keeps only the last) makes the sidecar unreadable."""
    seen: set[str] = set()
    for name, _ in pairs:
        key = normalised(name)
        if key in seen and (key in FIELDS or key in HEADER_SETS or key == "url"):
            raise ValueError(f"the field {name!r} is stated twice")
        seen.add(key)
    return dict(pairs)


def unreadable(why: str, source: SignalSource, where: str) -> SidecarValue:
    """The value that stands for a sidecar (or a part of one) that could not be read."""
    return SidecarValue(UNREADABLE, f"unreadable: {why}", source, where)


def clean_url(value: Any) -> str | None:
    """``value`` when it is a non-empty string that cannot add a line to a keep list, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS or escape_key(value) != value:
        return None
    return value


class _Collector:
    """Values of one sidecar or row, capped; the first problem of each kind is kept as an unreadable value."""

    def __init__(self, source: SignalSource, where: str) -> None:
        self.source = source
        self.where = where
        self.values: list[SidecarValue] = []
        self._problems: set[str] = set()

    def problem(self, why: str, where: str | None = None) -> None:
        if why not in self._problems:
            self._problems.add(why)
            self.values.append(unreadable(why, self.source, where or self.where))

    def add(self, field: str, raw: Any, where: str) -> None:
        """The values of ``raw`` under the field spelled ``field``."""
        for value in _scalars(raw):
            if value is None:
                self.problem(f"{field} is not a string, a number or a list of them", where)
            elif len(value) > MAX_VALUE_CHARS:
                self.problem(f"a {field} value is longer than {MAX_VALUE_CHARS} characters", where)
            elif sum(v.name != UNREADABLE for v in self.values) >= MAX_VALUES:
                self.problem(f"more than {MAX_VALUES} values", where)
            else:
                self.values.append(SidecarValue(field, value, self.source, where))

    def fields(self, entries: Iterable[tuple[Any, Any]], where: str) -> None:
        """Entries named like one of :data:`FIELDS` (a header set's, or a document's top level)."""
        for name, raw in entries:
            if not isinstance(name, str):
                continue
            field = FIELDS.get(normalised(name))
            if field is not None:
                self.add(field, raw, where)

    def header_set(self, raw: Any, where: str) -> None:
        """A ``headers`` member or cell: an object, ``[name, value]`` pairs, or their text."""
        if raw is None:
            return
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.problem("the headers are not UTF-8 text", where)
                return
        if isinstance(raw, str):
            raw = self._header_text(raw, where)
            if raw is None:
                return
        if isinstance(raw, dict):
            self.fields(raw.items(), where)
        elif isinstance(raw, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in raw):
            self.fields(((p[0], p[1]) for p in raw), where)
        else:
            self.problem("the headers are neither an object nor a list of [name, value] pairs", where)

    def _header_text(self, text: str, where: str) -> Any:
        if len(text) > MAX_SIDECAR_BYTES:
            self.problem(f"the headers are larger than {MAX_SIDECAR_BYTES} bytes", where)
            return None
        if text.lstrip().startswith(("{", "[")):
            try:
                return json.loads(text)
            except ValueError as exc:
                self.problem(f"the headers are not valid JSON ({exc})", where)
                return None
        pairs: list[tuple[str, str]] = []
        for line in re.split(r"\r?\n", text):
            if not line.strip() or (not pairs and line.startswith("HTTP/")):
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip() or name != name.strip():
                self.problem("the headers are not lines of 'Name: value'", where)
                return None
            pairs.append((name, value.strip()))
        return pairs


def _scalars(raw: Any) -> Iterator[str | None]:
    """The text of each value in ``raw`` (None for one that is not a scalar); nothing for a null."""
    if raw is None:
        return
    if isinstance(raw, (list, tuple)):
        for element in raw:
            if isinstance(element, (list, tuple, dict)):
                yield None
            else:
                yield from _scalars(element)
        return
    if isinstance(raw, bool):
        yield "true" if raw else "false"
    elif isinstance(raw, (int, float)):
        yield json.dumps(raw)
    elif isinstance(raw, str):
        yield raw
    elif isinstance(raw, bytes):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            yield None
    else:
        yield None


def from_json(
    data: bytes | None, where: str, *, error: str | None = None
) -> tuple[str | None, tuple[SidecarValue, ...]]:
    """The URL and the values of one JSON sidecar (``data``; None with ``error`` when it could not be read).

    ``where`` names it in the values (``sidecar shard.tar/000001.json``)."""
    found = _Collector(SignalSource.SIDECAR, where)
    if data is None:
        found.problem(error or "cannot be read")
        return None, tuple(found.values)
    if len(data) > MAX_SIDECAR_BYTES:
        found.problem(f"larger than {MAX_SIDECAR_BYTES} bytes")
        return None, tuple(found.values)
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_once)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        found.problem(f"not valid JSON ({exc})")
        return None, tuple(found.values)
    if not isinstance(document, dict):
        found.problem(f"not a JSON object (a {type(document).__name__})")
        return None, tuple(found.values)
    found.fields(document.items(), where)
    for name, raw in document.items():
        if isinstance(name, str) and normalised(name) in HEADER_SETS:
            found.header_set(raw, f"{where} ({name})")
    return clean_url(document.get("url")), tuple(found.values)


def merged(parts: Iterable[tuple[str | None, tuple[SidecarValue, ...]]]) -> tuple[str | None, tuple[SidecarValue, ...]]:
    """Several sidecars of one sample as one: every value of each; the URL when they all give the same one."""
    urls: set[str | None] = set()
    values: list[SidecarValue] = []
    for url, found in parts:
        urls.add(url)
        values.extend(found)
    return (urls.pop() if len(urls) == 1 else None), tuple(values)


class ColumnReader:
    """The sidecar columns of a Parquet schema, and the values and URL of each row."""

    def __init__(self, names: Iterable[str], skip: Iterable[str | None] = ()) -> None:
        taken = {n for n in skip if n is not None}
        self.fields: list[tuple[str, str]] = []  # (column, field)
        self.header_sets: list[str] = []
        self.url: str | None = None
        for name in names:
            if name in taken:
                continue
            key = normalised(name)
            if key in FIELDS:
                self.fields.append((name, FIELDS[key]))
            elif key in HEADER_SETS:
                self.header_sets.append(name)
            elif key == "url" and self.url is None:
                self.url = name

    @property
    def columns(self) -> list[str]:
        """The columns to read besides the image and key columns."""
        return [c for c, _ in self.fields] + self.header_sets + ([self.url] if self.url else [])

    def row(self, cells: dict[str, Any]) -> tuple[str | None, tuple[SidecarValue, ...]]:
        """The URL and values of one row, from its cells by column name."""
        found = _Collector(SignalSource.COLUMN, "")
        for column, field in self.fields:
            found.add(field, cells.get(column), f"column {column}")
        for column in self.header_sets:
            found.header_set(cells.get(column), f"column {column}")
        return (clean_url(cells.get(self.url)) if self.url else None), tuple(found.values)
