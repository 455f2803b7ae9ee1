"""Typed values shared by signing, verification and reports.

Enums are ``str`` enums so that their value is what reports print. Results are frozen
dataclasses; :meth:`VerifyRecord.to_dict` is the one place that defines the record
shape validated by ``schemas/verify-record.schema.json``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Algorithm(str, enum.Enum):
    """Signature algorithms rightsmark can create keys for and sign with."""

    ES256 = "es256"
    ES384 = "es384"
    PS256 = "ps256"
    ED25519 = "ed25519"


class Use(str, enum.Enum):
    """A CAWG training-and-mining value (plus ``unspecified`` when nothing was said)."""

    ALLOWED = "allowed"
    NOT_ALLOWED = "notAllowed"
    CONSTRAINED = "constrained"
    UNSPECIFIED = "unspecified"


class Purpose(str, enum.Enum):
    """The four uses the CAWG training-and-mining assertion speaks about."""

    AI_TRAINING = "ai_training"
    AI_GENERATIVE_TRAINING = "ai_generative_training"
    AI_INFERENCE = "ai_inference"
    DATA_MINING = "data_mining"


class Integrity(str, enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    ABSENT = "absent"
    ERROR = "error"


class Trust(str, enum.Enum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


class Decision(str, enum.Enum):
    KEEP = "keep"
    DROP = "drop"


class ConsentStatus(str, enum.Enum):
    GRANTED = "granted"
    NOT_NEEDED = "not-needed"
    MISSING = "missing"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    NOT_COVERED = "not-covered"
    WITHDRAWN = "withdrawn"
    INVALID = "invalid"


@dataclass(frozen=True)
class Reason:
    """Why a file was dropped (or a warning about it): a stable code and a sentence."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class SignerInfo:
    common_name: str | None
    issuer: str | None
    algorithm: str | None
    time: str | None = None
    serial: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "common_name": self.common_name,
            "issuer": self.issuer,
            "algorithm": self.algorithm,
            "time": self.time,
            "serial": self.serial,
        }


@dataclass(frozen=True)
class License:
    """A license by SPDX id, by URL, or both (the URL of a known SPDX id is filled in)."""

    id: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url}


@dataclass(frozen=True)
class Training:
    """Per-purpose permission as recorded in the file."""

    ai_training: Use = Use.UNSPECIFIED
    ai_generative_training: Use = Use.UNSPECIFIED
    ai_inference: Use = Use.UNSPECIFIED
    data_mining: Use = Use.UNSPECIFIED
    constraint_info: str | None = None

    def get(self, purpose: Purpose) -> Use:
        value: Use = getattr(self, purpose.value)
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {p.value: self.get(p).value for p in Purpose}
        if self.constraint_info:
            out["constraint_info"] = self.constraint_info
        return out


@dataclass(frozen=True)
class SubjectConsent:
    """The verdict on one consent record for the purpose asked."""

    ref: str
    release_id: str | None
    status: ConsentStatus
    expires: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "release_id": self.release_id, "status": self.status.value, "expires": self.expires}


@dataclass(frozen=True)
class ConsentResult:
    status: ConsentStatus
    subjects: tuple[SubjectConsent, ...] = ()
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "subjects": [s.to_dict() for s in self.subjects]}
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class Drift:
    """An XMP property whose value in the file's XMP packet contradicts the signed manifest.

    The signed manifest is authoritative; drift is reported, never a reason to drop a file.
    """

    field: str  # the XMP property, prefixed as in the packet's usual form, e.g. "dc:creator"
    xmp: str | tuple[str, ...]
    signed: str | tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        def value(v: str | tuple[str, ...]) -> str | list[str]:
            return v if isinstance(v, str) else list(v)

        return {"field": self.field, "xmp": value(self.xmp), "signed": value(self.signed)}


class SignalSource(str, enum.Enum):
    """Where a declared signal was found: in the file's XMP, in a sidecar beside it (a WebDataset sample's
    ``.json``, an img2dataset ``NNNN.json``), or in a column of the Parquet row that holds the image."""

    XMP = "xmp"
    SIDECAR = "sidecar"
    COLUMN = "column"


@dataclass(frozen=True)
class DeclaredSignal:
    """A permission declared outside C2PA (IPTC ``plus:DataMining``, TDMRep, ``X-Robots-Tag``,
    ``Content-Usage``, a license statement), and what it says for each of the four uses.

    ``uses`` holds ``notAllowed`` where the signal opts out of a use, ``allowed`` where it opts in,
    ``unspecified`` where it says nothing about it (see :mod:`rightsmark.rights.signals` for the table)."""

    name: str  # as its standard spells it: "plus:DataMining", "tdm-reservation", "X-Robots-Tag", ...
    value: str  # as found
    source: SignalSource
    where: str  # e.g. "XMP packet", "sidecar 000001.json (headers)", "column x_robots_tag"
    uses: Training = field(default_factory=lambda: Training())

    def to_dict(self) -> dict[str, Any]:
        u = self.uses  # (spelt out: records of unsigned files carry several of these, written on the fast path)
        uses = {
            "ai_training": u.ai_training.value,
            "ai_generative_training": u.ai_generative_training.value,
            "ai_inference": u.ai_inference.value,
            "data_mining": u.data_mining.value,
        }
        return {"name": self.name, "value": self.value, "source": self.source.value, "where": self.where, "uses": uses}


@dataclass(frozen=True)
class Sample:
    """The sample an item belongs to, named as its source names it, so that a pipeline can join a report
    or keep list without glue code: a WebDataset shard and ``__key__``, a Parquet file with its key column
    value and row index, a folder and the file's stem."""

    source: str  # the shard, Parquet file or folder, as given on the command line
    key: str  # the sample's key in its source (``__key__``, the key column's value, the file stem)
    key_from: str  # how the key was made: "__key__", "column:NAME", "row", "path"
    row: int | None = None  # the row index in a Parquet file
    url: str | None = None  # the sample's URL, when its sidecar or row records one

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "key": self.key, "key_from": self.key_from, "row": self.row, "url": self.url}


@dataclass(frozen=True)
class RecoveredManifest:
    """A manifest found again for a file that lost its own (or whose own fails), through a soft binding.

    ``method``: ``fingerprint``, ``watermark`` or ``fingerprint+watermark`` (both named it); ``distance``: the
    fingerprints' Hamming distance (None where only the watermark matched); ``others``: further manifests
    that matched as well (an ambiguity: never read as permission). The rest is the recovered manifest's own
    reading, its store validated (signature, claim) and its signer judged as any manifest's.
    """

    manifest_id: str
    method: str
    distance: int | None
    repository: str
    trust: Trust
    signer: SignerInfo | None = None
    author: tuple[str, ...] = ()
    license: License | None = None
    training: Training = field(default_factory=Training)
    consent: ConsentResult = field(default_factory=lambda: ConsentResult(ConsentStatus.MISSING))
    others: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_id": self.manifest_id,
            "method": self.method,
            "distance": self.distance,
            "repository": self.repository,
            "trust": self.trust.value,
            "signer": self.signer.to_dict() if self.signer else None,
            "author": list(self.author),
            "license": self.license.to_dict() if self.license else None,
            "training": self.training.to_dict(),
            "consent": self.consent.to_dict(),
            "others": list(self.others),
        }


@dataclass(frozen=True)
class VerifyRecord:
    """Everything ``rightsmark verify`` says about one file."""

    path: str
    integrity: Integrity
    trust: Trust
    decision: Decision
    reasons: tuple[Reason, ...]
    signer: SignerInfo | None = None
    author: tuple[str, ...] = ()
    license: License | None = None
    training: Training = field(default_factory=Training)
    consent: ConsentResult = field(default_factory=lambda: ConsentResult(ConsentStatus.MISSING))
    engine_state: str | None = None
    engine_codes: tuple[str, ...] = ()
    ingredient_codes: tuple[str, ...] = ()
    remote_manifest: str | None = None
    format: str | None = None
    error: str | None = None
    #: where the file's XMP contradicts the signed manifest (empty when they agree or there is no XMP)
    metadata_drift: tuple[Drift, ...] = ()
    #: permissions declared outside C2PA, in the file or beside it
    declared: tuple[DeclaredSignal, ...] = ()
    #: the sample this item belongs to, as its source names it (None where the source has no samples)
    sample: Sample | None = None
    #: the manifest found again through a soft binding (``verify --recover``), when one was
    recovered: RecoveredManifest | None = None

    @property
    def kept(self) -> bool:
        return self.decision is Decision.KEEP

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "integrity": self.integrity.value,
            "trust": self.trust.value,
            "decision": self.decision.value,
            "reasons": [r.to_dict() for r in self.reasons],
            "signer": self.signer.to_dict() if self.signer else None,
            "author": list(self.author),
            "license": self.license.to_dict() if self.license else None,
            "training": self.training.to_dict(),
            "consent": self.consent.to_dict(),
            "engine": {
                "state": self.engine_state,
                "failure_codes": list(self.engine_codes),
                "ingredient_failure_codes": list(self.ingredient_codes),
            },
            "remote_manifest": self.remote_manifest,
            "format": self.format,
            "error": self.error,
            "metadata_drift": [d.to_dict() for d in self.metadata_drift],
            "declared": [d.to_dict() for d in self.declared],
            "sample": self.sample.to_dict() if self.sample else None,
            "recovered": self.recovered.to_dict() if self.recovered else None,
        }


@dataclass(frozen=True)
class SignResult:
    """One signed file."""

    source: str
    output: str
    manifest_label: str | None
    format: str
    notes: tuple[str, ...] = ()  # what was done differently from what was asked, e.g. XMP not written
