"""How a repository finds fingerprints: multi-index hashing on the 64-bit ISCC prefix, then the whole code.

A fingerprint match (:func:`rightsmark.softbinding.iscc.within`) needs both: the 64-bit prefixes (the
image's lowest frequencies) at most :data:`~rightsmark.softbinding.iscc.PREFIX_RADIUS` bits apart, and the
whole 256-bit codes at most ``max_distance`` apart. The index serves the first: the prefix
(:func:`rightsmark.softbinding.iscc.prefix`) is cut into :data:`BANDS` bands of :data:`BAND_BITS` bits, each
kept in its own indexed column, and a query probes band ``i`` with every value within ``r_i`` bits of its own
band ``i`` (exact lookups in the index). If a stored prefix differs from the query's in ``d_i`` bits in band
``i`` and no probe found it, every ``d_i > r_i``, so the prefixes differ in at least ``sum(r_i + 1)`` bits:
choosing ``sum(r_i) >= radius - BANDS + 1`` therefore finds *every* stored code whose prefix is within the
radius (the generalised pigeonhole principle). At the prefix radius 4, band 0 is probed with its value and
its 16 one-bit variants, the others with their value alone: 20 lookups. The candidates' whole codes are then
compared (:func:`rank`). The probes' cost grows quickly with the radius: prefix radii beyond
:data:`MAX_SEARCH_DISTANCE` are refused rather than clipped (a clipped search would silently miss).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from itertools import combinations

from rightsmark.repository.base import RepositoryError
from rightsmark.softbinding import iscc
from rightsmark.softbinding.model import SoftBindingError

BANDS = 4
BAND_BITS = 16
_BAND_MASK = (1 << BAND_BITS) - 1
#: the largest prefix radius the index is probed within (4,608 index probes per query)
MAX_SEARCH_DISTANCE = 16
#: the largest ``max_distance`` (over 256 bits) a fingerprint search accepts
MAX_DISTANCE = 64


def split(prefix: int) -> tuple[int, ...]:
    """The bands of a 64-bit prefix, most significant first."""
    return tuple((prefix >> (BAND_BITS * (BANDS - 1 - i))) & _BAND_MASK for i in range(BANDS))


def signed64(value: int) -> int:
    """An unsigned 64-bit prefix as the signed 64-bit integer SQL columns hold."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned64(value: int) -> int:
    return value & ((1 << 64) - 1)


def radii(max_distance: int) -> tuple[int, ...]:
    """The bits ``r_i`` each band is probed within so that every code within ``max_distance`` is found."""
    if not 0 <= max_distance <= MAX_SEARCH_DISTANCE:
        raise RepositoryError(
            f"a fingerprint search reaches 0 to {MAX_SEARCH_DISTANCE} bits, not {max_distance}",
            hint="ask for a smaller distance",
        )
    total = max(0, max_distance - BANDS + 1)
    return tuple(total // BANDS + (1 if i < total % BANDS else 0) for i in range(BANDS))


@cache
def _masks(radius: int) -> tuple[int, ...]:
    """Every 16-bit mask with at most ``radius`` bits set, fewest bits first."""
    found = [0]
    for bits in range(1, radius + 1):
        for chosen in combinations(range(BAND_BITS), bits):
            found.append(sum(1 << b for b in chosen))
    return tuple(found)


def reach(max_distance: int) -> int:
    """How far the prefixes of two matching codes may be apart (:func:`rightsmark.softbinding.iscc.within`)."""
    if not 0 <= max_distance <= MAX_DISTANCE:
        raise RepositoryError(
            f"a fingerprint search reaches 0 to {MAX_DISTANCE} bits, not {max_distance}",
            hint="ask for a smaller distance",
        )
    return min(iscc.PREFIX_RADIUS, max_distance)


def probes(prefix: int, max_distance: int) -> list[list[int]]:
    """For each band, the values to look up so that every code matching within ``max_distance`` is found."""
    radius = reach(max_distance)
    return [[band ^ m for m in _masks(r)] for band, r in zip(split(prefix), radii(radius), strict=True)]


def columns(value: bytes) -> tuple[int, int, int, int, int]:
    """What a repository stores beside an ISCC value: its prefix (signed 64-bit) and its four bands.

    A value that is not an ISCC image code raises :class:`~rightsmark.softbinding.model.SoftBindingError`."""
    prefix = iscc.prefix(value)
    b0, b1, b2, b3 = split(prefix)
    return signed64(prefix), b0, b1, b2, b3


def near(query: int, rows: Iterable[tuple[int, int]], max_distance: int) -> list[int]:
    """The ids of ``(id, stored signed prefix)`` rows whose prefix is within reach of ``query`` for a search
    within ``max_distance`` (a first, cheap cut: the whole codes are then compared)."""
    radius = reach(max_distance)
    found = set()
    for i, p in rows:
        if not isinstance(p, int):
            raise RepositoryError(
                "a kept fingerprint's prefix is not a number: the repository is damaged",
                hint="register its manifests again in a fresh repository",
            )
        if (unsigned64(p) ^ query).bit_count() <= radius:
            found.add(i)
    return sorted(found)


def rank(query: bytes, rows: Iterable[tuple[int, str, bytes]], max_distance: int, limit: int) -> list[tuple[str, int]]:
    """``(manifest_id, distance)`` of the ``(id, manifest_id, value)`` rows within ``max_distance`` of
    ``query`` over the bodies both have: nearest first, then the one stored first; one per manifest."""
    best: dict[str, tuple[int, int]] = {}
    for row_id, manifest_id, value in rows:
        try:
            d = iscc.within(query, value, max_distance)
        except SoftBindingError:
            raise RepositoryError(
                f"the fingerprint kept for manifest {manifest_id} is not an ISCC image code",
                hint="the repository is damaged; register that manifest again in a fresh one",
            ) from None
        if d is not None and (manifest_id not in best or (d, row_id) < best[manifest_id]):
            best[manifest_id] = (d, row_id)
    ordered = sorted(best.items(), key=lambda item: item[1])
    return [(manifest_id, d) for manifest_id, (d, _) in ordered[:limit]]


def check_limit(limit: int) -> None:
    if limit < 1:
        raise RepositoryError(f"a search returns at least one candidate, not {limit}")
