"""Fingerprint lookup in the embedded (SQLite) manifest repository at scale, against a brute-force scan.

    python benchmarks/bench_repository.py                          # 1,000,000 manifests, 1,000 queries
    python benchmarks/bench_repository.py --entries 100000 --queries 500 --workdir /tmp/rb

The repository is filled through :meth:`SqliteRepository.add_many` (batches of --batch entries, one
transaction each) with SYNTHETIC entries: ISCC image codes with the header of a real one (a 256-bit
Content-Code Image, version 0) and random bodies, a third of them near-duplicates (1 to 24 bits away) of
earlier ones, as a real collection holds versions of one picture; each manifest store is a small fake blob
(--store-bytes random bytes). Nothing here is signed: the benchmark measures the index, not validation.
An existing repository of the same size in --workdir is reused (--rebuild makes it again).

Queries: near-duplicates of stored codes (0 to --max-distance bits flipped anywhere in the 256-bit body,
evenly; those the match rule accepts, their prefix near enough too, must be found) and
unrelated random codes (--unrelated of them), looked up with ``find(max_distance=--max-distance)``. Each
query is timed alone, wall clock (perf_counter) and this thread's CPU time (thread_time; other programs on the
machine cost wall time, not CPU time); p50, p95, p99 and max are reported. Every near-duplicate must be found
(its own entry, or one at most as far). The baseline, timed in the same run on --brute queries: a full scan
of every stored prefix (one SELECT, popcount in Python) and the exact distance for those within reach: what a
lookup costs without the band index. Its answers must equal the index's.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rightsmark.repository import bands  # noqa: E402
from rightsmark.repository.base import DEFAULT_MAX_DISTANCE, Entry  # noqa: E402
from rightsmark.repository.sqlite import SqliteRepository  # noqa: E402
from rightsmark.softbinding import iscc  # noqa: E402
from rightsmark.softbinding.model import ISCC_ALG, SoftBinding  # noqa: E402


def header() -> bytes:
    """The 2-byte ISCC header of a real 256-bit image code (that of the bundled harbour photograph)."""
    return iscc.fingerprint(REPO / "examples" / "images" / "harbour.jpg").value[:2]


def flip(body: bytes, bits: int, rnd: random.Random) -> bytes:
    out = bytearray(body)
    for bit in rnd.sample(range(len(body) * 8), bits):
        out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def bodies(n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out: list[bytes] = []
    for i in range(n):
        if i >= 10 and rnd.random() < 1 / 3:
            out.append(flip(out[rnd.randrange(i)], rnd.randint(1, 24), rnd))
        else:
            out.append(rnd.randbytes(32))
    return out


def build(path: Path, n: int, batch: int, store_bytes: int, head: bytes, seed: int) -> float:
    rnd = random.Random(seed + 1)
    started = time.perf_counter()
    made = bodies(n, seed)
    with SqliteRepository(path, create=True) as repo:
        for start in range(0, n, batch):
            entries = [
                Entry(f"urn:c2pa:bench:{i:08d}", rnd.randbytes(store_bytes), (SoftBinding(ISCC_ALG, head + made[i]),))
                for i in range(start, min(n, start + batch))
            ]
            repo.add_many(entries)
            print(f"  {min(n, start + batch):,} added", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return time.perf_counter() - started


def brute(repo: SqliteRepository, query: bytes, max_distance: int, limit: int) -> list[tuple[str, int]]:
    """The lookup without the index: every stored prefix compared, the exact distance of those within reach."""
    prefix = iscc.prefix(query)
    reach = bands.reach(max_distance)
    db = repo._db  # the benchmark reads the same file the same way, minus the band index
    near = [
        i
        for i, p in db.execute("SELECT id, prefix FROM bindings")
        if (bands.unsigned64(p) ^ prefix).bit_count() <= reach
    ]
    marks = ",".join("?" * len(near))
    rows = (
        db.execute(f"SELECT id, manifest_id, value FROM bindings WHERE id IN ({marks})", near).fetchall()
        if near
        else []
    )
    return bands.rank(query, rows, max_distance, limit)


def percentiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.3f}  p95 {q[94]:.3f}  p99 {q[98]:.3f}  max {max(values):.3f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--unrelated", type=int, default=None, help="unrelated queries among --queries (default 1/5)")
    ap.add_argument("--brute", type=int, default=10, help="queries timed again by a full scan")
    ap.add_argument("--max-distance", type=int, default=DEFAULT_MAX_DISTANCE)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--store-bytes", type=int, default=256)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/rightsmark-bench-repository"))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    head = header()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"repo-{args.entries}.db"
    if args.rebuild and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if path.exists():
        print(f"reusing {path}")
    else:
        took = build(path, args.entries, args.batch, args.store_bytes, head, args.seed)
        print(f"built {path}: {args.entries:,} synthetic manifests in {took:.1f} s")
    size = os.path.getsize(path) / 2**20
    print(f"file size {size:.0f} MiB; synthetic fingerprints and fake {args.store_bytes}-byte stores (nothing signed)")

    stored = bodies(args.entries, args.seed)
    rnd = random.Random(args.seed + 2)
    unrelated = args.queries // 5 if args.unrelated is None else args.unrelated
    queries: list[tuple[bytes, int | None, str | None]] = []
    for k in range(args.queries - unrelated):
        i = rnd.randrange(args.entries)
        d = k % (args.max_distance + 1)
        value = head + flip(stored[i], d, rnd)
        # expected to be found where the one rule says it matches (its prefix near enough too)
        want = (
            f"urn:c2pa:bench:{i:08d}" if iscc.within(value, head + stored[i], args.max_distance) is not None else None
        )
        queries.append((value, d, want))
    queries += [(head + rnd.randbytes(32), None, None) for _ in range(unrelated)]
    rnd.shuffle(queries)

    wall: list[float] = []
    cpu: list[float] = []
    missed = 0
    with SqliteRepository(path) as repo:
        assert repo.count() == args.entries, "the repository holds another number of manifests; pass --rebuild"
        repo.find(SoftBinding(ISCC_ALG, queries[0][0]), max_distance=args.max_distance)  # warm the page cache
        for value, d, want in queries:
            q = SoftBinding(ISCC_ALG, value)
            w0, c0 = time.perf_counter(), time.thread_time()
            found = repo.find(q, max_distance=args.max_distance)
            c1, w1 = time.thread_time(), time.perf_counter()
            wall.append((w1 - w0) * 1000)
            cpu.append((c1 - c0) * 1000)
            crowded = len(found) == 10 and found[-1].distance <= (d or 0)  # ten others at least as near
            if want is not None and not (any(c.manifest_id == want for c in found) or crowded):
                missed += 1
        sample = queries[: args.brute]
        brute_wall, index_wall = [], []
        for value, _, _ in sample:
            w0 = time.perf_counter()
            slow = brute(repo, value, args.max_distance, 10)
            w1 = time.perf_counter()
            fast = repo.find(SoftBinding(ISCC_ALG, value), max_distance=args.max_distance)
            w2 = time.perf_counter()
            assert [(c.manifest_id, c.distance) for c in fast] == slow, "the index and the scan disagree"
            brute_wall.append((w1 - w0) * 1000)
            index_wall.append((w2 - w1) * 1000)

    probes = sum(len(p) for p in bands.probes(0, args.max_distance))
    near = args.queries - unrelated
    print(
        f"{args.queries:,} queries ({near:,} near-duplicates at 0-{args.max_distance} bits, {unrelated:,} unrelated), "
        f"max_distance {args.max_distance} ({probes} index probes per query)"
    )
    print(f"  find, wall  {percentiles(wall)}")
    print(f"  find, CPU   {percentiles(cpu)}")
    expected = sum(1 for _, _, want in queries if want is not None)
    print(
        f"  near-duplicates that match by the rule (prefix within {iscc.PREFIX_RADIUS}): {expected} of {near};"
        f" not found: {missed}"
    )
    print(
        f"  brute-force scan ({len(sample)} queries, same answers): median {statistics.median(brute_wall):.1f} ms "
        f"against {statistics.median(index_wall):.3f} ms with the index: "
        f"{statistics.median(brute_wall) / statistics.median(index_wall):,.0f}x"
    )
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
