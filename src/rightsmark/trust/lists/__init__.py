"""Bundled, pinned trust lists: which signers and time-stamping authorities a verifier trusts.

The lists are public snapshots vendored unchanged under ``data/`` (see ``data/README.md``);
``data/MANIFEST.json`` records where each file comes from and its sha256. Loading fails
closed: a bundled file that is missing or whose bytes differ from the manifest, an
unreadable manifest, a damaged certificate, an unknown list name — each is a
:class:`~rightsmark.errors.TrustError`, never a silently smaller list.

A user may replace the anchors of one bundled list with a newer snapshot they fetched
themselves (``--trust-list-file NAME=FILE``). The role of the list stays the manifest's.
For ``interim`` the file replaces ``anchors.pem`` only: its ``allowed.pem`` (end-entity
certificates trusted as they are) and ``store.cfg`` (allowed EKUs) stay the bundled ones.

Anchor entries that are not CA certificates (basicConstraints absent or CA false) are
dropped and reported in :attr:`TrustList.warnings`. Importing this module is cheap, and so is
loading a bundled list: its bytes are those pinned in the manifest, whose certificates the tests
parse (``tests/test_trustlists.py``: each parses, every anchor is a CA certificate), so loading
checks the sha256 and cuts the PEM blocks without parsing any certificate. A user's file
(``--trust-list-file``) is parsed (with ``cryptography``) and its non-CA entries dropped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.errors import TrustError, UsageError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = [
    "BUNDLED",
    "DATA_DIR",
    "DEFAULT",
    "Entry",
    "TrustList",
    "description",
    "details",
    "entries",
    "load",
    "parse_override",
    "summary",
]

BUNDLED: tuple[str, ...] = ("c2pa", "c2pa-tsa", "interim")
"""The names of the bundled lists."""

DEFAULT: tuple[str, ...] = ("c2pa", "c2pa-tsa")
"""The lists a verifier uses unless told otherwise."""

DATA_DIR: Path = Path(__file__).resolve().parent / "data"
"""Where the bundled files and MANIFEST.json lie (read at each :func:`load`; tests point it elsewhere)."""

MANIFEST_NAME = "MANIFEST.json"
ROLES = ("claim-signer", "tsa")
KINDS = ("anchors", "allowed", "ekus")

_REINSTALL = "the installed trust list snapshot is damaged or was edited: reinstall rightsmark"
_PROVENANCE_KEYS = ("repository", "path", "commit", "changed", "date", "retrieved", "license")
_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TrustList:
    """One trust list, checked and ready to hand to the C2PA engine."""

    name: str
    role: str
    """``"claim-signer"`` (signers of manifests) or ``"tsa"`` (time-stamping authorities)."""
    anchors_pem: str
    """The CA anchors kept, as normalised PEM blocks (non-CA entries dropped)."""
    allowed_pem: str
    """End-entity certificates trusted as they are (normalised PEM blocks; ``""`` if none)."""
    ekus: tuple[str, ...]
    """Extended key usage OIDs allowed for signers (``()`` when the list names none)."""
    sha256: str
    """Identifies the content: sha256 of the lines ``"<path>  <file sha256>\\n"`` sorted by path."""
    origin: str
    """``"bundled"``, or the path of the file that replaced the anchors."""
    provenance: dict[str, str] = field(hash=False, compare=False)
    """Where the content comes from (repository, path, commit, changed, date, retrieved, license),
    or for an override ``file``, ``file_sha256``, ``replaces`` (and ``kept``/``kept_from`` for the
    bundled files it left in place)."""
    warnings: tuple[str, ...] = ()
    """Entries ignored while loading, each naming the entry (subject and sha256 fingerprint)."""

    def describe(self) -> dict[str, object]:
        """What a report records about the list used."""
        return {"name": self.name, "role": self.role, "sha256": self.sha256, "origin": self.origin, **self.provenance}

    @property
    def anchor_count(self) -> int:
        return self.anchors_pem.count("-----BEGIN CERTIFICATE-----")

    @property
    def allowed_count(self) -> int:
        return self.allowed_pem.count("-----BEGIN CERTIFICATE-----")


@dataclass(frozen=True)
class Entry:
    """One certificate of a trust list, for people to read."""

    subject: str
    """RFC 4514 subject."""
    sha256: str
    """``"sha256:<hex>"`` of the DER certificate."""
    not_before: datetime
    not_after: datetime
    kind: str
    """``"anchor"`` or ``"allowed"``."""

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) > self.not_after

    def to_dict(self, now: datetime | None = None) -> dict[str, object]:
        """The entry as data, whether it has expired by ``now`` included."""
        return {
            "subject": self.subject,
            "sha256": self.sha256,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "expired": self.expired(now),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class _File:
    path: str
    sha256: str
    kind: str


@dataclass(frozen=True)
class _Spec:
    name: str
    role: str
    description: str
    provenance: dict[str, str] = field(hash=False, compare=False)
    files: tuple[_File, ...] = ()

    def file(self, kind: str) -> _File | None:
        return next((f for f in self.files if f.kind == kind), None)


# ---------------------------------------------------------------- public API


def load(name: str, override: str | Path | None = None) -> TrustList:
    """The trust list ``name``, its anchors replaced by those in ``override`` when given.

    Cached per (name, override) for the life of the process. :class:`TrustError` for an
    unknown name, a damaged or edited bundled file, or an unusable override file.
    """
    if override is None:
        return _load(name, None, None, DATA_DIR)
    given = os.fspath(override)
    return _load(name, given, os.path.abspath(given), DATA_DIR)


def entries(tl: TrustList) -> list[Entry]:
    """The certificates of ``tl``: its anchors, then its allowed end-entity certificates."""
    from cryptography import x509

    found = []
    for text, kind in ((tl.anchors_pem, "anchor"), (tl.allowed_pem, "allowed")):
        if not text:
            continue
        for _, der in _pem_blocks(text.encode("ascii"), tl.origin):
            cert = x509.load_der_x509_certificate(der)
            found.append(
                Entry(
                    subject=cert.subject.rfc4514_string(),
                    sha256="sha256:" + hashlib.sha256(der).hexdigest(),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    kind=kind,
                )
            )
    return found


def summary(name: str) -> dict[str, object]:
    """The bundled list ``name`` in brief: :meth:`TrustList.describe`, what it is, its size, whether used by default."""
    tl = load(name)
    return {
        **tl.describe(),
        "description": description(name),
        "default": name in DEFAULT,
        "anchors": tl.anchor_count,
        "allowed": tl.allowed_count,
        "ekus": list(tl.ekus),
        "dropped": len(tl.warnings),
    }


def details(tl: TrustList, now: datetime | None = None) -> dict[str, object]:
    """``tl`` in full: :meth:`TrustList.describe`, what it is, its EKUs, every certificate and what was ignored."""
    return {
        **tl.describe(),
        "description": description(tl.name),
        "ekus": list(tl.ekus),
        "entries": [e.to_dict(now) for e in entries(tl)],
        "warnings": list(tl.warnings),
    }


def role(name: str) -> str:
    """The role of the bundled list ``name`` ("claim-signer" or "tsa"), without loading its certificates."""
    _known(name)
    return _spec(name, DATA_DIR).role


def description(name: str) -> str:
    """What the bundled list ``name`` is, in a sentence (from MANIFEST.json)."""
    return _spec(name, DATA_DIR).description


def parse_override(value: str) -> tuple[str, Path]:
    """``"NAME=FILE"`` (a ``--trust-list-file`` value) as (name, path); the name must be bundled."""
    name, sep, path = value.partition("=")
    name = name.strip()
    if not sep or not name or not path:
        raise UsageError(
            f"--trust-list-file wants NAME=FILE, got {value!r}", hint=f"NAME is one of {', '.join(BUNDLED)}"
        )
    _known(name)
    return name, Path(path)


# ---------------------------------------------------------------- loading


def _known(name: str) -> None:
    if name not in BUNDLED:
        raise TrustError(f"no bundled trust list named {name!r}", hint=f"known lists: {', '.join(BUNDLED)}")


@functools.lru_cache(maxsize=64)
def _load(name: str, given: str | None, key: str | None, data_dir: Path) -> TrustList:
    del key  # part of the cache key only: a relative override names another file after a chdir
    _known(name)
    spec = _spec(name, data_dir)
    anchors_file = spec.file("anchors")
    assert anchors_file is not None  # _manifest checked that each list has one
    pairs: dict[str, str] = {}
    warnings: list[str] = []

    if given is None:
        anchors_data = _read_bundled(data_dir, anchors_file)
        anchors_label = str(data_dir / anchors_file.path)
        pairs[anchors_file.path] = anchors_file.sha256
        provenance = dict(spec.provenance)
        origin = "bundled"
    else:
        from rightsmark.keys.pem import read_pem_file

        anchors_data = read_pem_file(given)
        anchors_label = given
        digest = hashlib.sha256(anchors_data).hexdigest()
        pairs[anchors_file.path] = digest
        provenance = {"file": given, "file_sha256": digest, "replaces": anchors_file.path}
        kept = [f.path for f in spec.files if f.kind != "anchors"]
        if kept:
            provenance["kept"] = " ".join(kept)
            provenance["kept_from"] = f"{spec.provenance['repository']}@{spec.provenance['commit']}"
        origin = given

    anchors = _pinned(anchors_data, anchors_label) if given is None else _anchors(anchors_data, anchors_label, warnings)

    allowed_pem = ""
    allowed_file = spec.file("allowed")
    if allowed_file is not None:
        data = _read_bundled(data_dir, allowed_file)
        pairs[allowed_file.path] = allowed_file.sha256
        allowed_pem = _pinned(data, str(data_dir / allowed_file.path))

    ekus: tuple[str, ...] = ()
    ekus_file = spec.file("ekus")
    if ekus_file is not None:
        data = _read_bundled(data_dir, ekus_file)
        pairs[ekus_file.path] = ekus_file.sha256
        ekus = _ekus(data, str(data_dir / ekus_file.path))

    content = "".join(f"{path}  {digest}\n" for path, digest in sorted(pairs.items()))
    return TrustList(
        name=name,
        role=spec.role,
        anchors_pem=anchors,
        allowed_pem=allowed_pem,
        ekus=ekus,
        sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
        origin=origin,
        provenance=provenance,
        warnings=tuple(warnings),
    )


def _spec(name: str, data_dir: Path) -> _Spec:
    _known(name)
    return _manifest(data_dir)[name]


@functools.lru_cache(maxsize=8)
def _manifest(data_dir: Path) -> dict[str, _Spec]:
    path = data_dir / MANIFEST_NAME
    data = _read_installed(path, "the trust list manifest")
    try:
        raw: Any = json.loads(data)
    except ValueError as exc:
        raise TrustError(f"the trust list manifest is not valid JSON ({exc})", path=path, hint=_REINSTALL) from None

    def bad(what: str) -> TrustError:
        return TrustError(f"the trust list manifest is invalid: {what}", path=path, hint=_REINSTALL)

    lists = raw.get("lists") if isinstance(raw, dict) else None
    if not isinstance(lists, dict):
        raise bad("no 'lists' object")
    specs = {}
    for name in BUNDLED:
        item = lists.get(name)
        if not isinstance(item, dict):
            raise bad(f"no list {name!r}")
        role, about = item.get("role"), item.get("description")
        if role not in ROLES:
            raise bad(f"{name}: role {role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(about, str):
            raise bad(f"{name}: no description")
        provenance = {}
        for key in _PROVENANCE_KEYS:
            value = item.get(key)
            if not isinstance(value, str) or not value:
                raise bad(f"{name}: no {key!r}")
            provenance[key] = value
        files = []
        raw_files = item.get("files")
        if not isinstance(raw_files, list):
            raise bad(f"{name}: no 'files' list")
        for entry in raw_files:
            if not isinstance(entry, dict):
                raise bad(f"{name}: a file entry is not an object")
            rel, digest, kind = entry.get("path"), entry.get("sha256"), entry.get("kind")
            if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in rel.split("/"):
                raise bad(f"{name}: file path {rel!r}")
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise bad(f"{name}: {rel}: sha256 {digest!r}")
            if kind not in KINDS:
                raise bad(f"{name}: {rel}: kind {kind!r} is not one of {', '.join(KINDS)}")
            files.append(_File(rel, digest, kind))
        kinds = [f.kind for f in files]
        if kinds.count("anchors") != 1 or kinds.count("allowed") > 1 or kinds.count("ekus") > 1:
            raise bad(f"{name}: wants one anchors file and at most one allowed and one ekus file")
        specs[name] = _Spec(name, role, about, provenance, tuple(files))
    return specs


def _read_installed(path: Path, what: str) -> bytes:
    """The bytes of a file installed with rightsmark; a missing or unreadable one means reinstalling."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TrustError(f"{what} is missing", path=path, hint=_REINSTALL) from None
    except OSError as exc:
        raise TrustError(f"{what} cannot be read: {exc.strerror}", path=path, hint=_REINSTALL) from None


def _read_bundled(data_dir: Path, f: _File) -> bytes:
    path = data_dir / f.path
    data = _read_installed(path, "bundled trust list file")
    if hashlib.sha256(data).hexdigest() != f.sha256:
        raise TrustError(
            f"bundled trust list file does not match its sha256 in {MANIFEST_NAME}", path=path, hint=_REINSTALL
        )
    return data


def _pem_blocks(data: bytes, label: str) -> list[tuple[str, bytes]]:
    """Each certificate as (normalised PEM block, DER): :func:`rightsmark.keys.pem.certificate_blocks`."""
    from rightsmark.keys.pem import certificate_blocks

    return certificate_blocks(data, label)


def _pinned(data: bytes, label: str) -> str:
    """The certificates of a bundled file, whose bytes match their pinned sha256, as PEM: parsed by the tests
    rather than at each start (see the module's docstring)."""
    return "".join(block for block, _ in _pem_blocks(data, label))


def _parse(der: bytes, label: str) -> Certificate:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise TrustError(f"holds a damaged certificate ({exc})", path=label) from None


def _anchors(data: bytes, label: str, warnings: list[str]) -> str:
    """The CA certificates of an anchors file as PEM; the others reported in ``warnings``."""
    from cryptography import x509

    kept = []
    for block, der in _pem_blocks(data, label):
        cert = _parse(der, label)
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            is_ca = bool(constraints.ca)
        except x509.ExtensionNotFound:
            is_ca = False
        except ValueError as exc:
            raise TrustError(f"holds a certificate with damaged extensions ({exc})", path=label) from None
        if is_ca:
            kept.append(block)
        else:
            subject = cert.subject.rfc4514_string()
            fingerprint = hashlib.sha256(der).hexdigest()
            warnings.append(f"{label}: entry '{subject}' (sha256:{fingerprint}) is not a CA certificate: ignored")
    if not kept:
        raise TrustError("holds no CA certificate to trust as an anchor", path=label)
    return "".join(kept)


def _ekus(data: bytes, label: str) -> tuple[str, ...]:
    """The OIDs of a store.cfg: one a line, ``//`` comment lines and blank lines skipped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustError("is not UTF-8 text", path=label) from None
    oids = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        if not _OID.fullmatch(line):
            raise TrustError(f"line {number} is not an OID: {line[:40]!r}", path=label)
        oids.append(line)
    return tuple(oids)
