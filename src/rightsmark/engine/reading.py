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
from rightsmark.engine.local import LocalFile
from rightsmark.media.formats import HEADER_BYTES, sniff
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

    @property
    def integrity_failures(self) -> list[str]:
        """The active manifest's failure codes that speak against its integrity (:func:`active_failures`)."""
        results = _mapping(_mapping(self.store).get("validation_results"))
        successes = status_codes(_mapping(results.get("activeManifest")).get("success"))
        return active_failures(self.failure_codes, successes)[0]


# ---------------------------------------------------------------------------------------------
# Reading the engine's validation results: the one definition, for verify and for the audit


def status_codes(entries: object) -> list[str]:
    """The codes of one of the engine's status lists (``success``, ``failure``, ``validation_status``).
    An entry without a code is kept (as ``None``): a failure the engine could not name is still one."""
    if not isinstance(entries, list):
        return []
    return [str(e.get("code")) for e in entries if isinstance(e, dict)]


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def active_failures(failures: Iterable[str], successes: Iterable[str]) -> tuple[list[str], list[str]]:
    """The active manifest's failure codes that speak against its integrity, and its CAWG identity problems.

    Left out of both: trust codes (:data:`TRUST_CODES`), ``signingCredential.expired`` when a validated
    timestamp proves the signature was made inside the certificate's validity (a trust question), and
    ``cawg.*.untrusted`` (trust in an identity); other ``cawg.*`` codes are identity problems, not integrity.
    """
    succeeded = set(successes)
    timestamped = "timeStamp.validated" in succeeded and "claimSignature.insideValidity" in succeeded
    integrity: list[str] = []
    identity: list[str] = []
    for code in failures:
        if code in TRUST_CODES:
            continue
        if code == "signingCredential.expired" and timestamped:
            continue
        if code.startswith("cawg."):
            if not code.endswith(".untrusted"):
                identity.append(code)
            continue
        integrity.append(code)
    return integrity, identity


def ingredient_failures(ingredient: object) -> list[str]:
    """One ingredient's own failure codes, as the manifest that uses it recorded them: its active
    manifest's failures, then its ``validation_status`` (unfiltered; see :func:`ingredient_problems`)."""
    ing = _mapping(ingredient)
    results = _mapping(ing.get("validation_results"))
    return status_codes(_mapping(results.get("activeManifest")).get("failure")) + status_codes(
        ing.get("validation_status")
    )


def delta_failures(store: dict[str, Any]) -> list[tuple[str | None, str]]:
    """The failures the engine found in ingredients at read time: (the manifest label named in the
    entry's URL, or None when it names none; the code), in the engine's order (unfiltered)."""
    out: list[tuple[str | None, str]] = []
    for delta in _mapping(store.get("validation_results")).get("ingredientDeltas") or ():
        for entry in _mapping(_mapping(delta).get("validationDeltas")).get("failure") or ():
            if not isinstance(entry, dict):
                continue
            url = str(entry.get("url", ""))
            label = url.split("/c2pa/", 1)[1].split("/", 1)[0] if "/c2pa/" in url else None
            out.append((label or None, str(entry.get("code"))))
    return out


def ingredient_problems(codes: Iterable[str], *, revocation: bool = False) -> list[str]:
    """The codes (deduplicated, in order) that speak against an ingredient's integrity.

    Trust codes (:data:`TRUST_CODES`) never do. Verify also leaves out every OCSP status of an
    ingredient (``signingCredential.ocsp.*``): it decides on the file in hand, and an ingredient
    signer's revocation status is about trust, not about the bytes. The audit passes ``revocation``:
    it describes every manifest of the chain, so an ancestor whose signer the engine found revoked
    (or whose status it could not check) is reported with the ancestor.
    """
    return [
        c
        for c in dict.fromkeys(codes)
        if c not in TRUST_CODES and (revocation or not c.startswith("signingCredential.ocsp"))
    ]


def _ingredient_failures(store: dict[str, Any]) -> list[str]:
    """Every ingredient failure of the store, pooled (verify judges the file, not each ancestor)."""
    codes = [code for _, code in delta_failures(store)]
    for manifest in _mapping(store.get("manifests")).values():
        for ing in _mapping(manifest).get("ingredients") or ():
            codes += ingredient_failures(ing)
    return ingredient_problems(codes)


def interpret(store: dict[str, Any], anchors_given: bool) -> EngineReading:
    """Integrity and trust from the engine's manifest store JSON."""
    active = _mapping(_mapping(store.get("validation_results")).get("activeManifest"))
    failures = status_codes(active.get("failure"))
    successes = set(status_codes(active.get("success")))
    state = store.get("validation_state")
    integrity_failures, identity = active_failures(failures, successes)
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
    data: bytes | LocalFile,
    name: str | Path,
    context: Any,
    anchors_given: bool,
    store_sink: Callable[[bytes], None] | None = None,
) -> EngineReading:
    """Run the engine on ``data`` (bytes, or a local file it reads itself); never raises for anything the file
    contains (an :class:`OSError` of reading a local file's first bytes is raised).

    ``store_sink`` receives the raw manifest store (JUMBF) the engine validated, when it can give it.
    """
    c2pa = engine.c2pa()
    if not (data.size if isinstance(data, LocalFile) else data):
        return EngineReading(Integrity.ERROR, False, None, (), (), None, message="file is empty")
    stream: io.RawIOBase | io.BytesIO
    if isinstance(data, LocalFile):
        fmt, stream = sniff(data.pread(HEADER_BYTES), name), data.stream()
    else:
        fmt, stream = sniff(data[:HEADER_BYTES], name), io.BytesIO(data)
    try:
        reader = c2pa.Reader.try_create(fmt.mime if fmt else None, stream, None, context)
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
