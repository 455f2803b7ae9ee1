"""The soft-binding vocabulary shared by signing, the repository, the resolution service and recovery.

A :class:`SoftBinding` is one value of one algorithm, as a ``c2pa.soft-binding`` assertion records it:
``{"alg": ..., "blocks": [{"scope": {}, "value": <base64>}]}``. Values are bytes here and base64 on the
wire, as the C2PA Soft Binding Resolution API and the assertion both have them.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The assertion label (C2PA 2.x, 18.9 soft binding).
SOFT_BINDING_LABEL = "c2pa.soft-binding"
#: ISO 24138 ISCC, as the C2PA soft-binding algorithm list names it (a fingerprint).
ISCC_ALG = "io.iscc.v0"
#: rightsmark's own invisible watermark (not on the C2PA list: a private ``alg`` in reverse-domain form).
WATERMARK_ALG = "io.rightsmark.watermark.1"
#: The most blocks, and the largest value, a soft-binding assertion read from a file may carry; beyond
#: them the assertion is ignored (it cannot be an honest rightsmark value, and it costs memory).
MAX_BLOCKS = 16
MAX_VALUE_BYTES = 1024


class Kind(str, enum.Enum):
    FINGERPRINT = "fingerprint"
    WATERMARK = "watermark"


#: The kind of each algorithm rightsmark computes; any other ``alg`` is carried but never computed.
KINDS: dict[str, Kind] = {ISCC_ALG: Kind.FINGERPRINT, WATERMARK_ALG: Kind.WATERMARK}


class SoftBindingError(ValueError):
    """A soft-binding value or assertion that cannot be read (bad base64, wrong length, wrong shape)."""


@dataclass(frozen=True)
class SoftBinding:
    """One soft-binding value: ``alg`` as the C2PA list names it, ``value`` the algorithm's own bytes."""

    alg: str
    value: bytes

    @property
    def kind(self) -> Kind | None:
        return KINDS.get(self.alg)

    @property
    def b64(self) -> str:
        return base64.b64encode(self.value).decode("ascii")

    @classmethod
    def from_b64(cls, alg: str, value: str) -> SoftBinding:
        """The binding ``value`` (standard base64, as the API and the assertion carry it); bad input raises
        :class:`SoftBindingError`."""
        if not isinstance(alg, str) or not alg or len(alg) > 128:
            raise SoftBindingError("the soft-binding algorithm name is missing or too long")
        if not isinstance(value, str) or len(value) > 4 * MAX_VALUE_BYTES:
            raise SoftBindingError("the soft-binding value is missing or too long")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SoftBindingError("the soft-binding value is not base64") from None
        if not raw:
            raise SoftBindingError("the soft-binding value is empty")
        return cls(alg, raw)

    @property
    def display(self) -> str:
        """The value as people read it: an ISCC code for ``io.iscc.v0``, hex for a watermark identifier."""
        if self.alg == ISCC_ALG:
            return "ISCC:" + base64.b32encode(self.value).decode("ascii").rstrip("=")
        return self.value.hex()

    def to_dict(self) -> dict[str, str]:
        return {"alg": self.alg, "value": self.b64, "display": self.display}


def assertions(bindings: Iterable[SoftBinding]) -> list[dict[str, Any]]:
    """The Builder JSON assertions recording ``bindings``: one ``c2pa.soft-binding`` per algorithm."""
    by_alg: dict[str, list[SoftBinding]] = {}
    for b in bindings:
        by_alg.setdefault(b.alg, []).append(b)
    out = []
    for alg, items in by_alg.items():
        out.append(
            {
                "label": SOFT_BINDING_LABEL,
                "data": {"alg": alg, "blocks": [{"scope": {}, "value": b.b64} for b in items]},
            }
        )
    return out


def read_bindings(manifest: Mapping[str, Any]) -> tuple[SoftBinding, ...]:
    """The soft bindings a manifest (the engine's JSON of one manifest) records, in order.

    The engine shows repeated labels as ``c2pa.soft-binding``, ``c2pa.soft-binding__1``, ...
    A block that cannot be read is skipped: a soft binding only ever *finds* a manifest, it never grants.
    """
    found: list[SoftBinding] = []
    items = manifest.get("assertions")
    if not isinstance(items, list):
        return ()
    for item in items:
        if not isinstance(item, Mapping):
            continue
        label = item.get("label")
        if not isinstance(label, str) or label.split("__")[0] != SOFT_BINDING_LABEL:
            continue
        data = item.get("data")
        if not isinstance(data, Mapping):
            continue
        alg = data.get("alg")
        blocks = data.get("blocks")
        if not isinstance(alg, str) or not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            continue
        for block in blocks:
            value = block.get("value") if isinstance(block, Mapping) else None
            if not isinstance(value, str):
                continue
            try:
                found.append(SoftBinding.from_b64(alg, value))
            except SoftBindingError:
                continue
    return tuple(dict.fromkeys(found))
