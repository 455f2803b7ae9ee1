"""The engine front of one process: :class:`FactReader` turns a file's bytes (or a local file, or a bare
manifest store) into :class:`~rightsmark.verify.facts.Facts`.

It creates its engine contexts once, recognises files without any manifest without calling the engine
(:func:`~rightsmark.verify.facts.prescan`), and leaves trust in the signer's chain to
:class:`~rightsmark.verify.chaintrust.ChainTrust` (once per distinct chain). The engine's modules (and the
reading of manifests: rights, consent, the XMP mirror) are imported when a first file needs the engine:
judging files without a manifest loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.media.formats import HEADER_BYTES, ImageFormat, sniff
from rightsmark.models import Integrity, Training
from rightsmark.verify.facts import Facts, prescan

if TYPE_CHECKING:
    from rightsmark.engine.local import LocalFile
    from rightsmark.engine.reading import EngineReading
    from rightsmark.trust.sources import TrustSources
    from rightsmark.verify.chaintrust import ChainTrust


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

    def embedded_store(self, data: bytes, name: str | Path = "") -> bytes | None:
        """The raw manifest store embedded in ``data`` (whether or not it validates), or None."""
        from rightsmark.engine.reading import read_manifest_store

        found: list[bytes] = []
        self.engine_reads += 1
        read_manifest_store(data, name, self._fast, False, store_sink=found.append)
        return found[0] if found else None

    def examine_detached(self, store: bytes, name: str) -> tuple[Facts, EngineReading]:
        """Facts of a bare manifest store (a repository's copy): its signature and claim validated, its hard
        binding set aside (:func:`~rightsmark.engine.detached.read_detached`), its signer judged as any file's."""
        from rightsmark.engine.detached import read_detached

        self.engine_reads += 1
        reading = read_detached(store, self._fast)
        return self._judged(reading, store, store, name, b"", None, detached=True)

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
        fmt = sniff(head[:HEADER_BYTES], name)
        reading, store_bytes = self._read(data, name, self._fast, want_store=self.trust is not None)
        facts, reading = self._judged(reading, store_bytes, data, name, head, fmt)
        return facts, reading, store_bytes

    def _judged(
        self,
        reading: EngineReading,
        store: bytes | None,
        data: bytes | LocalFile,
        name: str | Path,
        head: bytes,
        fmt: ImageFormat | None,
        *,
        detached: bool = False,
    ) -> tuple[Facts, EngineReading]:
        """The facts of a fast-context ``reading``: for a valid one, its signer's chain (from the raw
        ``store``) judged once per distinct chain and its fingerprint taken when the policy wants one."""
        from rightsmark.engine.jumbf import leaf_fingerprint
        from rightsmark.verify.chaintrust import ChainTrust, engine_chain

        if reading.integrity is not Integrity.VALID:
            return self._facts(reading, head, fmt, None), reading
        chain = engine_chain(reading, store)
        hint: tuple[str, ...] = ()
        if self.trust is not None:
            if self._chains is None:
                self._chains = ChainTrust(self.trust)
            reading, hint = self._chains.judge(reading, chain, data, name, detached=detached)
        fingerprint = leaf_fingerprint(chain) if self.fingerprints and chain else None
        return self._facts(reading, head, fmt, fingerprint, hint), reading

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
