"""Facts: what one reading of one file established, before any policy is applied.

Facts are what the expensive part (the C2PA engine) produces; they are small, picklable
(sent back from worker processes) and JSON-serialisable (kept in the verdict cache). A
policy turns facts into keep or drop in microseconds, so a cached reading can be judged
again under a new policy or at a later time (consent expiry depends on when you ask).

:class:`FactReader` is the per-process engine front: it creates its engine contexts once,
recognises files without any manifest without calling the engine, and leaves trust in the
signer's chain to :class:`~rightsmark.verify.chaintrust.ChainTrust` (once per distinct chain). The engine's
modules (and the reading of manifests: rights, consent, the XMP mirror) are imported when a first file needs the
engine: judging files without a manifest loads none of them.
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
    from rightsmark.engine.local import LocalFile
    from rightsmark.engine.reading import EngineReading, interpret
    from rightsmark.trust.sources import TrustSources
    from rightsmark.verify.chaintrust import ChainTrust, engine_chain

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
        return json.dumps(
            {
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
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Facts | None:
        d = json.loads(text)
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


@dataclass(frozen=True)
class Recovery:
    """What recovery found for one file: matches best first, or the problem that stopped it."""

    repository: str
    matches: tuple[Match, ...] = ()
    #: (reason code, message) where recovery could not be trusted to be complete: the file is dropped
    problem: tuple[str, str] | None = None


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


class FactReader:
    """Engine front for one process. Not thread-safe; create one per worker."""

    def __init__(self, trust: TrustSources | None = None, *, fingerprints: bool = False) -> None:
        self.trust = trust
        self.fingerprints = fingerprints
        # Reading without trust evaluation costs about half as much; trust is then
        # evaluated with the trusting context once per distinct signing chain. Both are made when the
        # engine is first needed: a process that meets no manifest never loads the engine.
        self._fast_context: Any = None
        self._chains: ChainTrust | None = None
        #: how many times the engine was asked to read a file
        self.engine_reads = 0

    @property
    def _fast(self) -> Any:
        if self._fast_context is None:
            from rightsmark.engine import adapter as engine

            self._fast_context = engine.reading_context(None, verify_trust=False)
        return self._fast_context

    def close(self) -> None:
        if self._fast_context is not None:
            self._fast_context.close()
            self._fast_context = None
        if self._chains is not None:
            self._chains.close()

    def read(self, data: bytes, name: str | Path = "") -> Facts:
        early = prescan(data, name)
        if early is not None:
            return early
        return self.examine(data, name)[0]

    def examine_detached(self, store: bytes, name: str) -> tuple[Facts, EngineReading]:
        """Facts of a bare manifest store (a repository's copy): its signature and claim validated, its hard
        binding set aside (:func:`~rightsmark.engine.detached.read_detached`), its signer judged as any file's."""
        from rightsmark.engine.detached import read_detached
        from rightsmark.engine.jumbf import leaf_fingerprint
        from rightsmark.verify.chaintrust import ChainTrust, engine_chain

        self.engine_reads += 1
        reading = read_detached(store, self._fast)
        if reading.integrity is not Integrity.VALID:
            return self._facts(reading, b"", None, None), reading
        chain = engine_chain(reading, store)
        hint: tuple[str, ...] = ()
        if self.trust is not None:
            if self._chains is None:
                self._chains = ChainTrust(self.trust)
            reading, hint = self._chains.judge(reading, chain, store, name, detached=True)
        fingerprint = leaf_fingerprint(chain) if self.fingerprints and chain else None
        return self._facts(reading, b"", None, fingerprint, hint), reading

    def examine(self, data: bytes, name: str | Path = "") -> tuple[Facts, EngineReading]:
        """Facts and the engine reading they came from (always runs the engine).

        Trust is evaluated once per distinct signing chain, and only for a chain that is surely the
        one the engine verified the signature with (:func:`engine_chain`); any other valid manifest
        is judged on its own by the engine and gets no fingerprint.
        """
        facts, reading, _ = self.examine_store(data, name)
        return facts, reading

    def examine_store(self, data: bytes, name: str | Path = "") -> tuple[Facts, EngineReading, bytes | None]:
        """:meth:`examine`, and the raw manifest store (JUMBF) the engine validated, when there is one."""
        return self._examine(data, data, name)

    def examine_local(self, file: LocalFile, head: bytes, name: str | Path = "") -> tuple[Facts, EngineReading]:
        """:meth:`examine` of a local file that the engine reads itself (no copy of its bytes passes through
        Python); ``head``: the file's first bytes, holding all that is read here (its format, its XMP packet:
        for a JPEG, everything before its scan data). :mod:`rightsmark.verify.localfile` is the caller."""
        facts, reading, _ = self._examine(file, head, name)
        return facts, reading

    def _examine(
        self, data: bytes | LocalFile, head: bytes, name: str | Path
    ) -> tuple[Facts, EngineReading, bytes | None]:
        from rightsmark.engine.jumbf import leaf_fingerprint
        from rightsmark.verify.chaintrust import ChainTrust, engine_chain

        fmt = sniff(head[:HEADER_BYTES], name)
        reading, store_bytes = self._read(data, name, self._fast, want_store=self.trust is not None)
        if reading.integrity is not Integrity.VALID:
            return self._facts(reading, head, fmt, None), reading, store_bytes
        chain = engine_chain(reading, store_bytes)
        hint: tuple[str, ...] = ()
        if self.trust is not None:
            if self._chains is None:
                self._chains = ChainTrust(self.trust)
            reading, hint = self._chains.judge(reading, chain, data, name)
        fingerprint = leaf_fingerprint(chain) if self.fingerprints and chain else None
        return self._facts(reading, head, fmt, fingerprint, hint), reading, store_bytes

    def _read(
        self, data: bytes | LocalFile, name: str | Path, context: Any, *, want_store: bool = False
    ) -> tuple[EngineReading, bytes | None]:
        from rightsmark.engine.reading import read_manifest_store

        want = want_store or self.fingerprints
        self.engine_reads += 1
        store_bytes: list[bytes] = []
        reading = read_manifest_store(data, name, context, False, store_sink=store_bytes.append if want else None)
        return reading, (store_bytes[0] if store_bytes else None)

    @staticmethod
    def _facts(
        reading: EngineReading,
        head: bytes,
        fmt: ImageFormat | None,
        fingerprint: str | None,
        hint: tuple[str, ...] = (),
    ) -> Facts:
        from rightsmark.engine.reading import signer_info
        from rightsmark.rights import xmp
        from rightsmark.rights.consent import CONSENT_LABEL
        from rightsmark.rights.manifest import (
            assertions_by_label,
            plus_data_mining,
            read_authors,
            read_license,
            read_training,
        )
        from rightsmark.rights.signals_xmp import file_packet, unmirrored

        active = reading.active if reading.integrity is Integrity.VALID else None
        assertions = assertions_by_label(active) if active else {}
        training = read_training(assertions) if active else Training()
        # the XMP mirror is compared only with a manifest that validates (header-only parse, no decode)
        packet, declared = file_packet(head, fmt)
        if packet is None and reading.integrity is Integrity.ERROR:
            declared = ()  # a file the engine cannot read is an error record: its damaged packet is part of that
        embedded = xmp.packet_fields(packet) if active and packet is not None else None
        if active:  # rightsmark's own mirror of the signed permissions is the manifest speaking
            declared = unmirrored(declared, plus_data_mining(training))
        return Facts(
            integrity=reading.integrity,
            trusted=reading.trusted,
            state=reading.state,
            failure_codes=reading.failure_codes,
            ingredient_codes=reading.ingredient_codes,
            identity_problems=reading.identity_problems,
            message=reading.message,
            remote_manifest=reading.remote_manifest,
            format=fmt.name if fmt else None,
            signer=signer_info(reading.active) if reading.active else None,
            signer_fingerprint=fingerprint,
            trust_hint=hint,
            authors=read_authors(assertions),
            license=read_license(assertions),
            training=training,
            consent=assertions.get(CONSENT_LABEL),
            consent_present=CONSENT_LABEL in assertions,
            metadata_drift=tuple(xmp.drift(embedded, xmp.signed_fields(assertions))),
            declared=declared,
        )


def __getattr__(name: str) -> Any:
    """:func:`engine_chain` and :func:`interpret`, named here too, imported on first use (with the engine's modules)."""
    if name == "engine_chain":
        from rightsmark.verify.chaintrust import engine_chain

        return engine_chain
    if name == "interpret":
        from rightsmark.engine.reading import interpret

        return interpret
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FACTS_VERSION", "FactReader", "Facts", "engine_chain", "error_facts", "interpret", "prescan"]
