"""Per-image consent: a mapping file from file names or patterns to consent records.

A studio keeps one list of who is in which picture, as CSV (one row per person and
pattern, easy to keep in a spreadsheet) or JSON (``schemas/consent-map.schema.json``).
Release documents named in it are hashed into the consent record, never embedded.

Every entry whose pattern matches a file contributes its people; an entry saying
``no_people`` contradicts one naming people for the same file (an error naming the file).
A file no entry matches gets ``None``: the caller decides (profile default or refusal).
"""

from __future__ import annotations

import csv
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rightsmark import schemas
from rightsmark.errors import ConsentError
from rightsmark.files import parse_document, read_text
from rightsmark.rights.consent import ConsentDeclaration, declaration_from_dict, load_consent_file

CONSENT_MAP = schemas.CONSENT_MAP

#: CSV columns that describe one person (the rest: match, no_people, consent).
SUBJECT_COLUMNS = (
    "ref",
    "release_id",
    "release_document",
    "release_sha256",
    "ai_training",
    "ai_generative_training",
    "ai_inference",
    "data_mining",
    "commercial",
    "granted",
    "expires",
    "jurisdiction",
    "withdrawal_url",
    "constraint_info",
)
_PURPOSES = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}


@dataclass(frozen=True)
class Entry:
    match: str
    declaration: ConsentDeclaration

    def matches(self, relative: PurePosixPath) -> bool:
        pattern = self.match
        if "/" not in pattern:
            return fnmatch.fnmatchcase(relative.name, pattern)
        return fnmatch.fnmatchcase(relative.as_posix(), pattern)


@dataclass(frozen=True)
class ConsentMap:
    """Consent records by file name pattern, in file order."""

    entries: tuple[Entry, ...]
    source: Path

    def lookup(self, relative: str | PurePosixPath) -> ConsentDeclaration | None:
        """The declaration for a file given by its path relative to the folder being signed."""
        rel = PurePosixPath(relative)
        found = [e for e in self.entries if e.matches(rel)]
        if not found:
            return None
        nobody = [e for e in found if not e.declaration.identifiable_people]
        people = [e for e in found if e.declaration.identifiable_people]
        if nobody and people:
            raise ConsentError(
                f"{rel}: entry '{nobody[0].match}' says no people are pictured but '{people[0].match}' names people",
                path=self.source,
                hint="make the patterns not overlap for this file",
            )
        if nobody:
            return ConsentDeclaration.no_people()
        subjects: dict[str, Mapping[str, Any]] = {}
        for entry in people:
            for subject in entry.declaration.subjects:
                subjects.setdefault(str(subject["ref"]), subject)
        return ConsentDeclaration(identifiable_people=True, subjects=tuple(subjects.values()))


def _bool(value: str, where: str, path: Path) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConsentError(f"{where}: '{value}' is not true or false", path=path)


def _csv_entries(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.DictReader(text.splitlines())
    columns = set(reader.fieldnames or ())
    if "match" not in columns:
        raise ConsentError(
            "the CSV has no 'match' column", path=path, hint="first row: match,ref,release_id,ai_training,...,granted"
        )
    unknown = columns - {"match", "no_people", "consent", *SUBJECT_COLUMNS}
    if unknown:
        raise ConsentError(f"unknown CSV column '{sorted(unknown)[0]}'", path=path, hint="see the README, 'Consent'")
    grouped: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(reader, start=2):
        where = f"line {number}"
        match = (row.get("match") or "").strip()
        if not match:
            raise ConsentError(f"{where}: empty 'match'", path=path, hint="give a file name or a pattern such as *.jpg")
        entry = grouped.setdefault(match, {"match": match})
        if _bool(row.get("no_people") or "", where, path):
            entry["no_people"] = True
        if (row.get("consent") or "").strip():
            entry.setdefault("consent_files", []).append(row["consent"].strip())
        values = {k: (row.get(k) or "").strip() for k in SUBJECT_COLUMNS}
        if not any(values.values()):
            continue
        subject: dict[str, Any] = {k: v for k, v in values.items() if v and k not in _PURPOSES and k != "commercial"}
        subject["purposes"] = {k: values[k] for k in _PURPOSES if values[k]}
        subject["commercial"] = _bool(values["commercial"], where, path)
        entry.setdefault("subjects", []).append(subject)
    return list(grouped.values())


def _declaration(raw: Mapping[str, Any], path: Path) -> ConsentDeclaration:
    where = f"entry '{raw['match']}'"
    has_people = bool(raw.get("subjects") or raw.get("consent") or raw.get("consent_files"))
    if raw.get("no_people") and has_people:
        raise ConsentError(f"{where} both names people and says no_people", path=path)
    if raw.get("no_people"):
        return ConsentDeclaration.no_people()
    if not has_people:
        raise ConsentError(f"{where} names nobody", path=path, hint="give subjects, a consent file, or no_people")
    subjects: list[Mapping[str, Any]] = []
    for name in [*([raw["consent"]] if raw.get("consent") else []), *raw.get("consent_files", [])]:
        subjects.extend(load_consent_file(path.parent / name).subjects)
    if raw.get("subjects"):
        data = {"subjects": raw["subjects"]}
        problems = schemas.errors(schemas.CONSENT_INPUT, data)
        if problems:
            raise ConsentError(f"{where}: {problems[0]}", path=path, hint="see schemas/consent.schema.json")
        subjects.extend(declaration_from_dict(data, path, path.resolve().parent).subjects)
    refs = [s["ref"] for s in subjects]
    if len(set(refs)) != len(refs):
        raise ConsentError(f"{where}: two people share the same 'ref'", path=path)
    return ConsentDeclaration(identifiable_people=True, subjects=tuple(subjects))


def load_consent_map(path: str | Path) -> ConsentMap:
    """Read a CSV or JSON consent mapping; every problem is a :class:`ConsentError` naming the file."""
    p = Path(path)
    # utf-8-sig: spreadsheets save CSV with a byte-order mark
    text = read_text(
        p, ConsentError, what="consent mapping file", missing_hint="check --consent-map", encoding="utf-8-sig"
    )
    raw_entries: Sequence[Mapping[str, Any]]
    if p.suffix.lower() == ".csv":
        raw_entries = _csv_entries(text, p)
    else:
        data = parse_document(
            text,
            p,
            ConsentError,
            syntax="json",
            hint="see schemas/consent-map.schema.json",
            syntax_hint="CSV mappings need a .csv name",
        )
        problems = schemas.errors(CONSENT_MAP, data)
        if problems:
            raise ConsentError(problems[0], path=p, hint="see schemas/consent-map.schema.json")
        raw_entries = data["entries"]
    if not raw_entries:
        raise ConsentError("holds no entries", path=p)
    return ConsentMap(entries=tuple(Entry(str(r["match"]), _declaration(r, p)) for r in raw_entries), source=p)
