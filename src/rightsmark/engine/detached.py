"""Reading a manifest store on its own, away from the asset it was signed into (a repository's copy).

The engine validates the store's claim, its signature and every assertion it can check without the asset;
the hard binding (the hash of the asset's bytes) cannot match, since there is no asset, and the engine says so
with a ``*.mismatch`` code. :func:`read_detached` expects exactly those codes and nothing else: any other
failure (a signature that does not verify, a claim or assertion that was altered) makes the store invalid,
and a store whose claim records no hard binding at all is invalid too.
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

from rightsmark.engine import adapter as engine
from rightsmark.engine.reading import EngineReading, interpret
from rightsmark.models import Integrity

#: what the engine reports for a hard binding compared with bytes that are not the signed asset
HARD_BINDING_MISMATCH = frozenset(
    {
        "assertion.dataHash.mismatch",
        "assertion.bmffHash.mismatch",
        "assertion.boxesHash.mismatch",
        "assertion.collectionHash.mismatch",
    }
)
#: the media type under which the engine reads a bare manifest store
STORE_MIME = "application/c2pa"


def read_detached(store: bytes, context: Any, anchors_given: bool = False) -> EngineReading:
    """The engine's reading of the bare manifest ``store``, its hard binding's expected mismatch set aside.

    Never raises for anything the store contains: a store the engine cannot parse is an INVALID reading.
    """
    c2pa = engine.c2pa()
    if not store:
        return EngineReading(Integrity.ERROR, False, None, (), (), None, message="the manifest store is empty")
    try:
        reader = c2pa.Reader.try_create(STORE_MIME, io.BytesIO(store), None, context)
    except c2pa.C2paError as exc:
        kind = engine.error_kind(exc)
        message = f"malformed manifest store: {exc}"
        return EngineReading(Integrity.INVALID, False, None, (kind,), (), None, message=message)
    if reader is None:
        return EngineReading(Integrity.INVALID, False, None, (), (), None, message="not a manifest store")
    with reader:
        data = json.loads(reader.json())
    return _set_aside_hard_binding(data, anchors_given)


def _set_aside_hard_binding(store: dict[str, Any], anchors_given: bool) -> EngineReading:
    results = store.get("validation_results")
    results = results if isinstance(results, dict) else {}
    active = results.get("activeManifest")
    active = active if isinstance(active, dict) else {}
    listed = active.get("failure")
    entries: list[Any] = listed if isinstance(listed, list) else []
    kept = [e for e in entries if not (isinstance(e, dict) and e.get("code") in HARD_BINDING_MISMATCH)]
    if len(kept) == len(entries):
        # a detached store always mismatches its asset's hash; one that does not names no hard binding
        # the engine checked: never read as valid
        reading = interpret(store, anchors_given)
        if reading.integrity is Integrity.VALID:
            return dataclasses.replace(
                reading, integrity=Integrity.INVALID, message="the manifest store records no hard binding"
            )
        return reading
    cleaned = dict(store)
    cleaned["validation_results"] = {**results, "activeManifest": {**active, "failure": kept}}
    if cleaned.get("validation_state") == "Invalid" and not kept:
        cleaned["validation_state"] = "Valid"  # the engine's only objection was the expected hash mismatch
    return interpret(cleaned, anchors_given)
