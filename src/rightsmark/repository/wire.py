"""What the Soft Binding Resolution API carries, shared by the service (:mod:`rightsmark.serve`) and its client
(:mod:`rightsmark.repository.remote`): the similarity score, the distance between two values of one algorithm,
and the shape of a ``c2pa.softBindingQueryResult``.

The API reports a match's strength as ``similarityScore``, an integer from 0 (weakest) to 100 (strongest);
rightsmark's repositories measure it as a Hamming distance in bits (:func:`rightsmark.softbinding.iscc.distance`,
over the 256-bit code, a shorter code's differing bits scaled up; 0 for an exact watermark match).
:func:`similarity_score` and :func:`distance_from_score` are the one mapping between the two: 64 bits or more
apart scores 0, and the mapping is exact both ways for every distance 0-64 (a score step is 1.5625 bits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rightsmark.softbinding import iscc
from rightsmark.softbinding.model import ISCC_ALG, KINDS, Kind, SoftBinding, SoftBindingError

#: the JSON a service answers (a list of matches, an algorithm list, an error) is never larger than this
MAX_JSON_BYTES = 1024 * 1024
#: the longest manifest id either side accepts (C2PA ids are ``urn:c2pa:<uuid>[:claim generator:version]``)
MAX_MANIFEST_ID = 512
#: the most matches one query returns, whatever ``maxResults`` asks
MAX_RESULTS = 100
#: the media type of a manifest store on the wire
STORE_MEDIA_TYPE = "application/c2pa"
#: the distance (bits) that scores 0
DISTANCE_BITS = iscc.PREFIX_BITS


def similarity_score(distance: int) -> int:
    """The API's ``similarityScore`` (0-100) of a match ``distance`` bits apart (0 is an exact match: 100)."""
    distance = min(max(distance, 0), DISTANCE_BITS)
    return round(100 * (DISTANCE_BITS - distance) / DISTANCE_BITS)


def distance_from_score(score: int) -> int:
    """The distance in bits a ``similarityScore`` stands for (the inverse of :func:`similarity_score`)."""
    score = min(max(score, 0), 100)
    return round((100 - score) * DISTANCE_BITS / 100)


def binding_distance(query: SoftBinding, recorded: SoftBinding, max_distance: int) -> int | None:
    """How far the ``recorded`` value is from the ``query`` when it matches: for the ISCC fingerprint the
    distance when :func:`rightsmark.softbinding.iscc.within` ``max_distance`` (the repositories' one rule); 0
    when any other algorithm's values are equal; None when they do not match (another algorithm, a different
    or farther value, a value not of its algorithm's form)."""
    if query.alg != recorded.alg:
        return None
    if query.alg == ISCC_ALG:
        try:
            return iscc.within(query.value, recorded.value, max_distance)
        except SoftBindingError:
            return None
    return 0 if query.value == recorded.value else None


def check_query(binding: SoftBinding) -> None:
    """Raise :class:`SoftBindingError` unless ``binding`` is a query rightsmark can answer: an algorithm it
    knows, with a value of that algorithm's form."""
    kind = KINDS.get(binding.alg)
    if kind is None:
        raise SoftBindingError(f"the soft-binding algorithm {binding.alg!r} is not supported")
    if kind is Kind.FINGERPRINT:
        iscc.body(binding.value)


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """The ``c2pa.softBindingAlgList`` of every algorithm a rightsmark repository answers queries for."""
    listing: dict[str, list[dict[str, str]]] = {"watermarks": [], "fingerprints": []}
    for alg, kind in KINDS.items():
        listing["fingerprints" if kind is Kind.FINGERPRINT else "watermarks"].append({"alg": alg})
    return listing


@dataclass(frozen=True)
class Match:
    """One item of a ``c2pa.softBindingQueryResult``."""

    manifest_id: str
    score: int | None = None
    endpoint: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"manifestId": self.manifest_id}
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        if self.score is not None:
            out["similarityScore"] = self.score
        return out


def valid_manifest_id(value: object) -> bool:
    """Whether ``value`` can be a manifest id: a non-empty string of printable characters, not too long."""
    return (
        isinstance(value, str) and 0 < len(value) <= MAX_MANIFEST_ID and value.isprintable() and value.strip() == value
    )


def parse_matches(document: object) -> list[Match]:
    """The matches of a ``c2pa.softBindingQueryResult``; any other shape raises :class:`ValueError`.

    ``matches`` may be absent (the schema does not require it): no match. An item needs a ``manifestId``;
    ``similarityScore`` must be an integer 0-100 and ``endpoint`` a string where present."""
    if not isinstance(document, Mapping):
        raise ValueError("the answer is not a JSON object")
    items = document.get("matches", [])
    if not isinstance(items, list):
        raise ValueError("'matches' is not a list")
    if len(items) > 10 * MAX_RESULTS:
        raise ValueError("the answer lists more matches than were asked for")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError("a match is not a JSON object")
        manifest_id = item.get("manifestId")
        if not valid_manifest_id(manifest_id):
            raise ValueError("a match has no usable 'manifestId'")
        assert isinstance(manifest_id, str)
        score = item.get("similarityScore")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
            raise ValueError("a match's 'similarityScore' is not an integer from 0 to 100")
        endpoint = item.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            raise ValueError("a match's 'endpoint' is not a string")
        out.append(Match(manifest_id, score, endpoint))
    return out


def parse_algorithms(document: object) -> frozenset[str]:
    """The algorithm names of a ``c2pa.softBindingAlgList``; any other shape raises :class:`ValueError`."""
    if not isinstance(document, Mapping):
        raise ValueError("the answer is not a JSON object")
    names: set[str] = set()
    for key in ("watermarks", "fingerprints"):
        items = document.get(key, [])
        if not isinstance(items, list):
            raise ValueError(f"{key!r} is not a list")
        for item in items:
            alg = item.get("alg") if isinstance(item, Mapping) else None
            if not isinstance(alg, str) or not alg:
                raise ValueError(f"an item of {key!r} has no 'alg'")
            names.add(alg)
    return frozenset(names)
