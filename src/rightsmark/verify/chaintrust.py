"""Trust in a signer's chain: which chain the engine verified, the verdict on it, and how long it holds.

Evaluating trust is the dear part of reading a manifest, and a batch holds few distinct signers.
:class:`ChainTrust` therefore judges each distinct signing chain once, with the engine's trusting
context, and reuses that verdict only inside the validity window of every certificate that can
take part (:func:`_validity_window`). A claim signer must chain to a claim-signer anchor: a
timestamp authority's root never vouches for one (:meth:`ChainTrust._claim_role`). For a signer
nobody trusts, it names the bundled lists, not enabled, that would (:meth:`ChainTrust.hint`).
Only a chain that is surely the one the engine verified (:func:`engine_chain`) is cached, pinned
or hinted at.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.engine import adapter as engine
from rightsmark.engine.jumbf import chain_digest, signing_chain
from rightsmark.engine.local import LocalFile
from rightsmark.engine.reading import EngineReading, read_manifest_store
from rightsmark.errors import RightsmarkError
from rightsmark.models import Integrity

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources


def engine_chain(reading: EngineReading, store: bytes | None) -> tuple[bytes, ...] | None:
    """The signing chain of the active manifest when it is surely the one the engine verified, else None.

    Only a signature carrying exactly one chain qualifies (:func:`rightsmark.engine.jumbf.signing_chain`),
    and its leaf must be the certificate the engine names as the signer (serial number and common
    name): a chain the engine did not use never names, pins or caches the signer.
    """
    label = (reading.store or {}).get("active_manifest")
    if not store or not label or reading.active is None:
        return None
    chain = signing_chain(store, label)
    if chain is None:
        return None
    sig = reading.active.get("signature_info")
    identity = _leaf_identity(chain[0])
    if not isinstance(sig, dict) or identity is None:
        return None
    serial, common_name = identity
    if str(sig.get("cert_serial_number")) != serial or sig.get("common_name") != common_name:
        return None
    return chain


@functools.lru_cache(maxsize=256)
def _leaf_identity(der: bytes) -> tuple[str, str | None] | None:
    """(decimal serial number, subject common name) of a DER certificate, or None when it does not parse."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        serial = cert.serial_number
    except Exception:  # a damaged certificate names nobody
        return None
    common_name = names[0].value if names else None
    return str(serial), common_name if isinstance(common_name, str) else None


def _with_trust(reading: EngineReading, trusted: bool) -> EngineReading:
    codes = reading.failure_codes if trusted else ("signingCredential.untrusted", *reading.failure_codes)
    clean_valid = trusted and reading.state == "Valid" and not reading.failure_codes
    state = "Trusted" if clean_valid else reading.state
    return dataclasses.replace(reading, trusted=trusted, state=state, failure_codes=codes)


def _untrusted(reading: EngineReading) -> EngineReading:
    """A trusted reading turned untrusted (its signer chains to a timestamp authority's root only)."""
    codes = tuple(c for c in reading.failure_codes if c != "signingCredential.trusted")
    state = "Valid" if reading.state == "Trusted" else reading.state
    return dataclasses.replace(
        reading, trusted=False, state=state, failure_codes=("signingCredential.untrusted", *codes)
    )


def _timestamp_time(reading: EngineReading) -> dt.datetime | None:
    """The time the engine reports for the signature (from its timestamp), if any."""
    sig = (reading.active or {}).get("signature_info")
    when = sig.get("time") if isinstance(sig, dict) else None
    if isinstance(when, str):
        try:
            parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _signing_time(reading: EngineReading) -> dt.datetime:
    """When the engine says the claim was signed (a timestamp's time), else now: the time to validate at."""
    return _timestamp_time(reading) or dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class _Verdict:
    """The trust verdict on one signing chain, and the times at which it holds.

    Validity periods are the only part of chain validation that depends on when it is asked (a
    timestamp's time, else now); the verdict is reused only for a time inside every period that can
    matter: the chain's certificates' and those of every anchor that may issue its top certificate.
    """

    trusted: bool
    hint: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime

    def holds_for(self, signed: dt.datetime | None) -> bool:
        """Whether the verdict holds for a manifest signed at ``signed`` (its timestamp's time, if any).

        Now must lie inside the window too: the fast reading cannot tell a trusted timestamp from one
        made up by whoever holds an expired key, and the engine judges an untrusted timestamp's
        manifest at the current time.
        """
        now = dt.datetime.now(dt.UTC)
        return self.start <= now <= self.end and (signed is None or self.start <= signed <= self.end)


def _validity_window(chain: tuple[bytes, ...], trust: TrustSources) -> tuple[dt.datetime, dt.datetime]:
    """The times at which every certificate that can take part in validating ``chain`` is within its validity.

    An empty window (start after end) when a certificate does not parse: the verdict is then never reused.
    """
    from cryptography import x509

    never = (dt.datetime.max.replace(tzinfo=dt.UTC), dt.datetime.min.replace(tzinfo=dt.UTC))
    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
    except ValueError:
        return never
    issuers = {c.issuer for c in certs}
    pool = (*trust.claim_certificates, *trust.tsa_certificates, *trust.allowed_certificates)
    involved = [*certs, *(a for a in pool if a.subject in issuers or a in certs)]
    start = max(c.not_valid_before_utc for c in involved)
    end = min(c.not_valid_after_utc for c in involved)
    return start, end


class ChainTrust:
    """Trust verdicts for one process: the trusting engine contexts and the verdict per signing chain.

    Not thread-safe; :class:`~rightsmark.verify.reader.FactReader` holds one per worker.
    """

    def __init__(self, trust: TrustSources) -> None:
        self.trust = trust
        self._trusting: Any = None  # made when a first chain is judged: a process may never load the engine
        self._claim_only: Any = None  # the claim-signer anchors alone, for signers whose chain is ambiguous
        self._chain_trust: dict[str, _Verdict] = {}

    def close(self) -> None:
        if self._trusting is not None:
            self._trusting.close()
        if self._claim_only is not None:
            self._claim_only.close()

    def judge(
        self,
        reading: EngineReading,
        chain: tuple[bytes, ...] | None,
        data: bytes | LocalFile,
        name: str | Path,
        *,
        detached: bool = False,
    ) -> tuple[EngineReading, tuple[str, ...]]:
        """``reading`` (a valid one, from a context that does not evaluate trust) with the verdict on its
        signer, and the bundled lists, not enabled, that would trust it. ``data``: the file's bytes, or the
        local file the engine read (read again, by the trusting context, when the verdict is not known yet).

        Without any claim-signer source nobody is trusted and the reading stays as it is; only the hint is sought.
        ``detached``: ``data`` is a bare manifest store (:func:`~rightsmark.engine.detached.read_detached`).
        """
        if not self.trust.any_claim:
            return reading, (self.hint(chain, _signing_time(reading)) if chain is not None else ())
        if self._trusting is None:
            self._trusting = engine.reading_context(self.trust)
        clean = not any(c.startswith(("signingCredential.", "timeStamp.")) for c in reading.failure_codes)
        digest = chain_digest(chain) if clean and chain else None
        cached = self._chain_trust.get(digest) if digest is not None else None
        if cached is not None and cached.holds_for(_timestamp_time(reading)):
            # say what the trusting read would have said, so that a record never depends on the files
            # read before it: Trusted only for a manifest with no failure at all (identity failures
            # leave the engine at Valid), and an untrusted chain's own failure code
            return _with_trust(reading, cached.trusted), cached.hint

        def read(context: Any) -> EngineReading:
            if detached:
                from rightsmark.engine.detached import read_detached

                assert isinstance(data, bytes), "a detached manifest store is read from its bytes"
                return read_detached(data, context, anchors_given=True)
            return read_manifest_store(data, name, context, anchors_given=True)

        judged = read(self._trusting)
        # the engine's pool holds the timestamp authorities' roots too: a claim signer must chain to
        # a claim-signer anchor (a TSA root never vouches for one). Standard validation first; the
        # engine with the claim-signer anchors alone where that library refuses what the engine
        # accepts (e.g. Ed25519 chains) or the chain is ambiguous.
        needs_role = judged.trusted and bool(self.trust.tsa_pem)
        if needs_role and (chain is None or not self._claim_role(chain, _signing_time(judged))):
            alone = read(self._claim_only_context())
            judged = alone if alone.trusted else _untrusted(judged)
        hint = self.hint(chain, _signing_time(judged)) if chain is not None and not judged.trusted else ()
        if digest is not None and judged.integrity is Integrity.VALID:
            assert chain is not None  # a digest is only taken of a chain
            start, end = _validity_window(chain, self.trust)
            self._chain_trust[digest] = _Verdict(judged.trusted, hint, start, end)
        return judged, hint

    def _claim_only_context(self) -> Any:
        if self._claim_only is None:
            self._claim_only = engine.reading_context(dataclasses.replace(self.trust, tsa_pem=""))
        return self._claim_only

    def _claim_role(self, chain: tuple[bytes, ...], at: dt.datetime) -> bool:
        from rightsmark.trust.chainval import Role, validate_chain

        return validate_chain(
            chain, self.trust.claim_certificates, at=at, role=Role.CLAIM_SIGNER, allowed=self.trust.allowed_certificates
        ).ok

    def hint(self, chain: tuple[bytes, ...], at: dt.datetime) -> tuple[str, ...]:
        """The bundled claim-signer lists, not enabled, that would trust this chain."""
        from rightsmark.trust import lists as trustlists
        from rightsmark.trust.chainval import Role, validate_chain
        from rightsmark.trust.sources import CLAIM_SIGNER, certificates

        overrides = dict(self.trust.overrides)
        found = []
        for name in self.trust.others:
            try:
                tl = trustlists.load(name, overrides.get(name))
            except RightsmarkError:
                continue  # a hint is advice; the enabled lists were checked when the run started
            if tl.role != CLAIM_SIGNER:
                continue
            anchors, allowed = certificates(tl.anchors_pem), certificates(tl.allowed_pem)
            if validate_chain(chain, anchors, at=at, role=Role.CLAIM_SIGNER, allowed=allowed).ok:
                found.append(name)
        return tuple(found)
