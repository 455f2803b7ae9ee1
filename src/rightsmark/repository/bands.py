"""How a repository finds fingerprints by Hamming distance: multi-index hashing on the 64-bit ISCC prefix.

The 64-bit prefix of an ISCC image code (:func:`rightsmark.softbinding.iscc.prefix`) is cut into
:data:`BANDS` bands of :data:`BAND_BITS` bits, each kept in its own indexed column. A query probes band
``i`` with every value within ``r_i`` bits of its own band ``i`` (exact lookups in the index). If a stored
prefix differs from the query's in ``d_i`` bits in band ``i`` and no probe found it, every ``d_i > r_i``,
so the prefixes differ in at least ``sum(r_i + 1)`` bits: choosing ``sum(r_i) >= max_distance - BANDS + 1``
therefore finds *every* stored code within ``max_distance`` (the generalised pigeonhole principle). Up to
distance 3 one exact probe per band suffices, up to 7 the exact value and its 16 one-bit variants
(4 x 17 probes), at 8 (the default) band 0 adds its two-bit variants (137 + 3 x 17 probes).

The distance that decides a match is the exact one over the whole bodies both codes have
(:func:`rightsmark.softbinding.iscc.distance`); it is never smaller than the prefixes' distance, so the
probes miss nothing. The probes' cost grows quickly with the radius: searches beyond
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
#: the largest ``max_distance`` a fingerprint search accepts (4,608 index probes per query)
MAX_SEARCH_DISTANCE = 16


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


def probes(prefix: int, max_distance: int) -> list[list[int]]:
    """For each band, the values to look up so that every prefix within ``max_distance`` is found."""
    return [[band ^ m for m in _masks(r)] for band, r in zip(split(prefix), radii(max_distance), strict=True)]


def columns(value: bytes) -> tuple[int, int, int, int, int]:
    """What a repository stores beside an ISCC value: its prefix (signed 64-bit) and its four bands.

    A value that is not an ISCC image code raises :class:`~rightsmark.softbinding.model.SoftBindingError`."""
    prefix = iscc.prefix(value)
    b0, b1, b2, b3 = split(prefix)
    return signed64(prefix), b0, b1, b2, b3


def near(query: int, rows: Iterable[tuple[int, int]], max_distance: int) -> list[int]:
    """The ids of ``(id, stored signed prefix)`` rows whose prefix is within ``max_distance`` of ``query``
    (a first, cheap cut: the exact distance is then measured on the whole bodies)."""
    return sorted({i for i, p in rows if (unsigned64(p) ^ query).bit_count() <= max_distance})


def rank(query: bytes, rows: Iterable[tuple[int, str, bytes]], max_distance: int, limit: int) -> list[tuple[str, int]]:
    """``(manifest_id, distance)`` of the ``(id, manifest_id, value)`` rows within ``max_distance`` of
    ``query`` over the bodies both have: nearest first, then the one stored first; one per manifest."""
    best: dict[str, tuple[int, int]] = {}
    for row_id, manifest_id, value in rows:
        try:
            d = iscc.distance(query, value)
        except SoftBindingError:
            raise RepositoryError(
                f"the fingerprint kept for manifest {manifest_id} is not an ISCC image code",
                hint="the repository is damaged; register that manifest again in a fresh one",
            ) from None
        if d <= max_distance and (manifest_id not in best or (d, row_id) < best[manifest_id]):
            best[manifest_id] = (d, row_id)
    ordered = sorted(best.items(), key=lambda item: item[1])
    return [(manifest_id, d) for manifest_id, (d, _) in ordered[:limit]]


def check_limit(limit: int) -> None:
    if limit < 1:
        raise RepositoryError(f"a search returns at least one candidate, not {limit}")
