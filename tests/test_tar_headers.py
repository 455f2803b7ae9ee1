"""Tar shards whose damage tarfile itself passes over in silence: a corrupt member header ends its archive
without an error, and so does a zeroed one. The tar source reports both; and it yields whole samples
(sidecars too) when asked, under the same refusals."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from rightsmark.sources.tar import TarSource

from .test_sources import tar_bytes

BLOCK = 512


def _shard() -> bytes:
    """Four members of 1000 bytes each (a header block and two data blocks apiece)."""
    return tar_bytes([(f"{i:06d}.jpg", b"\xff\xd8\xff" + bytes([i]) * 997) for i in range(4)])


def _items(path: Path, **kw: bool) -> list[tuple[str, str | None]]:
    return [(item.key[len(str(path)) + 1 :], item.error) for item in TarSource(path, **kw)]


def _roles(path: Path) -> list[tuple[str, str]]:
    return [(item.key[len(str(path)) + 1 :], item.role) for item in TarSource(path)]


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda b: b.__setitem__(6 * BLOCK + 3, b[6 * BLOCK + 3] ^ 1), "corrupt member header (bad checksum)"),
        (lambda b: b.__setitem__(slice(6 * BLOCK, 7 * BLOCK), bytes(BLOCK)), "data after the end-of-archive marker"),
    ],
    ids=["bad-checksum", "zeroed-header"],
)
@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_a_damaged_member_header_is_an_error_not_the_end(
    tmp_path: Path, damage: Callable[[bytearray], None], says: str, gz: bool
) -> None:
    raw = bytearray(_shard())
    damage(raw)  # the third member's header: one bit of its name flipped, or all of it zeroed
    path = tmp_path / ("s.tar.gz" if gz else "s.tar")
    path.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    got = _items(path)
    assert [k for k, _ in got[:2]] == ["000000.jpg", "000001.jpg"] and got[0][1] is None and got[1][1] is None
    assert len(got) == 3 and got[2][0] == "" and says in (got[2][1] or "")  # keyed by the shard: nothing lost silently


def test_an_intact_shard_with_record_padding_has_no_error(tmp_path: Path) -> None:
    path = tmp_path / "s.tar"
    path.write_bytes(_shard() + bytes(20 * BLOCK))  # more zeros after the end marker, as tar's blocking factor leaves
    assert [error for _, error in _items(path)] == [None] * 4


def test_sidecars_are_yielded_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "s.tar"
    image = b"\xff\xd8\xff" + bytes(100)
    members = [("a.jpg", image), ("a.json", b"{}"), ("a.txt", b"cap"), ("b.json", b"{}"), ("b.json", b"{}")]
    path.write_bytes(tar_bytes(members))
    # without sidecars=True, other members come unread, marked as not images (verify counts them)
    assert [(key, role) for key, role in _roles(path)] == [
        ("a.jpg", "image"),
        ("a.json", "sidecar"),
        ("a.txt", "sidecar"),
        ("b.json", "other"),
        ("b.json", "other"),
    ]
    got = [(item.key.rsplit("/", 1)[1], item.data, item.reason) for item in TarSource(path, sidecars=True)]
    assert got == [
        ("a.jpg", image, None),
        ("a.json", b"{}", None),
        ("a.txt", b"cap", None),
        ("b.json", None, "duplicate-key"),  # the same refusals as for images
        ("b.json", None, "duplicate-key"),
    ]
