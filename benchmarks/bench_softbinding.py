"""Soft bindings measured: how often a transformed copy finds its manifest again, how often anything else does.

    python benchmarks/bench_softbinding.py --quick                     # 20 photographs, 500 unrelated
    python benchmarks/bench_softbinding.py --json /tmp/sb.json         # 200 photographs, 10,000 unrelated

--photos generated photographs (benchmarks/_photos.py: six kinds of scene, 1 to 24 MP, sensor grain; JPEG
quality 95; kept in --workdir and reused) are signed with a development key (rightsmark.keys.devca) by
Signer(watermark=True): the watermark is applied first and the ISCC fingerprint of the marked pixels is
recorded beside its identifier. Each signed file enters an SQLite repository (repository.ingest's
validation, then add_many). Copies are transformed (_photos.TRANSFORMS: metadata stripped, JPEG q90/q75/q50,
resized to 50% and to 1080 px on the long side, the centre with 10% of each side cut, PNG, the social-network
chain = 1080 px + JPEG q80 + no metadata, turned by 90 and by 2 degrees) and looked up from their pixels:

  fingerprint  the copy's ISCC code, repository.find(max_distance=DEFAULT_MAX_DISTANCE): recovered when the
               copy's own manifest is the nearest candidate (no other as near); wrong when another is found
  watermark    the identifier watermark.detect reads, found exactly in the repository
  both agree   both methods name the right manifest
  combined     what verify --recover does: where both find manifests they must agree (else nothing), else
               whichever found one

--unrelated other generated photographs (distinct seeds, 0.25 to 1 MP: small, to keep the run short) are
looked up the same way: every manifest either method names for them is a false match.

The fingerprint match radius (DEFAULT_MAX_DISTANCE) is tuned from exact distances computed here: for each
radius, recoveries per transformation, copies within reach of a wrong manifest, and unrelated pictures within
reach of any (with the per-pair rate, to scale to a larger repository); over the 256-bit code (what the
repository decides on) and over its standard 64-bit prefix.

Costs per 12 MP photograph, CPU time of this process (time.process_time: other programs on the machine do
not count), medians: sha256 of the file's bytes and a full Pillow decode (the
baselines, timed in the same run), the fingerprint, the watermark's detection and its embedding (decoding
and encoding included), on three generated 12 MP photographs (JPEG q95; each marked, the marked file timed).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _photos import TRANSFORMS, jpeg, photo  # noqa: E402
from rightsmark.repository.base import DEFAULT_MAX_DISTANCE  # noqa: E402
from rightsmark.softbinding import iscc  # noqa: E402
from rightsmark.softbinding import watermark as wm  # noqa: E402
from rightsmark.softbinding.model import ISCC_ALG, WATERMARK_ALG, SoftBinding  # noqa: E402

SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 20, 24)  # megapixels, in turn
RADII = (0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 40)
RADII_64 = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12)
#: two-stage rules (64-bit prefix within a, then 256-bit code within b): the repository probes the prefix
RULES = ((8, 8), (2, 8), (4, 16), (4, 24), (6, 24), (6, 28), (8, 24), (4, 32), (6, 32), (8, 32))
UNRELATED_SEED = 1_000_000


def cpu() -> float:
    return time.process_time()


def code_stamp() -> str:
    """What the signed files depend on: the watermark's and the fingerprint's code."""
    src = HERE.parent / "src" / "rightsmark" / "softbinding"
    return hashlib.sha256(b"".join((src / n).read_bytes() for n in ("qim.py", "watermark.py", "iscc.py"))).hexdigest()


def prepare(workdir: Path, count: int) -> list[Path]:
    """The signed photographs (made, or reused when the code they depend on is unchanged)."""
    from rightsmark.keys.devca import existing_keys, init_keys
    from rightsmark.keys.material import load_signing_material
    from rightsmark.models import Training, Use
    from rightsmark.rights.consent import ConsentDeclaration
    from rightsmark.rights.manifest import Rights
    from rightsmark.sign.signer import Signer

    keys = existing_keys(workdir / "keys") or init_keys(workdir / "keys")
    (workdir / "photos").mkdir(parents=True, exist_ok=True)
    signed_dir = workdir / "signed"
    stamp = workdir / "signed.stamp"
    if not stamp.exists() or stamp.read_text() != code_stamp():
        for old in signed_dir.glob("*.jpg"):
            old.unlink()
    signed_dir.mkdir(exist_ok=True)
    stamp.write_text(code_stamp())
    signer = Signer(load_signing_material(keys.key, keys.chain), watermark=True)
    rights = Rights(
        consent=ConsentDeclaration.no_people(), authors=("Bench",), training=Training(Use.NOT_ALLOWED, Use.NOT_ALLOWED)
    )
    out = []
    for i in range(count):
        source, signed = workdir / "photos" / f"{i:04d}.jpg", signed_dir / f"{i:04d}.jpg"
        if not source.exists():
            tmp = source.with_suffix(".tmp")
            tmp.write_bytes(jpeg(photo(i, SIZES[i % len(SIZES)])))
            tmp.rename(source)
        if not signed.exists():
            signer.sign_file(source, signed, rights)
        out.append(signed)
        print(f"\r  signed {i + 1}/{count}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def bits(value: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(iscc.body(value), dtype=np.uint8))


class Index:
    """The registered fingerprints as bit rows, for exact distances to every one of them."""

    def __init__(self, ids: list[str], codes: list[bytes]) -> None:
        self.ids = ids
        self.rows = np.stack([bits(c) for c in codes])

    def distances(self, code: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(256-bit distances, 64-bit prefix distances) from ``code`` to every registered code."""
        diff = self.rows != bits(code)[None, :]
        return diff.sum(axis=1), diff[:, :64].sum(axis=1)


def lookups(repo: Any, data: bytes) -> dict[str, Any]:
    """What each method finds for the picture ``data``."""
    from rightsmark.softbinding.pixels import PixelsError

    try:
        fp: bytes | None = iscc.fingerprint(data).value
    except PixelsError:
        fp = None
    try:
        ident, confidence = wm.read(data)
    except wm.WatermarkError:
        ident, confidence = None, 0.0
    by_fp = repo.find(SoftBinding(ISCC_ALG, fp), max_distance=DEFAULT_MAX_DISTANCE) if fp else []
    by_wm = repo.find(SoftBinding(WATERMARK_ALG, ident)) if ident else []
    return {"fp": fp, "by_fp": by_fp, "by_wm": by_wm, "confidence": confidence}


def judge(found: dict[str, Any], right: str) -> dict[str, bool]:
    """Per method: recovered (the right manifest) and wrong (another manifest named)."""
    by_fp, by_wm = found["by_fp"], found["by_wm"]
    nearest = min((c.distance for c in by_fp), default=None)
    fp_names = {c.manifest_id for c in by_fp if c.distance == nearest}
    fp_right = fp_names == {right}
    wm_names = {c.manifest_id for c in by_wm}
    wm_right = wm_names == {right}
    if fp_names and wm_names:
        combined = fp_names == wm_names == {right}
        combined_wrong = fp_names == wm_names != {right}
    else:
        combined = (fp_names or wm_names) == {right}
        combined_wrong = bool(fp_names or wm_names) and not combined
    return {
        "fingerprint": fp_right,
        "fingerprint_wrong": any(c.manifest_id != right for c in by_fp),
        "watermark": wm_right,
        "watermark_wrong": bool(wm_names - {right}),
        "both": fp_right and wm_right,
        "both_wrong": bool(fp_names - {right}) and bool(wm_names - {right}),
        "combined": combined,
        "combined_wrong": combined_wrong,
    }


METHODS = ("fingerprint", "watermark", "both", "combined")


def run_transforms(repo: Any, index: Index, signed: list[Path], ids: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, transform in TRANSFORMS.items():
        tally = {k: 0 for m in METHODS for k in (m, f"{m}_wrong")}
        right_d: list[tuple[int, int, int, int]] = []  # (d256 right, d256 nearest wrong, d64 right, d64 wrong)
        rules = {rule: [0, 0] for rule in RULES}  # recovered, wrong
        confidences = []
        for k, path in enumerate(signed):
            copy = transform(path.read_bytes())
            found = lookups(repo, copy)
            for key, hit in judge(found, ids[k]).items():
                tally[key] += hit
            confidences.append(found["confidence"])
            if found["fp"] is not None:
                d256, d64 = index.distances(found["fp"])
                others = np.ones(len(ids), bool)
                others[k] = False
                right_d.append((int(d256[k]), int(d256[others].min()), int(d64[k]), int(d64[others].min())))
                for (a, b), tally_rule in rules.items():
                    passing = (d64 <= a) & (d256 <= b)
                    wrong = passing & others
                    tally_rule[0] += bool(passing[k]) and not bool((d256[wrong] <= d256[k]).any())
                    tally_rule[1] += bool(wrong.any())
            print(f"\r  {name}: {k + 1}/{len(signed)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        results[name] = {
            "copies": len(signed),
            **tally,
            "distances": right_d,
            "rules": {f"{a}/{b}": v for (a, b), v in rules.items()},
            "watermark_confidence_min": round(min(confidences), 2),
            "watermark_confidence_median": round(statistics.median(confidences), 2),
        }
    return results


def run_unrelated(repo: Any, index: Index, count: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    false_fp = false_wm = marks = 0
    highest = 0.0
    rule_false = {f"{a}/{b}": 0 for a, b in RULES}
    nearest: list[tuple[int, int]] = []
    pairs_within: dict[int, int] = {r: 0 for r in RADII}
    pairs_within_64: dict[int, int] = {r: 0 for r in RADII_64}
    for j in range(count):
        data = jpeg(photo(UNRELATED_SEED + j, float(rng.uniform(0.25, 1.0))), 85)
        found = lookups(repo, data)
        false_fp += bool(found["by_fp"])
        false_wm += bool(found["by_wm"])
        marks += found["confidence"] >= wm.qim.MIN_CONFIDENCE
        highest = max(highest, found["confidence"])
        if found["fp"] is not None:
            d256, d64 = index.distances(found["fp"])
            nearest.append((int(d256.min()), int(d64.min())))
            for a, b in RULES:
                rule_false[f"{a}/{b}"] += bool(((d64 <= a) & (d256 <= b)).any())
            for r in RADII:
                pairs_within[r] += int((d256 <= r).sum())
            for r in RADII_64:
                pairs_within_64[r] += int((d64 <= r).sum())
        if j % 50 == 49 or j == count - 1:
            print(f"\r  unrelated: {j + 1}/{count}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {
        "pictures": count,
        "fingerprint_false_matches": false_fp,
        "watermark_false_matches": false_wm,
        "watermark_marks_read": marks,
        "watermark_highest_confidence": round(highest, 2),
        "rule_false": rule_false,
        "nearest": nearest,
        "pairs_within": pairs_within,
        "pairs_within_64": pairs_within_64,
    }


def costs(photos: int = 3) -> dict[str, float]:
    """Median CPU milliseconds per 12 MP photograph: generated ones (JPEG q95), each timed several times."""
    from PIL import Image

    keys = ("sha256", "pillow_decode", "pillow_draft_decode", "fingerprint", "wm_detect", "wm_embed")
    timings: dict[str, list[float]] = {k: [] for k in keys}

    def draft(data: bytes) -> None:
        img = Image.open(io.BytesIO(data))
        img.draft("L", (64, 64))  # what the fingerprint decodes: about 1/8 of each side
        img.load()

    def timed(key: str, fn: Any, repeat: int = 5) -> Any:
        for _ in range(repeat):
            t = cpu()
            out = fn()
            timings[key].append((cpu() - t) * 1000)
        return out

    for k in range(photos):
        original = jpeg(photo(900_000 + k, 12))
        data = timed("wm_embed", lambda o=original: wm.embed(o, "jpeg", wm.new_ident()), repeat=2)
        timed("sha256", lambda d=data: hashlib.sha256(d).digest())
        timed("pillow_decode", lambda d=data: Image.open(io.BytesIO(d)).load())
        timed("pillow_draft_decode", lambda d=data: draft(d))
        timed("fingerprint", lambda d=data: iscc.fingerprint(d))
        timed("wm_detect", lambda d=data: wm.detect(d))
    return {k: round(statistics.median(v), 1) for k, v in timings.items()} | {"photos": photos}


def register(signed: list[Path], workdir: Path) -> tuple[Any, Index, list[str]]:
    """A fresh SQLite repository holding every signed photograph's manifest (validated as `repo add` does)."""
    from rightsmark.repository.ingest import entry_from_file
    from rightsmark.repository.sqlite import SqliteRepository

    path = workdir / "repo.sqlite"
    for old in workdir.glob("repo.sqlite*"):
        old.unlink()
    entries = [entry_from_file(p) for p in signed]
    repo = SqliteRepository(path, create=True)
    repo.add_many(entries)
    codes = []
    for e in entries:
        algs = sorted(b.alg for b in e.bindings)
        if algs != sorted([ISCC_ALG, WATERMARK_ALG]):
            raise SystemExit(f"{e.manifest_id}: expected one fingerprint and one watermark, the manifest has {algs}")
        codes.append(next(b.value for b in e.bindings if b.alg == ISCC_ALG))
    ids = [e.manifest_id for e in entries]
    return repo, Index(ids, codes), ids


def curves(transforms: dict[str, Any], unrelated: dict[str, Any], registered: int) -> dict[str, Any]:
    """Fingerprint recoveries, wrong matches and false matches for each radius (256-bit and 64-bit)."""
    out: dict[str, Any] = {}
    for label, radii, right_at, wrong_at, near_at, pairs_key in (
        ("256", RADII, 0, 1, 0, "pairs_within"),
        ("64", RADII_64, 2, 3, 1, "pairs_within_64"),
    ):
        rows = []
        for r in radii:
            row: dict[str, Any] = {"radius": r}
            wrong = 0
            for name, t in transforms.items():
                ds = t["distances"]
                row[name] = sum(1 for d in ds if d[right_at] <= r and d[right_at] < d[wrong_at])
                row[f"{name}_wrong"] = sum(1 for d in ds if d[wrong_at] <= r)
                wrong += row[f"{name}_wrong"]
            row["wrong"] = wrong
            row["unrelated_false"] = sum(1 for n in unrelated["nearest"] if n[near_at] <= r)
            pairs = unrelated["pictures"] * registered
            row["pair_rate"] = unrelated[pairs_key][r] / pairs if pairs else 0.0
            rows.append(row)
        out[label] = rows
    return out


def report(result: dict[str, Any]) -> None:
    n = result["photos"]
    print(f"\nRecovery of {n} signed photographs' manifests from transformed copies (right / wrong manifest named)")
    print(f"  fingerprint radius {DEFAULT_MAX_DISTANCE} (repository.base.DEFAULT_MAX_DISTANCE)")
    print(f"  {'transformation':13s}" + "".join(f"{m:>18s}" for m in METHODS) + "   wm conf min/med")
    for name, t in result["transforms"].items():
        cells = "".join(f"{100 * t[m] / t['copies']:10.1f}% / {t[m + '_wrong']:3d}" for m in METHODS)
        conf = f"{t['watermark_confidence_min']:6.1f} /{t['watermark_confidence_median']:5.1f}"
        print(f"  {name:13s}{cells}   {conf}")
    u = result["unrelated"]
    print(
        f"\nUnrelated pictures ({u['pictures']}, 0.25-1 MP):"
        f" fingerprint false matches {u['fingerprint_false_matches']},"
        f" watermark false matches {u['watermark_false_matches']} (marks read: {u['watermark_marks_read']},"
        f" highest confidence {u['watermark_highest_confidence']}, threshold {wm.qim.MIN_CONFIDENCE})"
    )
    for label, rows in result["curves"].items():
        names = list(result["transforms"])
        print(f"\nFingerprint radius over the {label}-bit code: copies recovered (nearest is right), wrong, false")
        print(
            "  radius "
            + " ".join(f"{x[:9]:>9s}" for x in names)
            + "     wrong  unrelated  pair rate  (wrong by transformation)"
        )
        for row in rows:
            cells = " ".join(f"{row[x]:9d}" for x in names)
            by = " ".join(f"{x}:{row[x + '_wrong']}" for x in names if row[x + "_wrong"])
            tail = f"  {row['pair_rate']:.2e}  ({by})" if by else f"  {row['pair_rate']:.2e}"
            print(f"  {row['radius']:6d} {cells} {row['wrong']:9d} {row['unrelated_false']:10d}{tail}")
    names = list(result["transforms"])
    print("\nTwo-stage fingerprint rules: 64-bit prefix within a AND 256-bit code within b (recovered, then wrong)")
    print("  a/b    " + " ".join(f"{x[:9]:>9s}" for x in names) + "     wrong  unrelated")
    for a, b in RULES:
        key = f"{a}/{b}"
        cells = " ".join(f"{result['transforms'][x]['rules'][key][0]:9d}" for x in names)
        wrong = sum(t["rules"][key][1] for t in result["transforms"].values())
        print(f"  {key:6s} {cells} {wrong:9d} {result['unrelated']['rule_false'][key]:10d}")
    c = result["costs"]
    print(f"\nCPU ms per 12 MP photograph (median, {c['photos']} photographs, process CPU time):")
    for key in ("sha256", "pillow_decode", "pillow_draft_decode", "fingerprint", "wm_detect", "wm_embed"):
        print(f"  {key:20s} {c[key]:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--unrelated", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="20 photographs, 500 unrelated pictures")
    parser.add_argument("--json", type=Path, help="write every number (and the raw distances) here")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rightsmark-bench-softbinding")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.unrelated = min(args.photos, 20), min(args.unrelated, 500)
    os.environ.setdefault("RIGHTSMARK_CACHE_DIR", str(args.workdir / "cache"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = cpu()
    signed = prepare(args.workdir, args.photos)
    repo, index, ids = register(signed, args.workdir)
    transforms = run_transforms(repo, index, signed, ids)
    unrelated = run_unrelated(repo, index, args.unrelated)
    result = {
        "photos": len(signed),
        "megapixels": [SIZES[i % len(SIZES)] for i in range(len(signed))],
        "max_distance": DEFAULT_MAX_DISTANCE,
        "transforms": transforms,
        "unrelated": unrelated,
        "curves": curves(transforms, unrelated, len(ids)),
        "costs": costs(),
        "cpu_seconds": round(cpu() - started, 1),
    }
    repo.close()
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
