"""What verification trusts, resolved once per run: the sources, their roles, and what they rest on.

Three roles, never mixed:

- **claim signers**: the bundled lists whose role is ``claim-signer`` (by default ``c2pa``, the C2PA
  Conformance Program's list) and the user's own anchors (``--trust``);
- **timestamp authorities**: lists of role ``tsa`` (by default ``c2pa-tsa``) and ``--tsa-trust``;
- **withdrawal-list signers**: the user's own anchors only (:mod:`rightsmark.verify.withdrawals`), never a
  bundled list: the C2PA program vouches for products that sign media, not for who may withdraw a
  model's consent.

The C2PA engine keeps one pool of anchors (its ``trust_kind`` does not restrict what an anchor may
vouch for, tested in ``tests/test_trust.py``), and it needs the timestamp authorities' roots to trust
a timestamp. So the engine is given both, and a signer it calls trusted is trusted here only when its
chain also validates to a claim-signer anchor (:func:`rightsmark.trust.chainval.validate_chain`): a TSA
root never vouches for a claim signer.

:class:`TrustSources` is what the engine fronts receive (picklable, plain strings); its
:meth:`~TrustSources.describe` is what every report records, and its :attr:`~TrustSources.digest`
keys the verdict cache.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

CLAIM_SIGNER = "claim-signer"
TSA = "tsa"

#: ``--trust-list none``: no bundled list at all.
NONE = "none"


@dataclass(frozen=True)
class TrustSource:
    """One place trust comes from, as reports name it."""

    name: str
    role: str
    sha256: str
    origin: str
    entries: int = 0
    detail: dict[str, str] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "sha256": self.sha256,
            "origin": self.origin,
            "entries": self.entries,
            **self.detail,
        }


@dataclass(frozen=True)
class TrustSources:
    """Everything verification trusts, as PEM text by role, with the sources it came from."""

    claim_pem: str = ""
    allowed_pem: str = ""
    tsa_pem: str = ""
    ekus: tuple[str, ...] = ()
    sources: tuple[TrustSource, ...] = ()
    #: bundled lists that are not enabled (consulted only to hint at them for an untrusted signer)
    others: tuple[str, ...] = ()
    #: ``--trust-list-file`` overrides, as (name, path), so that hints use the same snapshot
    overrides: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def any_claim(self) -> bool:
        """Whether any claim signer can be trusted at all."""
        return bool(self.claim_pem or self.allowed_pem)

    @property
    def digest(self) -> str:
        """sha256 over what the sources hold, by role: the verdict cache's key for trust."""
        h = hashlib.sha256()
        for part in (self.claim_pem, self.allowed_pem, self.tsa_pem, "\n".join(self.ekus)):
            data = part.encode()
            h.update(len(data).to_bytes(8, "big") + data)
        return h.hexdigest()

    def describe(self) -> list[dict[str, Any]]:
        """The sources as reports record them (name, role, sha256, origin, provenance)."""
        return [s.to_dict() for s in self.sources]

    @functools.cached_property
    def claim_certificates(self) -> tuple[Certificate, ...]:
        return certificates(self.claim_pem)

    @functools.cached_property
    def allowed_certificates(self) -> tuple[Certificate, ...]:
        return certificates(self.allowed_pem)

    @functools.cached_property
    def tsa_certificates(self) -> tuple[Certificate, ...]:
        return certificates(self.tsa_pem)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("claim_certificates", None)  # parsed certificates are rebuilt where needed
        state.pop("allowed_certificates", None)
        state.pop("tsa_certificates", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@functools.lru_cache(maxsize=16)
def certificates(text: str) -> tuple[Certificate, ...]:
    """The certificates of PEM text (the normalised blocks :mod:`rightsmark.keys.pem` and the lists produce), parsed
    once per process."""
    from cryptography import x509

    return tuple(x509.load_pem_x509_certificates(text.encode())) if text.strip() else ()


def enabled_lists(lists: Sequence[str]) -> tuple[str, ...]:
    """The bundled list names in ``lists`` (``none`` alone means no list); unknown names are errors."""
    from rightsmark.errors import TrustError
    from rightsmark.trust import lists as trustlists

    names = list(dict.fromkeys(lists))
    if NONE in names:
        if len(names) > 1:
            others = ", ".join(n for n in names if n != NONE)
            raise TrustError(f"--trust-list none cannot be combined with {others}", hint="give none alone")
        return ()
    for name in names:
        if name not in trustlists.BUNDLED:
            raise TrustError(
                f"unknown trust list '{name}'",
                hint=f"known lists: {', '.join(trustlists.BUNDLED)}, or none (see rightsmark trust list)",
            )
    return tuple(names)


def _file_source(path: Path, role: str, origin: str, pem: str) -> TrustSource:
    return TrustSource(
        name=path.name,
        role=role,
        sha256=hashlib.sha256(pem.encode()).hexdigest(),
        origin=origin,
        entries=pem.count("-----BEGIN CERTIFICATE-----"),
        detail={"path": str(path)},
    )


def resolve(
    lists: Sequence[str],
    *,
    anchors: Sequence[str | Path] = (),
    tsa_anchors: Sequence[str | Path] = (),
    overrides: Sequence[tuple[str, str | Path]] = (),
) -> TrustSources:
    """Load the enabled bundled lists (checked against their pinned sha256) and the user's anchor files.

    Raises :class:`~rightsmark.errors.TrustError` for an unknown list, a damaged snapshot, an override of a
    list that is not enabled, or an unreadable file: nothing is verified on a half-loaded trust set.
    """
    from rightsmark.errors import TrustError
    from rightsmark.keys.pem import load_trust_anchors
    from rightsmark.trust import lists as trustlists

    names = enabled_lists(lists)
    given = {name: str(path) for name, path in overrides}
    for name in given:
        if name not in trustlists.BUNDLED:
            raise TrustError(f"--trust-list-file names unknown list '{name}'", hint="see rightsmark trust list")
        if name not in names:
            raise TrustError(
                f"--trust-list-file {name}=... given, but list '{name}' is not enabled",
                hint=f"add --trust-list {name}",
            )
    claim: list[str] = []
    allowed: list[str] = []
    tsa: list[str] = []
    ekus: list[str] = []
    warnings: list[str] = []
    sources: list[TrustSource] = []
    for name in names:
        tl = trustlists.load(name, given.get(name))
        (tsa if tl.role == TSA else claim).append(tl.anchors_pem)
        allowed.append(tl.allowed_pem)
        ekus.extend(tl.ekus)
        warnings.extend(tl.warnings)
        sources.append(
            TrustSource(
                name=tl.name,
                role=tl.role,
                sha256=tl.sha256,
                origin=tl.origin,
                entries=tl.anchor_count + tl.allowed_count,
                detail={k: str(v) for k, v in tl.provenance.items()},
            )
        )
    for path in anchors:
        pem = load_trust_anchors([path])
        claim.append(pem)
        sources.append(_file_source(Path(path), CLAIM_SIGNER, "--trust", pem))
    for path in tsa_anchors:
        pem = load_trust_anchors([path])
        tsa.append(pem)
        sources.append(_file_source(Path(path), TSA, "--tsa-trust", pem))
    return TrustSources(
        claim_pem="".join(claim),
        allowed_pem="".join(allowed),
        tsa_pem="".join(tsa),
        ekus=tuple(dict.fromkeys(ekus)),
        sources=tuple(sources),
        others=tuple(n for n in trustlists.BUNDLED if n not in names),
        overrides=tuple((n, p) for n, p in given.items()),
        warnings=tuple(warnings),
    )
