"""The OpenAPI document the service serves: the published Soft Binding Resolution API (vendored beside this
module as ``sbr-openapi.json``, its provenance in ``sbr-openapi.provenance.txt``) with rightsmark's write
route and notes added. The published paths and schemas are served as published.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from rightsmark.repository.wire import STORE_MEDIA_TYPE

#: the vendored document's file name, inside this package
DOCUMENT = "sbr-openapi.json"

_ERROR = {"$ref": "#/components/schemas/rightsmark.error"}
_JSON_ERROR = {"content": {"application/json": {"schema": _ERROR}}}

#: what the service does beyond or within the published document, for readers of the served document
NOTES = {
    "reads": "Queries and fetches need no credentials (the published 'auth' scheme is not required).",
    "writes": "POST /manifests (an extension) adds a manifest store; it needs 'Authorization: Bearer TOKEN' "
    "(401 without one, 403 with another or when the service has no token configured).",
    "errors": 'Every error answers a JSON body {"error": "..."} (schema rightsmark.error) with the '
    "published status codes; 413 for a body over the service's bound, 429 with Retry-After for a client "
    "over its request rate, 405 for a method a path does not have.",
    "returnActiveManifest": "GET /manifests/{manifestId} always answers the whole manifest store (the "
    "active manifest with its ingredients' manifests), also when returnActiveManifest=true.",
    "validation": "A manifest store is served, and a manifest listed in matches, only when its store validates "
    "(signature and claim; its hard binding's expected mismatch, with no asset, set aside), names the manifest "
    "id it is kept under as its active manifest, and records the soft binding the query matched. A store that "
    "no longer validates answers 500 and is never served. Trust in the signer is for the client to judge.",
    "similarityScore": "100 - 100 * d / 64, rounded (0 from 64 apart), for a fingerprint d bits apart over the "
    "256-bit ISCC image code (a shorter code's differing bits scaled up to 256); 100 for an exact watermark "
    "match.",
    "byContent": "The uploaded image's ISCC image code (io.iscc.v0) is computed, and its watermark where the "
    "service can read one; 'alg' limits the query to one algorithm, 'hintAlg'/'hintValue' add a binding.",
}

_ADD_MANIFEST: dict[str, Any] = {
    "post": {
        "tags": ["store"],
        "summary": "Adds a C2PA Manifest Store (a rightsmark extension).",
        "description": "The body is one manifest store (JUMBF). It is validated as a bare store (signature "
        "and claim) before it is kept under its active manifest's id and indexed by its soft bindings.",
        "operationId": "addManifestStore",
        "x-rightsmark-extension": True,
        "requestBody": {
            "required": True,
            "content": {STORE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        "responses": {
            "201": {
                "description": "Added",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/rightsmark.added"}}},
            },
            "200": {
                "description": "A store of that manifest id was already kept",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/rightsmark.added"}}},
            },
            "400": {"description": "Not a manifest store that validates", **_JSON_ERROR},
            "401": {"description": "No bearer token", **_JSON_ERROR},
            "403": {"description": "Wrong token, or writes are disabled", **_JSON_ERROR},
            "413": {"description": "Larger than the service accepts", **_JSON_ERROR},
            "415": {"description": f"Not {STORE_MEDIA_TYPE}", **_JSON_ERROR},
            "429": {"description": "Too many requests", **_JSON_ERROR},
            "500": {"description": "Service failure", **_JSON_ERROR},
        },
        "security": [{"rightsmarkToken": []}],
    }
}

_SCHEMAS = {
    "rightsmark.error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong, for people."}},
    },
    "rightsmark.added": {
        "type": "object",
        "required": ["manifestId", "added"],
        "properties": {
            "manifestId": {"type": "string", "description": "The id the store is kept under."},
            "added": {"type": "boolean", "description": "False when that manifest id was already kept."},
        },
    },
}


@functools.cache
def published() -> dict[str, Any]:
    """The vendored document, as published."""
    text = resources.files(__package__).joinpath(DOCUMENT).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def served(base_url: str) -> dict[str, Any]:
    """The document as the service at ``base_url`` serves it."""
    document = copy.deepcopy(published())
    document["servers"] = [{"url": base_url.rstrip("/") or "/"}]
    document["paths"]["/manifests"] = copy.deepcopy(_ADD_MANIFEST)
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(copy.deepcopy(_SCHEMAS))
    components.setdefault("securitySchemes", {})["rightsmarkToken"] = {"type": "http", "scheme": "bearer"}
    document["x-rightsmark"] = dict(NOTES)
    return document
