"""Facts: what one reading of one file established, before any policy is applied.

Facts are what the expensive part (the C2PA engine) produces; they are small, picklable
(sent back from worker processes) and JSON-serialisable (kept in the verdict cache). A
policy turns facts into keep or drop in microseconds, so a cached reading can be judged
again under a new policy or at a later time (consent expiry depends on when you ask).

Files without any manifest are recognised here without the engine (:func:`prescan`); the engine front
that makes all other facts is :class:`~rightsmark.verify.reader.FactReader`. :class:`Recovery` holds what
``--recover`` found for a file without a valid manifest of its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rightsmark.media.formats import HEADER_BYTES, PRESCANNED, ImageFormat, jpeg_scan_start, sniff, structural_problem
from rightsmark.models import DeclaredSignal, Drift, Integrity, License, SignerInfo, Training, Use
from rightsmark.rights import signals
from rightsmark.rights.signals_xmp import file_signals

if TYPE_CHECKING:
    from rightsmark.engine.reading import EngineReading, interpret
    from rightsmark.verify.chaintrust import engine_chain

#: Bump when the meaning of cached facts changes; old cache entries are then ignored.
#: (5: the declared signals of the file's XMP; an older entry would hide them. 6: an XMP packet that cannot
#: be read declares an opt-out; an older entry read it as no packet.)
FACTS_VERSION = 6


@dataclass(frozen=True)
class Facts:
    integrity: Integrity
    trusted: bool = False
    state: str | None = None
    failure_codes: tuple[str, ...] = ()
    ingredient_codes: tuple[str, ...] = ()
    identity_problems: tuple[str, ...] = ()
    message: str | None = None
    remote_manifest: str | None = None
    format: str | None = None
    signer: SignerInfo | None = None
    signer_fingerprint: str | None = None
    #: bundled trust lists, not enabled, that would trust this (untrusted) signer
    trust_hint: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    license: License | None = None
    training: Training = field(default_factory=Training)
    #: the raw consent assertion; ``consent_present`` tells "absent" from a JSON null
    consent: Any = None
    consent_present: bool = False
    #: where the file's XMP packet contradicts the signed manifest (read only for a valid manifest)
    metadata_drift: tuple[Drift, ...] = ()
    #: permissions declared outside C2PA: the file's XMP (:mod:`rightsmark.rights.signals_xmp`), and for a
    #: record also what was recorded beside it (:meth:`with_declared`)
    declared: tuple[DeclaredSignal, ...] = ()
    #: what ``--recover`` found for a file without a valid manifest of its own (never cached: a repository
    #: changes); None where recovery was not asked for or not needed
    recovery: Recovery | None = None

    def with_declared(self, more: tuple[DeclaredSignal, ...]) -> Facts:
        """These facts with ``more`` declared signals (each signal once, however often added)."""
        if not more:
            return self
        return replace(self, declared=tuple(dict.fromkeys((*self.declared, *more))))

    def to_json(self) -> str:
        return json.dumps(self._to_dict(), separators=(",", ":"))

    def _to_dict(self) -> dict[str, Any]:
        data = {
            "v": FACTS_VERSION,
            "integrity": self.integrity.value,
            "trusted": self.trusted,
            "state": self.state,
            "failure_codes": self.failure_codes,
            "ingredient_codes": self.ingredient_codes,
            "identity_problems": self.identity_problems,
            "message": self.message,
            "remote_manifest": self.remote_manifest,
            "format": self.format,
            "signer": self.signer.to_dict() if self.signer else None,
            "signer_fingerprint": self.signer_fingerprint,
            "trust_hint": self.trust_hint,
            "authors": self.authors,
            "license": self.license.to_dict() if self.license else None,
            "training": self.training.to_dict(),
            "consent": self.consent,
            "consent_present": self.consent_present,
            "metadata_drift": [d.to_dict() for d in self.metadata_drift],
            "declared": [d.to_dict() for d in self.declared],
        }
        if self.recovery is not None:  # only where recovery ran (the verdict cache never holds it)
            data["recovery"] = self.recovery.to_dict()
        return data

    @classmethod
    def from_json(cls, text: str) -> Facts | None:
        return cls._from_dict(json.loads(text))

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Facts | None:
        if d.get("v") != FACTS_VERSION:
            return None
        t = d["training"]
        return cls(
            integrity=Integrity(d["integrity"]),
            trusted=bool(d["trusted"]),
            state=d["state"],
            failure_codes=tuple(d["failure_codes"]),
            ingredient_codes=tuple(d["ingredient_codes"]),
            identity_problems=tuple(d["identity_problems"]),
            message=d["message"],
            remote_manifest=d["remote_manifest"],
            format=d["format"],
            signer=SignerInfo(**d["signer"]) if d["signer"] else None,
            signer_fingerprint=d["signer_fingerprint"],
            trust_hint=tuple(d.get("trust_hint", ())),
            authors=tuple(d["authors"]),
            license=License(**d["license"]) if d["license"] else None,
            training=Training(
                ai_training=Use(t["ai_training"]),
                ai_generative_training=Use(t["ai_generative_training"]),
                ai_inference=Use(t["ai_inference"]),
                data_mining=Use(t["data_mining"]),
                constraint_info=t.get("constraint_info"),
            ),
            consent=d["consent"],
            consent_present=bool(d["consent_present"]),
            metadata_drift=tuple(
                Drift(x["field"], _drift_value(x["xmp"]), _drift_value(x["signed"])) for x in d["metadata_drift"]
            ),
            declared=tuple(signals.from_dict(x) for x in d["declared"]),
            recovery=Recovery.from_dict(d["recovery"]) if d.get("recovery") else None,
        )


@dataclass(frozen=True)
class Match:
    """One manifest a file's soft bindings point at: its store fetched, validated and read into ``facts``
    (integrity VALID means its signature and claim hold; its hard binding belongs to another file)."""

    manifest_id: str
    #: ``fingerprint``, ``watermark`` or ``fingerprint+watermark``
    method: str
    #: the fingerprints' Hamming distance, computed here from the store's own binding (None: watermark only)
    distance: int | None
    facts: Facts
    #: the validated store and its reading, kept only by a recoverer asked to (the audit describes them)
    store: bytes | None = field(default=None, compare=False, repr=False)
    reading: EngineReading | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Recovery:
    """What recovery found for one file: matches best first, or the problem that stopped it."""

    repository: str
    matches: tuple[Match, ...] = ()
    #: (reason code, message) where recovery could not be trusted to be complete: the file is dropped
    problem: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """As data (the Ray engine's workers send facts to the driver as JSON); stores are not kept."""
        return {
            "repository": self.repository,
            "problem": list(self.problem) if self.problem else None,
            "matches": [
                {"manifest_id": m.manifest_id, "method": m.method, "distance": m.distance, "facts": m.facts._to_dict()}
                for m in self.matches
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recovery:
        matches = []
        for m in d["matches"]:
            facts = Facts._from_dict(m["facts"])
            if facts is None:
                raise ValueError("recovered facts of another version")
            matches.append(Match(m["manifest_id"], m["method"], m["distance"], facts))
        problem = d.get("problem")
        return cls(d["repository"], tuple(matches), (problem[0], problem[1]) if problem else None)


def _drift_value(value: str | list[str]) -> str | tuple[str, ...]:
    return value if isinstance(value, str) else tuple(value)


def error_facts(message: str, fmt: str | None = None) -> Facts:
    return Facts(Integrity.ERROR, message=message, format=fmt)


# Byte strings that every embedded manifest store (the JUMBF label "c2pa") or remote
# manifest reference (XMP dcterms:provenance) contains. A file of a known image format
# holding neither has no manifest: the engine would say ManifestNotFound. Tests check
# this agrees with the engine on every file of the shared corpus.
_MARKERS = (b"c2pa", b"provenance")


def has_marker(data: bytes) -> bool:
    """Whether ``data`` holds a manifest store or remote-manifest marker (then the engine must look)."""
    return any(marker in data for marker in _MARKERS)


def has_marker_in(data: bytes, end: int) -> bool:
    """:func:`has_marker` for ``data[:end]``, without copying."""
    return any(data.find(marker, 0, end) != -1 for marker in _MARKERS)


def prescan(data: bytes, name: str | Path = "") -> Facts | None:
    """Facts for a file that needs no engine call (empty, or a known image format with no
    manifest marker anywhere), or None when the engine must look."""
    if not data:
        return error_facts("file is empty")
    fmt = sniff(data[:HEADER_BYTES], name)
    if fmt is None or fmt.name not in PRESCANNED:
        return None  # unknown to us, or no cheap structure walk the engine would agree with
    start = None
    if fmt.name == "jpeg":
        # a JPEG keeps its manifest (APP11) and XMP (APP1) before the scan data: search only there
        found = jpeg_scan_start(data)
        if isinstance(found, str) or has_marker_in(data, found):
            return None
        start = found
    elif has_marker(data):
        return None
    if structural_problem(data, fmt) is not None:
        return None  # damaged: the engine says how (a manifest may have been cut off)
    return absent_facts(data, fmt, start)


def absent_facts(data: bytes, fmt: ImageFormat, scan_start: int | None = None) -> Facts:
    """The facts of a file of format ``fmt`` with no manifest: its declared XMP signals (``data`` may be just
    the head of a JPEG whose ``scan_start`` is known: its packet lies before)."""
    declared = file_signals(data, fmt, before=scan_start)
    return Facts(Integrity.ABSENT, message="no C2PA manifest", format=fmt.name, declared=declared)


#: How much of a local file to read before deciding whether the rest is needed.
HEAD_BYTES = 64 * 1024
TAIL_BYTES = 4096


def prescan_local(path: str, name: str | Path = "") -> tuple[Facts | None, bool]:
    """:func:`prescan` for a local file, reading as little of it as possible.

    Returns ``(facts, False)`` when the file surely carries no manifest, ``(None, True)`` when a
    manifest marker shows in its first bytes (the engine must look; no need to read on), and
    ``(None, False)`` when undecided (read it all and :func:`prescan` it). A JPEG keeps manifest and
    XMP in header segments, so an unsigned JPEG costs its header and its last few kilobytes.
    """
    with open(path, "rb") as fh:
        return prescan_open(fh, name)


def prescan_open(fh: BinaryIO, name: str | Path = "") -> tuple[Facts | None, bool]:
    """:func:`prescan_local` for a file already open (positioned anywhere; left anywhere)."""
    fh.seek(0)
    head = fh.read(HEAD_BYTES)
    fmt = sniff(head[:HEADER_BYTES], name)
    if fmt is not None and fmt.name == "jpeg":
        start = jpeg_scan_start(head)
        if isinstance(start, str):
            return None, False  # header longer than the head, or damaged: decide on the whole file
        if has_marker_in(head, start):
            return None, True
        size = os.fstat(fh.fileno()).st_size
        if size <= len(head):
            tail = head[start:]
        else:
            fh.seek(max(start, size - TAIL_BYTES))
            tail = fh.read()
        if tail.rfind(b"\xff\xd9") != -1:
            return absent_facts(head, fmt, start), False
        return None, False
    return None, has_marker(head)


def __getattr__(name: str) -> Any:
    """:func:`engine_chain` and :func:`interpret`, named here too, imported on first use (with the engine's modules)."""
    if name == "engine_chain":
        from rightsmark.verify.chaintrust import engine_chain

        return engine_chain
    if name == "interpret":
        from rightsmark.engine.reading import interpret

        return interpret
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FACTS_VERSION", "Facts", "engine_chain", "error_facts", "interpret", "prescan"]
