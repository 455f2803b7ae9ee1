"""Report formats for verify records, as small plug-ins writing as records arrive.

Each format is a class with ``write(record)`` and ``close()``; :data:`FORMATS` maps the
``--format`` name to it. Text is for people, JSON Lines and JSON for machines.

Encoding is apart from writing: :meth:`Report.encode` turns records into the report's text where they
are judged (a bulk run's worker processes, :mod:`rightsmark.verify.stages`), and
:meth:`Report.write_encoded` appends such text to the report in the process that owns the file.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar, TextIO

from rightsmark.models import Decision, Integrity, VerifyRecord

#: Characters that must not reach a terminal raw: C0 controls (newline and tab too), DEL, C1 controls,
#: and the Unicode line and paragraph separators.
_TERMINAL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Characters that reorder or hide text without showing themselves: bidirectional embeddings, overrides
#: and isolates, zero-width characters and marks, the byte-order mark.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(value: object) -> str:
    """``value`` as text that cannot steer a terminal: control characters from files and file names
    (C0, DEL, C1, U+2028/2029) shown as escapes (``\\x1b``, ``\\u2028``). Every line rightsmark prints
    that carries text read from a file or a file name goes through this."""
    return _TERMINAL_UNSAFE.sub(_escaped, str(value))


def visible_text(value: object) -> str:
    """``value`` for a report a person reads in a browser: bidirectional overrides and zero-width
    characters, which would reorder or hide text there, made visible (``<U+202E>``); control characters
    other than tab and newline escaped as by :func:`terminal_safe`."""
    text = _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", str(value))
    return _TERMINAL_UNSAFE.sub(lambda m: m.group() if m.group() in "\t\n" else _escaped(m), text)


def safe_lines(lines: list[str]) -> str:
    """``lines`` joined for a terminal, each made :func:`terminal_safe` (a newline inside one stays escaped)."""
    return "\n".join(terminal_safe(line) for line in lines)


class Report:
    name: ClassVar[str]
    #: Line formats reach the disk at least this often (seconds), so a killed run loses little.
    FLUSH_EVERY = 0.2

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._flushed = time.monotonic()

    def flush_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._flushed >= self.FLUSH_EVERY:
            self.out.flush()
            self._flushed = now

    @classmethod
    def encode(cls, records: list[VerifyRecord]) -> str:
        """``records`` as this format writes them (a pure function of the records: runs in any process)."""
        raise NotImplementedError

    def write_encoded(self, text: str, count: int) -> None:
        """Append ``count`` records :meth:`encode` d as ``text``."""
        if count:
            self.out.write(text)
            self.flush_now_and_then()

    def write(self, record: VerifyRecord) -> None:
        self.write_encoded(self.encode([record]), 1)

    def close(self) -> None:
        self.out.flush()


class JsonLinesReport(Report):
    name = "jsonl"

    @classmethod
    def encode(cls, records: list[VerifyRecord]) -> str:
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)


class JsonReport(Report):
    """A JSON array, streamed element by element so memory stays flat."""

    name = "json"
    _SEPARATOR = ",\n  "

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self._count = 0

    @classmethod
    def encode(cls, records: list[VerifyRecord]) -> str:
        return cls._SEPARATOR.join(json.dumps(r.to_dict(), ensure_ascii=False) for r in records)

    def write_encoded(self, text: str, count: int) -> None:
        if count:
            self.out.write(("[\n  " if self._count == 0 else self._SEPARATOR) + text)
            self._count += count

    def close(self) -> None:
        self.out.write("[]\n" if self._count == 0 else "\n]\n")
        super().close()


def _signer_text(record: VerifyRecord) -> str | None:
    s = record.signer
    if s is None:
        return None
    parts = [f'"{s.common_name}"' if s.common_name else "unnamed signer"]
    detail = ", ".join(
        x
        for x in (
            f"issued by {s.issuer}" if s.issuer else None,
            s.algorithm,
            f"timestamped {s.time}" if s.time else "not timestamped",
        )
        if x
    )
    return f"signer {parts[0]} ({detail})"


def _shown(value: str | tuple[str, ...]) -> str:
    return json.dumps(value if isinstance(value, str) else list(value), ensure_ascii=False)


def declared_text(signal: dict[str, Any]) -> str:
    """A declared signal (its JSON form) in one line: ``NAME "VALUE" (SOURCE, WHERE): opts out of ...``."""
    uses = signal.get("uses") or {}
    out = [u for u, v in uses.items() if v == "notAllowed"]
    allowed = [u for u, v in uses.items() if v == "allowed"]
    said = [f"opts out of {', '.join(out)}"] if out else []
    said += [f"opts in to {', '.join(allowed)}"] if allowed else []
    meaning = "; ".join(said) or "says nothing about the four uses"
    found = f"{signal.get('source')}, {signal.get('where')}"
    return f"{signal.get('name')} {_shown(str(signal.get('value')))} ({found}): {meaning}"


def verify_text(record: VerifyRecord) -> str:
    """A record as a few lines for a person."""
    head = "KEEP" if record.decision is Decision.KEEP else "DROP"
    lines = [f"{head}  {record.path}"]
    facts = [f"integrity {record.integrity.value}", f"trust {record.trust.value}"]
    signer = _signer_text(record)
    if signer:
        facts.append(signer)
    lines.append("      " + " · ".join(facts))
    if record.integrity is Integrity.VALID:
        lic = record.license
        lic_text = (lic.id or lic.url) if lic else "none"
        uses = ", ".join(f"{k} {v}" for k, v in record.training.to_dict().items() if k != "constraint_info")
        lines.append(f"      author {', '.join(record.author) or 'none'} · license {lic_text}")
        lines.append(f"      {uses}")
        lines.append(
            f"      consent {record.consent.status.value}"
            + (f" ({len(record.consent.subjects)} pictured)" if record.consent.subjects else "")
        )
    for d in record.metadata_drift:
        lines.append(
            f"      XMP disagrees with the signed manifest: {d.field} XMP {_shown(d.xmp)}, signed {_shown(d.signed)}"
        )
    for s in record.declared:
        lines.append(f"      declared {declared_text(s.to_dict())}")
    if record.remote_manifest:
        lines.append(f"      remote manifest {record.remote_manifest} (not fetched)")
    if record.recovered:
        lines.extend(_recovered_text(record.recovered.to_dict()))
    for r in record.reasons:
        lines.append(f"      - {r.code}: {r.message}")
    return safe_lines(lines)


def _recovered_text(rec: dict[str, Any]) -> list[str]:
    """A recovered manifest in a text record: where it came from, how it matched, what it says."""
    from rightsmark.verify.recovered import how as matched

    how = matched(rec["method"], rec["distance"])
    signer = (rec.get("signer") or {}).get("common_name") or "unknown signer"
    lic = rec.get("license") or {}
    uses = ", ".join(f"{k} {v}" for k, v in rec["training"].items() if k != "constraint_info")
    lines = [
        f"      RECOVERED {rec['manifest_id']} from {rec['repository']} ({how}); signer {signer} ({rec['trust']})",
        f"        author {', '.join(rec['author']) or 'none'} · license {lic.get('id') or lic.get('url') or 'none'}",
        f"        {uses}",
        f"        consent {rec['consent']['status']}",
    ]
    if rec.get("others"):
        lines.append(f"        also matched: {', '.join(rec['others'])}")
    return lines


class TextReport(Report):
    name = "text"

    @classmethod
    def encode(cls, records: list[VerifyRecord]) -> str:
        return "".join(verify_text(r) + "\n" for r in records)

    def write_encoded(self, text: str, count: int) -> None:
        if count:
            self.out.write(text)
            self.out.flush()  # for a person watching


#: Flat columns for tabular formats (CSV, Parquet); list-valued ones are ';'-joined in CSV.
FLAT_COLUMNS = (
    "path",
    "decision",
    "reason_codes",
    "integrity",
    "trust",
    "signer_common_name",
    "signer_issuer",
    "signer_algorithm",
    "signer_time",
    "author",
    "license_id",
    "license_url",
    "ai_training",
    "ai_generative_training",
    "ai_inference",
    "data_mining",
    "consent_status",
    "metadata_drift",
    "declared",
    "declared_opt_out",
    "remote_manifest",
    "format",
    "engine_state",
    "engine_failure_codes",
    "error",
    # the sample the item belongs to (VerifyRecord.sample); empty where the source names none
    "sample_source",
    "sample_key",
    "sample_key_from",
    "sample_row",
    "sample_url",
    # the manifest recovered through a soft binding (verify --recover); empty where none was
    "recovered_manifest",
    "recovered_method",
    "recovered_distance",
    "recovered_repository",
)
LIST_COLUMNS = {"reason_codes", "author", "metadata_drift", "declared", "declared_opt_out", "engine_failure_codes"}


def flat(record: VerifyRecord) -> dict[str, Any]:
    """One record as flat columns (see :data:`FLAT_COLUMNS`)."""
    return flat_dict(record.to_dict())


def flat_dict(rec: dict[str, Any]) -> dict[str, Any]:
    """:func:`flat` for a record as its JSON form (``VerifyRecord.to_dict()`` or a JSON Lines report line)."""
    s = rec.get("signer") or {}
    lic = rec.get("license") or {}
    t = rec["training"]
    return {
        "path": rec["path"],
        "decision": rec["decision"],
        "reason_codes": [r["code"] for r in rec["reasons"]],
        "integrity": rec["integrity"],
        "trust": rec["trust"],
        "signer_common_name": s.get("common_name"),
        "signer_issuer": s.get("issuer"),
        "signer_algorithm": s.get("algorithm"),
        "signer_time": s.get("time"),
        "author": list(rec["author"]),
        "license_id": lic.get("id"),
        "license_url": lic.get("url"),
        "ai_training": t["ai_training"],
        "ai_generative_training": t["ai_generative_training"],
        "ai_inference": t["ai_inference"],
        "data_mining": t["data_mining"],
        "consent_status": rec["consent"]["status"],
        # the XMP properties that disagree (values are in the JSON record); absent from reports made before it
        "metadata_drift": [d["field"] for d in rec.get("metadata_drift") or ()],
        # each declared signal as NAME=VALUE (source, where and meaning are in the JSON record), and the uses
        # some declared signal opts out of; absent from reports made before them
        "declared": [f"{d['name']}={d['value']}" for d in rec.get("declared") or ()],
        "declared_opt_out": _opted_out(rec.get("declared") or ()),
        "remote_manifest": rec.get("remote_manifest"),
        "format": rec.get("format"),
        "engine_state": rec["engine"]["state"],
        "engine_failure_codes": list(rec["engine"]["failure_codes"]),
        "error": rec.get("error"),
        **_sample_columns(rec.get("sample")),
        **_recovered_columns(rec.get("recovered")),
    }


def _recovered_columns(recovered: dict[str, Any] | None) -> dict[str, Any]:
    r = recovered or {}
    distance = r.get("distance")
    return {
        "recovered_manifest": r.get("manifest_id"),
        "recovered_method": r.get("method"),
        "recovered_distance": None if distance is None else str(distance),
        "recovered_repository": r.get("repository"),
    }


def _sample_columns(sample: dict[str, Any] | None) -> dict[str, Any]:
    """The ``sample_*`` flat columns of a record's sample (all None without one; the row as text)."""
    s = sample or {}
    row = s.get("row")
    return {
        "sample_source": s.get("source"),
        "sample_key": s.get("key"),
        "sample_key_from": s.get("key_from"),
        "sample_row": None if row is None else str(row),
        "sample_url": s.get("url"),
    }


def sample_from_columns(values: dict[str, Any]) -> dict[str, Any] | None:
    """The sample a record's ``sample_*`` flat columns hold (the inverse of :func:`_sample_columns`), or None
    without one. Raises ValueError for a row that is not a number."""
    if not values.get("sample_source"):
        return None
    row = values.get("sample_row")
    return {
        "source": values["sample_source"],
        "key": values.get("sample_key") or "",
        "key_from": values.get("sample_key_from") or "",
        "row": int(row) if row else None,
        "url": values.get("sample_url") or None,
    }


_USES = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")


def _opted_out(declared: Any) -> list[str]:
    return [u for u in _USES if any((d.get("uses") or {}).get(u) == "notAllowed" for d in declared)]


class CsvReport(Report):
    name = "csv"

    def __init__(self, out: TextIO, *, header: bool = True) -> None:
        super().__init__(out)
        if header:
            out.write(self._rows([FLAT_COLUMNS]))

    @classmethod
    def encode(cls, records: list[VerifyRecord]) -> str:
        return cls._rows(
            [
                [";".join(row[c]) if c in LIST_COLUMNS else ("" if row[c] is None else row[c]) for c in FLAT_COLUMNS]
                for row in map(flat, records)
            ]
        )

    @staticmethod
    def _rows(rows: list[Any]) -> str:
        import csv
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()


FORMATS: dict[str, type[Report]] = {cls.name: cls for cls in (TextReport, JsonLinesReport, JsonReport, CsvReport)}


# ---------------------------------------------------------------------------------------------
# inspect
