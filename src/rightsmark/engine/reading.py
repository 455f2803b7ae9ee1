"""One engine reading of one file: integrity and trust from the engine's manifest store.

The engine's overall state ignores problems of ingredients and mixes trust into
integrity; :func:`interpret` separates them. Nothing here raises for anything a file
contains: every outcome is an :class:`EngineReading`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsmark.engine import adapter as engine
from rightsmark.media.formats import sniff
from rightsmark.models import Integrity, SignerInfo

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


def read_manifest_store(
    data: bytes,
    name: str | Path,
    context: Any,
    anchors_given: bool,
    store_sink: Callable[[bytes], None] | None = None,
) -> EngineReading:
    """Run the engine on ``data``; never raises for anything the file contains.

    ``store_sink`` receives the raw manifest store (JUMBF) the engine validated, when it can give it.
    """
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
        label = store.get("active_manifest")
        if store_sink is not None and label:
            raw = io.BytesIO()
            try:
                reader.resource_to_stream(engine.signature_uri(label), raw)
            except c2pa.C2paError:
                pass
            else:
                store_sink(raw.getvalue())
    reading = interpret(store, anchors_given)
    if remote_url:
        reading = dataclasses.replace(reading, remote_manifest=remote_url)
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
