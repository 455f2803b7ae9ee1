"""Verification: integrity, trust, what the file says, and the keep/drop decision.

The order of checks, each independent and reported separately:

1. read the bytes (``error`` when unreadable);
2. the engine validates the manifest store offline (``absent`` when there is none;
   a remote-only reference is reported, never fetched);
3. integrity comes from the active manifest's own failure codes; problems of
   ingredients are collected separately (the engine's overall state ignores them);
4. trust is ``trusted`` only when the signing chain reaches an anchor the user gave;
5. assertions are read only from a manifest whose integrity is valid;
6. the default policy (:mod:`rightsmark.policy`) decides keep or drop, fail closed.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsmark import engine
from rightsmark.consent import CONSENT_LABEL, judge_consent
from rightsmark.formats import sniff
from rightsmark.keys import load_trust_anchors
from rightsmark.manifest import assertions_by_label, read_authors, read_license, read_training
from rightsmark.models import (
    ConsentResult,
    ConsentStatus,
    Integrity,
    Purpose,
    Reason,
    SignerInfo,
    Training,
    Trust,
    VerifyRecord,
)
from rightsmark.policy import DefaultPolicy, Evidence

# Failure codes that speak about trust in the signer, not about the integrity of the bytes.
TRUST_CODES = {"signingCredential.untrusted", "signingCredential.ocsp.skipped", "signingCredential.ocsp.unknown"}
_REMOTE = re.compile(r"remote manifests? from url (\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class EngineReading:
    """What the engine said about one file, reduced to what verify and inspect need."""

    integrity: Integrity
    trusted: bool
    state: str | None
    failure_codes: tuple[str, ...]
    ingredient_codes: tuple[str, ...]
    store: dict[str, Any] | None
    message: str | None = None
    remote_manifest: str | None = None
    identity_problems: tuple[str, ...] = ()

    @property
    def active(self) -> dict[str, Any] | None:
        if not self.store:
            return None
        label = self.store.get("active_manifest")
        manifests = self.store.get("manifests") or {}
        active: dict[str, Any] | None = manifests.get(label) if label else None
        return active


def _codes(entries: Iterable[Any] | None) -> list[str]:
    return [str(e.get("code")) for e in entries or () if isinstance(e, dict)]


def _ingredient_failures(store: dict[str, Any]) -> list[str]:
    results = store.get("validation_results") or {}
    codes: list[str] = []
    for delta in results.get("ingredientDeltas") or ():
        codes += _codes((delta.get("validationDeltas") or {}).get("failure"))
    for manifest in (store.get("manifests") or {}).values():
        for ing in manifest.get("ingredients") or ():
            codes += _codes((ing.get("validation_results") or {}).get("activeManifest", {}).get("failure"))
            codes += _codes(ing.get("validation_status"))
    return [c for c in dict.fromkeys(codes) if c not in TRUST_CODES and not c.startswith("signingCredential.ocsp")]


def interpret(store: dict[str, Any], anchors_given: bool) -> EngineReading:
    """Integrity and trust from the engine's manifest store JSON."""
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = _codes(active.get("failure"))
    successes = set(_codes(active.get("success")))
    state = store.get("validation_state")
    timestamped = "timeStamp.validated" in successes and "claimSignature.insideValidity" in successes
    integrity_failures = []
    identity = []
    for code in failures:
        if code in TRUST_CODES:
            continue
        if code == "signingCredential.expired" and timestamped:
            continue  # signed inside the certificate's validity, proven by a timestamp: a trust question
        if code.startswith("cawg."):
            if not code.endswith(".untrusted"):
                identity.append(code)
            continue
        integrity_failures.append(code)
    ingredient = _ingredient_failures(store)
    if integrity_failures:
        integrity = Integrity.INVALID
        message = f"manifest does not validate: {', '.join(integrity_failures)}"
    elif state == "Invalid" and not failures and not ingredient:
        integrity = Integrity.INVALID  # the engine says invalid and names no failure at all: fail closed
        message = "the C2PA engine reports the manifest as invalid"
    else:
        integrity = Integrity.VALID
        message = None
    trusted = anchors_given and integrity is Integrity.VALID and "signingCredential.trusted" in successes
    return EngineReading(
        integrity=integrity,
        trusted=trusted,
        state=state,
        failure_codes=tuple(failures),
        ingredient_codes=tuple(ingredient),
        store=store,
        message=message,
        identity_problems=tuple(identity),
    )


def read_manifest_store(data: bytes, name: str | Path, context: Any, anchors_given: bool) -> EngineReading:
    """Run the engine on ``data``; never raises for anything the file contains."""
    c2pa = engine.c2pa()
    if not data:
        return EngineReading(Integrity.ERROR, False, None, (), (), None, message="file is empty")
    fmt = sniff(data[:64], name)
    try:
        reader = c2pa.Reader.try_create(fmt.mime if fmt else None, io.BytesIO(data), None, context)
    except c2pa.C2paError as exc:
        kind = engine.error_kind(exc)
        text = str(exc)
        remote = _REMOTE.search(text)
        if kind == "Remote" or remote:
            url = remote.group(1) if remote else None
            return EngineReading(
                Integrity.ABSENT,
                False,
                None,
                (),
                (),
                None,
                message="only a remote manifest reference; not fetched (verification is offline)",
                remote_manifest=url,
            )
        if kind == "NotSupported":
            message = "not an image format the C2PA engine can read"
            return EngineReading(Integrity.ERROR, False, None, (), (), None, message=message)
        if kind in {"Io", "FileNotFound"}:
            message = f"the file could not be read to the end; truncated or damaged? ({text})"
            return EngineReading(Integrity.ERROR, False, None, (), (), None, message=message)
        return EngineReading(Integrity.INVALID, False, None, (kind,), (), None, message=f"malformed manifest: {text}")
    if reader is None:
        return EngineReading(Integrity.ABSENT, False, None, (), (), None, message="no C2PA manifest")
    with reader:
        store = json.loads(reader.json())
        remote_url = reader.get_remote_url() if not reader.is_embedded() else None
    reading = interpret(store, anchors_given)
    if remote_url:
        reading = EngineReading(**{**reading.__dict__, "remote_manifest": remote_url})
    return reading


def signer_info(manifest: dict[str, Any]) -> SignerInfo | None:
    sig = manifest.get("signature_info")
    if not isinstance(sig, dict):
        return None
    alg = sig.get("alg")
    return SignerInfo(
        common_name=sig.get("common_name"),
        issuer=sig.get("issuer"),
        algorithm=str(alg).upper() if alg else None,
        time=sig.get("time"),
        serial=sig.get("cert_serial_number"),
    )


class Verifier:
    """Verifies files against trust anchors; create one per process and reuse it."""

    def __init__(
        self,
        trust: Sequence[str | Path] = (),
        *,
        purpose: Purpose = Purpose.AI_TRAINING,
        now: dt.datetime | None = None,
    ) -> None:
        self._anchors_pem = load_trust_anchors(trust) if trust else None
        self._context = engine.reading_context(self._anchors_pem)
        self.purpose = purpose
        self.now = now
        self.policy = DefaultPolicy(purpose)

    def close(self) -> None:
        self._context.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, data: bytes, name: str | Path) -> EngineReading:
        return read_manifest_store(data, name, self._context, self._anchors_pem is not None)

    def verify_bytes(self, data: bytes, path: str) -> VerifyRecord:
        return self.examine(data, path)[0]

    def examine(self, data: bytes, path: str) -> tuple[VerifyRecord, EngineReading]:
        """The record for ``data`` together with the engine reading it was made from."""
        reading = self.read(data, path)
        return self._record(path, reading, sniff(data[:64], path)), reading

    def verify_file(self, path: str | Path, display: str | None = None) -> VerifyRecord:
        shown = display if display is not None else str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return self._error(shown, "no such file")
        except IsADirectoryError:
            return self._error(shown, "is a directory where a file was expected")
        except OSError as exc:
            return self._error(shown, f"cannot read: {exc.strerror}")
        return self.verify_bytes(data, shown)

    def verify_paths(self, paths: Iterable[str | Path]) -> Iterator[VerifyRecord]:
        """One record per file: files as given, directories walked recursively in sorted order."""
        for given in paths:
            text = str(given)
            if os.path.isdir(text):
                for file in iter_directory(text):
                    yield self.verify_file(file, display=file)
            else:
                yield self.verify_file(text)

    def _error(self, path: str, message: str) -> VerifyRecord:
        reading = EngineReading(Integrity.ERROR, False, None, (), (), None, message=message)
        return self._record(path, reading, None)

    def _record(self, path: str, reading: EngineReading, fmt: Any) -> VerifyRecord:
        active = reading.active if reading.integrity is Integrity.VALID else None
        assertions = assertions_by_label(active) if active else {}
        training = read_training(assertions) if active else Training()
        if active:
            consent = judge_consent(assertions.get(CONSENT_LABEL), self.purpose, self.now)
        else:
            consent = ConsentResult(ConsentStatus.MISSING, message="no valid manifest to read consent from")
        evidence = Evidence(
            integrity=reading.integrity,
            trust=Trust.TRUSTED if reading.trusted else Trust.UNTRUSTED,
            anchors_given=self._anchors_pem is not None,
            training=training,
            consent=consent,
            message=reading.message,
            remote_manifest=reading.remote_manifest,
            ingredient_codes=reading.ingredient_codes,
            identity_problems=reading.identity_problems,
        )
        decision, reasons = self.policy.decide(evidence)
        return VerifyRecord(
            path=path,
            integrity=reading.integrity,
            trust=evidence.trust,
            decision=decision,
            reasons=tuple(reasons),
            signer=signer_info(reading.active) if reading.active else None,
            author=read_authors(assertions),
            license=read_license(assertions),
            training=training,
            consent=consent,
            engine_state=reading.state,
            engine_codes=reading.failure_codes,
            ingredient_codes=reading.ingredient_codes,
            remote_manifest=reading.remote_manifest,
            format=fmt.name if fmt else None,
            error=reading.message if reading.integrity is Integrity.ERROR else None,
        )


def iter_directory(directory: str) -> Iterator[str]:
    """Files below ``directory`` (recursive, sorted, hidden entries skipped), joined to it as given."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def verify_file(path: str | Path, trust: Sequence[str | Path] = ()) -> VerifyRecord:
    """Verify one file (convenience wrapper around :class:`Verifier`)."""
    with Verifier(trust) as verifier:
        return verifier.verify_file(path)


__all__ = ["EngineReading", "Reason", "Verifier", "iter_directory", "verify_file"]
