"""A seeded mutation fuzzer for rightsmark's readers: hostile input must never crash them.

Seeds are real C2PA files (the shared corpus, ``../shared/corpus/files``) and files signed here in
every format rightsmark signs. Each input is one seed with one to three mutations (byte flips,
truncation, duplicated, deleted, spliced and inserted ranges, box size and type damage), aimed at
the manifest store (the JUMBF boxes) most of the time. Every input goes through, in this process:

- :class:`rightsmark.verify.verifier.Verifier` (``verify_bytes`` and ``verify_file``),
- :func:`rightsmark.verify.inspection.inspect_file` (and its text rendering,
  :func:`rightsmark.reports.formats.inspect_text`),
- :class:`rightsmark.audit.auditor.Auditor` (``audit_bytes``; the audit's JSON, text tree and SVG chain),
- :class:`rightsmark.verify.bulk.BulkVerifier` (``jobs=1``, in batches),

and the checks are: no exception escapes, every input gets exactly one record (bulk, in order), and
nothing is called ``valid`` that the C2PA engine alone, read directly, does not call valid
(``validation_state`` Invalid, an exception or no manifest).

Input ``i`` of a run depends only on the seed ``S``, ``i`` and the seed files, so any failure can be
replayed: ``python -m tests.fuzz --seed S --replay i``. Longer runs on demand::

    python -m tests.fuzz --seconds 600 --seed 7 --out fuzz-failures/

Each failing input is saved to the out folder as ``NAME.bin`` (the bytes) and ``NAME.json`` (seed
file, mutations, failures, tracebacks); ``python -m tests.fuzz --check NAME.bin`` runs one again.
Failures explained by a bug in :data:`KNOWN_BUGS` are listed but do not fail the run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import io
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_IMAGES = REPO / "examples" / "images"
CORPUS_FILES = REPO.parent / "shared" / "corpus" / "files"

#: Corpus files above this size are left out of the seeds (throughput: the engine reads each input ~5 times).
MAX_SEED_BYTES = 512 * 1024
#: Share of mutations placed inside the manifest store when the seed has one.
HOT_SHARE = 0.75
#: Inputs per bulk batch (BulkVerifier with jobs=1 sees them as one stream of items).
BULK_BATCH = 16
#: Share of inputs that are hostile assertion content, validly signed (when a signing key is given).
HOSTILE_SHARE = 0.08

_MIME_BY_SUFFIX = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".dng": "image/x-adobe-dng",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".jxl": "image/jxl",
    ".svg": "image/svg+xml",
}


# ---------------------------------------------------------------------------------------------
# Seeds


@dataclasses.dataclass(frozen=True)
class Seed:
    name: str  # where it came from: corpus/<relative path> or signed/<example name>
    data: bytes
    suffix: str  # the file name suffix mutated copies are written with
    hot: tuple[tuple[int, int], ...]  # byte ranges of the manifest store (JUMBF) in data
    heads: tuple[int, ...]  # offsets of JUMBF box headers (size + type) in data


def _walk_boxes(data: bytes, start: int, end: int, heads: list[int], depth: int = 0) -> None:
    from rightsmark.engine.jumbf import _boxes

    if depth > 12:
        return
    for kind, p0, p1 in _boxes(data, start, end):
        heads.append(p0 - 8 if data[p0 - 4 : p0] == kind else p0 - 16)
        if kind == b"jumb":
            _walk_boxes(data, p0, p1, heads, depth + 1)


def manifest_regions(data: bytes) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """(ranges, box header offsets) of the JUMBF manifest store(s) found in ``data``.

    A ``jumb`` superbox whose description box is labelled ``c2pa`` spans (start, start + size),
    clipped to the file (in JPEG the store runs on across APP11 segments, so the range is
    approximate there); boxes inside are walked with :mod:`rightsmark.engine.jumbf`'s walker. Loose
    ``cbor``/``jumd``/``c2pa`` markers elsewhere add a small window each.
    """
    ranges: list[tuple[int, int]] = []
    heads: list[int] = []
    pos = data.find(b"jumb")
    while pos != -1 and len(ranges) < 64:
        start = pos - 4
        if start >= 0:
            size = int.from_bytes(data[start:pos], "big")
            if size >= 8:
                end = min(len(data), start + size)
                # only the manifest store (or a piece of it): its description follows at once
                if data[pos + 8 : pos + 12] == b"jumd":
                    ranges.append((start, end))
                    heads.append(start)
                    _walk_boxes(data, pos + 4, end, heads)
        pos = data.find(b"jumb", pos + 4)
    for marker in (b"cbor", b"c2pa", b"jumd"):
        pos = data.find(marker)
        count = 0
        while pos != -1 and count < 256:
            ranges.append((max(0, pos - 16), min(len(data), pos + 64)))
            count += 1
            pos = data.find(marker, pos + 4)
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    valid_heads = sorted({h for h in heads if 0 <= h <= len(data) - 8})
    return tuple(merged), tuple(valid_heads)


def make_seed(name: str, data: bytes, suffix: str) -> Seed:
    hot, heads = manifest_regions(data)
    return Seed(name, data, suffix, hot, heads)


def corpus_seeds(root: Path = CORPUS_FILES, max_bytes: int = MAX_SEED_BYTES) -> list[Seed]:
    """Real C2PA files of the shared corpus (sorted, those up to ``max_bytes``); empty when absent."""
    if not root.is_dir():
        return []
    seeds = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.stat().st_size > max_bytes or path.stat().st_size == 0:
            continue
        seeds.append(make_seed(f"corpus/{path.relative_to(root)}", path.read_bytes(), path.suffix.lower() or ".bin"))
    return seeds


def signed_seeds(signer: Any, rights: Any, workdir: Path) -> list[Seed]:
    """The bundled sample images signed by ``signer`` (a :class:`rightsmark.sign.signer.Signer`), one per format."""
    seeds = []
    out = workdir / "signed-seeds"
    out.mkdir(parents=True, exist_ok=True)
    for src in sorted(EXAMPLE_IMAGES.iterdir()):
        if src.suffix.lower() not in _MIME_BY_SUFFIX:
            continue
        dest = out / src.name
        signer.sign_file(src, dest, rights, force=True)
        seeds.append(make_seed(f"signed/{src.name}", dest.read_bytes(), src.suffix.lower()))
    return seeds


def standalone_signer(workdir: Path) -> tuple[Any, Any]:
    """A signer with fresh development keys and rights the default policy keeps (outside pytest)."""
    from rightsmark.keys.devca import init_keys
    from rightsmark.keys.material import load_signing_material
    from rightsmark.sign.signer import Signer
    from tests.conftest import open_rights

    keys = init_keys(workdir / "keys")
    return Signer(load_signing_material(keys.key, keys.chain)), open_rights()


# ---------------------------------------------------------------------------------------------
# Mutations

_INTERESTING_SIZES = (0, 1, 7, 8, 9, 15, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 0x10000)
_BOX_TYPES = (b"jumb", b"jumd", b"cbor", b"json", b"bidb", b"c2pa", b"uuid", b"\x00\x00\x00\x00", b"free")


def _pick_offset(rng: random.Random, seed: Seed, size: int) -> int:
    if size <= 0:
        return 0
    if seed.hot and rng.random() < HOT_SHARE:
        a, b = rng.choice(seed.hot)
        a, b = min(a, size - 1), min(b, size)
        if b > a:
            return rng.randrange(a, b)
    return rng.randrange(size)


def _range(rng: random.Random, seed: Seed, size: int, longest: int = 4096) -> tuple[int, int]:
    start = _pick_offset(rng, seed, size)
    length = min(size - start, int(rng.expovariate(1 / 64)) + 1, longest)
    return start, start + max(length, 0)


def mutate(rng: random.Random, seed: Seed, others: Sequence[Seed]) -> tuple[bytes, list[dict[str, Any]]]:
    """One to three mutations of ``seed``; returns the bytes and a description of each mutation."""
    data = bytearray(seed.data)
    done: list[dict[str, Any]] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        size = len(data)
        if size == 0:
            break
        op = rng.choices(
            ("flip", "set", "truncate", "duplicate", "delete", "splice", "insert", "box_size", "box_type"),
            weights=(20, 12, 8, 10, 8, 12, 10, 14 if seed.heads else 0, 6 if seed.heads else 0),
        )[0]
        if op == "flip":
            spots = [_pick_offset(rng, seed, size) for _ in range(rng.randint(1, 8))]
            for at in spots:
                data[at] ^= 1 << rng.randrange(8)
            done.append({"op": op, "at": spots})
        elif op == "set":
            spots = [_pick_offset(rng, seed, size) for _ in range(rng.randint(1, 4))]
            for at in spots:
                data[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
            done.append({"op": op, "at": spots})
        elif op == "truncate":
            at = _pick_offset(rng, seed, size)
            del data[at:]
            done.append({"op": op, "at": at})
        elif op == "duplicate":
            a, b = _range(rng, seed, size)
            piece = bytes(data[a:b])
            at = rng.choice((b, _pick_offset(rng, seed, size)))
            data[at:at] = piece
            done.append({"op": op, "range": [a, b], "to": at})
        elif op == "delete":
            a, b = _range(rng, seed, size)
            del data[a:b]
            done.append({"op": op, "range": [a, b]})
        elif op == "splice":
            donor = rng.choice(others) if others else seed
            da, db = _range(rng, donor, len(donor.data), longest=16384)
            a, b = _range(rng, seed, size)
            if rng.random() < 0.5:
                b = a  # insert rather than replace
            data[a:b] = donor.data[da:db]
            done.append({"op": op, "donor": donor.name, "donor_range": [da, db], "range": [a, b]})
        elif op == "insert":
            at = _pick_offset(rng, seed, size)
            blob = rng.randbytes(rng.choice((1, 2, 4, 8, rng.randint(1, 512))))
            data[at:at] = blob
            done.append({"op": op, "at": at, "length": len(blob)})
        elif op == "box_size":
            head = rng.choice(seed.heads)
            if head + 4 <= size:
                value = rng.choice(
                    (*_INTERESTING_SIZES, max(0, int.from_bytes(data[head : head + 4], "big") + rng.randint(-16, 16)))
                )
                data[head : head + 4] = (value & 0xFFFFFFFF).to_bytes(4, "big")
                done.append({"op": op, "at": head, "value": value})
        elif op == "box_type":
            head = rng.choice(seed.heads)
            if head + 8 <= size:
                kind = rng.choice(_BOX_TYPES)
                data[head + 4 : head + 8] = kind
                done.append({"op": op, "at": head, "type": kind.decode("latin-1")})
    return bytes(data), done


def make_input(run_seed: int, index: int, seeds: Sequence[Seed]) -> tuple[Seed, bytes, list[dict[str, Any]]]:
    """Input ``index`` of the run with ``run_seed``: deterministic given the seeds."""
    rng = random.Random(f"rightsmark-fuzz:{run_seed}:{index}")
    seed = seeds[rng.randrange(len(seeds))]
    data, done = mutate(rng, seed, seeds)
    return seed, data, done


# ---------------------------------------------------------------------------------------------
# Hostile content, validly signed: the engine accepts almost any assertion content, so a file can
# carry a manifest that validates and still holds values no rightsmark signer would write. Byte
# mutations never get there (they break the hashes first); these inputs reach the code that reads
# authors, license, training, consent and actions out of an intact manifest.

_DEEP: Any = "bottom"
for _ in range(40):
    _DEEP = [_DEEP] if len(str(_DEEP)) % 2 else {"n": _DEEP}

HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**64 + 1,
    -(2**63) - 1,
    1.5e308,
    -0.0,
    "",
    " ",
    "x" * 5000,
    "\u0000",
    "\u202e\u00e9\U0001f600",
    "not a url",
    "http://",
    "2999-13-45T99:99:99Z",
    "1970-01-01T00:00:00Z",
    "CC-BY-4.0 OR MIT",
    "allowed",
    "notAllowed",
    "constrained",
    [],
    {},
    [None],
    [1, "a", {}],
    {"@id": None},
    {"@type": []},
    _DEEP,
)


def _slots(node: Any, out: list[tuple[Any, Any]], depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _slots(value, out, depth + 1)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            _slots(value, out, depth + 1)


def hostile_definition(rng: random.Random, base: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A copy of a rightsmark manifest definition with one to three assertion values made hostile."""
    definition = copy.deepcopy(base)
    done: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 3)):
        assertions = definition["assertions"]
        # the engine refuses most damaged c2pa.actions (and cawg.metadata) content: aim at the rest
        weights = [1 if a["label"] in ("c2pa.actions", "c2pa.actions.v2") else 4 for a in assertions]
        target = rng.choices(range(len(assertions)), weights=weights)[0]
        op = rng.choices(("replace", "delete", "add", "duplicate", "retype"), weights=(10, 3, 3, 1, 2))[0]
        if op == "duplicate":
            assertions.append(copy.deepcopy(assertions[target]))
            done.append({"op": "duplicate_assertion", "label": assertions[target]["label"]})
            continue
        if op == "retype":
            value = rng.choice(HOSTILE_VALUES)
            assertions[target]["data"] = {"value": value} if not isinstance(value, dict) else value
            done.append({"op": "replace_assertion_data", "label": assertions[target]["label"]})
            continue
        slots: list[tuple[Any, Any]] = []
        _slots(assertions[target]["data"], slots)
        if not slots:
            continue
        parent, key = rng.choice(slots)
        value = rng.choice(HOSTILE_VALUES)
        if op == "replace":
            parent[key] = copy.deepcopy(value)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[f"x-{rng.randrange(100)}"] = copy.deepcopy(value)
        else:
            parent.append(copy.deepcopy(value))
        shown = key if isinstance(key, int) else str(key)[:40]
        done.append(
            {"op": f"{op}_value", "label": assertions[target]["label"], "key": shown, "value": repr(value)[:60]}
        )
    return definition, done


class HostileSigner:
    """Signs sample images with rightsmark's own manifest definition made hostile (see above)."""

    IMAGES = ("harbour.jpg", "market.png", "street.webp")

    def __init__(self, material: Any) -> None:
        from rightsmark._version import __version__
        from rightsmark.engine import adapter as engine
        from rightsmark.engine.building import engine_signer
        from rightsmark.rights.manifest import manifest_definition
        from tests.conftest import open_rights

        self._context = engine.signing_context()
        self._signer = engine_signer(material)
        self.base = manifest_definition(
            open_rights(), title="fuzz", generator=engine.GENERATOR, version=__version__, edit=False
        )
        self._images = {name: (EXAMPLE_IMAGES / name).read_bytes() for name in self.IMAGES}

    def make(self, rng: random.Random) -> tuple[Seed, bytes | None, list[dict[str, Any]]]:
        import c2pa

        name = rng.choice(self.IMAGES)
        suffix = Path(name).suffix
        seed = Seed(f"hostile-signed/{name}", self._images[name], suffix, (), ())
        definition, done = hostile_definition(rng, self.base)
        try:
            data = self.sign(definition, name)
        except c2pa.C2paError as exc:  # the engine refused this content: nothing to read back
            return seed, None, [*done, {"refused": str(exc)[:200]}]
        return seed, data, done

    def sign(self, definition: dict[str, Any], name: str = "harbour.jpg") -> bytes:
        """The sample image ``name`` signed with ``definition`` (raises the engine's error if refused)."""
        import c2pa

        out = io.BytesIO()
        with c2pa.Builder.from_json(json.dumps(definition), context=self._context) as builder:
            builder.sign(self._signer, _MIME_BY_SUFFIX[Path(name).suffix], io.BytesIO(self._images[name]), out)
        return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Known bugs: found by this fuzzer, owned by others, not fixed yet. A failure whose every problem
# matches one of these is reported apart (give each a strict xfail in tests/test_fuzz.py, which flags
# the fix); anything else fails the run.

KNOWN_BUGS: dict[str, tuple[str, Callable[[str], bool]]] = {
    # id: (description, matcher of a problem's text). Empty: the two bugs found so far (a validly signed
    # consent whose subjects is not a list of objects crashed audit and inspect's text) are fixed.
}


def known_bug(failure_problems: Sequence[str]) -> str | None:
    """The ids of the known bugs that explain every problem of a failure (comma-separated), or None."""
    found: list[str] = []
    for problem in failure_problems:
        bug = next((b for b, (_, matches) in KNOWN_BUGS.items() if matches(problem)), None)
        if bug is None:
            return None
        found.append(bug)
    return ", ".join(dict.fromkeys(found)) or None


# ---------------------------------------------------------------------------------------------
# The oracle: the engine alone


#: Failure codes of the active manifest that speak about trust in the signer, not about the bytes.
ENGINE_TRUST_CODES = frozenset(
    {"signingCredential.untrusted", "signingCredential.ocsp.skipped", "signingCredential.ocsp.unknown"}
)


def _codes(entries: Any) -> list[str]:
    return [str(e.get("code")) for e in entries or () if isinstance(e, dict)]


def engine_verdict(store: dict[str, Any]) -> tuple[bool, str]:
    """Whether the engine's reading of a store lets a reader call the active manifest intact.

    ``validation_state`` Invalid forbids it, with the exceptions rightsmark documents (its integrity
    is the active manifest's, ingredient problems and CAWG identity problems are reported apart,
    trust is not integrity): Invalid is tolerated only when every failure code of the active
    manifest is a trust code, a ``cawg.*`` identity code, or ``signingCredential.expired`` with a
    validated timestamp inside the validity, AND something of that kind (or an ingredient failure)
    is there to explain the state. Invalid with no explanation at all forbids it too.
    """
    state = store.get("validation_state")
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = _codes(active.get("failure"))
    if state != "Invalid":
        return True, f"state {state}"
    successes = set(_codes(active.get("success")))
    timestamped = "timeStamp.validated" in successes and "claimSignature.insideValidity" in successes
    hard = [
        c
        for c in failures
        if c not in ENGINE_TRUST_CODES
        and not c.startswith("cawg.")
        and not (c == "signingCredential.expired" and timestamped)
    ]
    if hard:
        return False, f"state Invalid, failures {failures}"
    ingredient = any(
        _codes((d.get("validationDeltas") or {}).get("failure")) for d in results.get("ingredientDeltas") or ()
    )
    for manifest in (store.get("manifests") or {}).values():
        for ing in manifest.get("ingredients") or ():
            res = ing.get("validation_results") or {}
            if _codes((res.get("activeManifest") or {}).get("failure")) or _codes(ing.get("validation_status")):
                ingredient = True
    if failures or ingredient:
        return True, f"state Invalid explained by trust/identity/ingredient codes {failures}"
    return False, "state Invalid with no failure code"


def engine_says_valid(data: bytes, mime: str | None, context: Any) -> tuple[bool, str]:
    """Whether the C2PA engine, read directly, finds a manifest that may be called intact (and what it says)."""
    import c2pa

    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
    except Exception as exc:  # any engine error: not valid
        return False, f"engine error: {str(exc)[:200]}"
    if reader is None:
        return False, "no manifest"
    with reader:
        try:
            store = json.loads(reader.json())
        except Exception as exc:
            return False, f"engine error on json: {str(exc)[:200]}"
    if not isinstance(store, dict) or not store.get("active_manifest"):
        return False, "no active manifest"
    return engine_verdict(store)


def mime_of(data: bytes, seed: Seed) -> str | None:
    from rightsmark.media.formats import sniff

    fmt = sniff(data[:64], "x" + seed.suffix)
    return fmt.mime if fmt else _MIME_BY_SUFFIX.get(seed.suffix)


# ---------------------------------------------------------------------------------------------
# Running inputs


@dataclasses.dataclass
class Failure:
    index: int
    seed: str
    mutations: list[dict[str, Any]]
    problems: list[str]
    data: bytes
    saved: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seed_file": self.seed,
            "mutations": self.mutations,
            "problems": self.problems,
            "size": len(self.data),
        }


@dataclasses.dataclass
class Stats:
    inputs: int = 0
    seconds: float = 0.0
    seeds: int = 0
    integrity: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


class Fuzzer:
    """Runs inputs through every reader of rightsmark; collects failures (never raises for one)."""

    def __init__(
        self,
        seeds: Sequence[Seed],
        run_seed: int,
        workdir: Path,
        out: Path | None = None,
        *,
        material: Any = None,
        hostile_share: float = HOSTILE_SHARE,
    ) -> None:
        from rightsmark.audit.auditor import Auditor
        from rightsmark.engine.adapter import reading_context
        from rightsmark.verify.policy import Policy
        from rightsmark.verify.verifier import Verifier

        if not seeds:
            raise ValueError("no seed files")
        self.seeds = list(seeds)
        self.run_seed = run_seed
        self.workdir = workdir
        self.out = out
        self.verifier = Verifier()
        self.auditor = Auditor()
        self.policy = Policy()
        self.context = reading_context(None)
        self.failures: list[Failure] = []
        self.stats = Stats(seeds=len(self.seeds))
        self.scratch = workdir / "scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.hostile = HostileSigner(material) if material is not None and hostile_share > 0 else None
        self.hostile_share = hostile_share
        self.refused = 0

    def make_input(self, index: int) -> tuple[Seed, bytes | None, list[dict[str, Any]]]:
        """Input ``index``: a byte mutation of a seed, or (a share of them) hostile content validly signed."""
        if self.hostile is not None:
            rng = random.Random(f"rightsmark-fuzz-hostile:{self.run_seed}:{index}")
            if rng.random() < self.hostile_share:
                seed, data, done = self.hostile.make(rng)
                if data is None:
                    self.refused += 1
                return seed, data, done
        return make_input(self.run_seed, index, self.seeds)

    def close(self) -> None:
        self.verifier.close()
        self.auditor.close()

    def __enter__(self) -> Fuzzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one input, every in-process reader

    def check(self, index: int, seed: Seed, data: bytes) -> tuple[list[str], dict[str, str]]:
        """Problems found with one input and the integrity each reader reported."""
        from rightsmark.audit.html import chain_svg
        from rightsmark.audit.text import tree_text
        from rightsmark.reports.inspect_text import inspect_text
        from rightsmark.verify.inspection import inspect_file

        problems: list[str] = []
        said: dict[str, str] = {}
        name = f"input-{index}{seed.suffix}"

        def guard(what: str, fn: Callable[[], Any]) -> Any:
            try:
                return fn()
            except BaseException as exc:  # anything escaping is the failure we look for
                if isinstance(exc, KeyboardInterrupt):
                    raise
                problems.append(f"{what} raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                return None

        record = guard("Verifier.verify_bytes", lambda: self.verifier.verify_bytes(data, name))
        if record is not None:
            said["verify_bytes"] = record.integrity.value
            guard("VerifyRecord.to_dict", lambda: json.dumps(record.to_dict()))
        path = self.scratch / name
        path.write_bytes(data)
        try:
            record = guard("Verifier.verify_file", lambda: self.verifier.verify_file(path))
            if record is not None:
                said["verify_file"] = record.integrity.value
            report = guard("inspect_file", lambda: inspect_file(path, verifier=self.verifier))
            if report is not None:
                said["inspect"] = str(report.get("integrity"))
                guard("inspect JSON", lambda: json.dumps(report))
                guard("inspect_text", lambda: inspect_text(report))
        finally:
            path.unlink(missing_ok=True)
        audit = guard("Auditor.audit_bytes", lambda: self.auditor.audit_bytes(data, name))
        if audit is not None:
            said["audit"] = audit.integrity.value
            guard("FileAudit.to_dict", lambda: json.dumps(audit.to_dict(), default=str))
            guard("audit tree_text", lambda: tree_text(audit))
            guard("audit chain_svg", lambda: chain_svg(audit))
        return problems, said

    def oracle(self, seed: Seed, data: bytes, said: dict[str, str]) -> list[str]:
        claimed = sorted(k for k, v in said.items() if v == "valid")
        if not claimed:
            return []
        ok, engine_said = engine_says_valid(data, mime_of(data, seed), self.context)
        if ok:
            return []
        return [f"{', '.join(claimed)} said integrity valid; the engine alone says not ({engine_said})"]

    def bulk(self, batch: list[tuple[int, Seed, bytes, list[dict[str, Any]]]]) -> dict[int, list[str]]:
        """Problems per input index of one BulkVerifier(jobs=1) stream over ``batch``; integrity in said."""
        from rightsmark.sources.base import Item
        from rightsmark.verify.bulk import BulkVerifier

        problems: dict[int, list[str]] = {}
        keys = [f"bulk-{i}{seed.suffix}" for i, seed, _, _ in batch]
        items = [Item(key=k, data=data) for k, (_, _, data, _) in zip(keys, batch, strict=True)]
        try:
            with BulkVerifier(self.policy, jobs=1) as bulk:
                records = list(bulk.run(items))
        except Exception as exc:
            text = f"BulkVerifier.run raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            # find the culprit(s): one input at a time
            for i, seed, data, _ in batch:
                try:
                    with BulkVerifier(self.policy, jobs=1) as bulk:
                        list(bulk.run([Item(key=f"bulk-{i}{seed.suffix}", data=data)]))
                except Exception as single:
                    problems.setdefault(i, []).append(
                        f"BulkVerifier.run raised {type(single).__name__}: {single}\n{traceback.format_exc()}"
                    )
            if not problems:
                problems.setdefault(batch[0][0], []).append(text + " (only as a batch)")
            return problems
        got = [r.path for r in records]
        if got != keys:
            problems.setdefault(batch[0][0], []).append(
                f"bulk gave {len(records)} records for {len(keys)} items (or out of order): {got[:5]}..."
            )
            return problems
        for (i, seed, data, _), record in zip(batch, records, strict=True):
            if record.integrity.value == "valid":
                found = self.oracle(seed, data, {"bulk": "valid"})
                if found:
                    problems.setdefault(i, []).extend(found)
        return problems

    def run(self, indices: Iterable[int], deadline: float | None = None) -> Stats:
        start = time.perf_counter()
        batch: list[tuple[int, Seed, bytes, list[dict[str, Any]]]] = []
        pending: dict[int, list[str]] = {}

        def flush() -> None:
            for i, found in self.bulk(batch).items():
                pending.setdefault(i, []).extend(found)
            for i, seed, data, done in batch:
                if pending.get(i):
                    self.fail(Failure(i, seed.name, done, pending.pop(i), data))
            pending.clear()
            batch.clear()

        for index in indices:
            if deadline is not None and time.perf_counter() >= deadline:
                break
            seed, maybe, done = self.make_input(index)
            if maybe is None:
                continue
            data = maybe
            problems, said = self.check(index, seed, data)
            if not problems:
                problems = self.oracle(seed, data, said)
            for value in set(said.values()):
                self.stats.integrity[value] = self.stats.integrity.get(value, 0) + 1
            if problems:
                pending[index] = problems
            batch.append((index, seed, data, done))
            self.stats.inputs += 1
            if len(batch) >= BULK_BATCH:
                flush()
        if batch:
            flush()
        self.stats.seconds += time.perf_counter() - start
        return self.stats

    def fail(self, failure: Failure) -> None:
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            stem = f"seed{self.run_seed}-input{failure.index}"
            bin_path = self.out / f"{stem}.bin"
            bin_path.write_bytes(failure.data)
            meta = failure.describe() | {"run_seed": self.run_seed, "bytes": bin_path.name}
            (self.out / f"{stem}.json").write_text(json.dumps(meta, indent=2))
            failure.saved = bin_path
        self.failures.append(failure)


def indices_from(start: int = 0) -> Iterator[int]:
    i = start
    while True:
        yield i
        i += 1


# ---------------------------------------------------------------------------------------------
# The CLI: a few mutated files through the real program


def _crashed(stderr: str) -> bool:
    return "Traceback (most recent call last)" in stderr or "internal error" in stderr


def cli_check(seeds: Sequence[Seed], run_seed: int, workdir: Path, count: int = 24) -> list[str]:
    """Run ``rightsmark verify DIR -f jsonl`` (one process) and ``inspect``/``audit`` on two files.

    Problems: an exit code outside {0, 1, 2}, a traceback or "internal error" on stderr, or not
    one JSON line per file.
    """
    import subprocess

    folder = workdir / "cli-inputs"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        seed, data, _ = make_input(run_seed + 1_000_003, index, seeds)
        name = f"m{index:03d}{seed.suffix}"
        (folder / name).write_bytes(data)
        names.append(name)
    env = {k: v for k, v in os.environ.items() if k != "RIGHTSMARK_DEBUG"}
    env.setdefault("RIGHTSMARK_CACHE_DIR", str(workdir / ".rightsmark-cache"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rightsmark", *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    problems = []
    proc = run("verify", str(folder), "-f", "jsonl")
    if proc.returncode not in (0, 1, 2) or _crashed(proc.stderr):
        problems.append(f"verify DIR exited {proc.returncode}: {proc.stderr[-2000:]}")
    else:
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        try:
            paths = sorted(Path(json.loads(line)["path"]).name for line in lines)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"verify DIR wrote a line that is not a record ({exc}): {proc.stdout[-2000:]}")
        else:
            if paths != sorted(names):
                problems.append(f"verify DIR wrote {len(lines)} records for {len(names)} files")
    for name in names[:2]:
        for command in ("inspect", "audit"):
            proc = run(command, str(folder / name))
            if proc.returncode not in (0, 1, 2) or _crashed(proc.stderr):
                problems.append(f"{command} {name} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return problems


# ---------------------------------------------------------------------------------------------
# python -m tests.fuzz


def check_files(paths: Sequence[Path]) -> int:
    """Run saved inputs (``NAME.bin``, with ``NAME.json`` beside it when there is one) through every check."""
    status = 0
    with tempfile.TemporaryDirectory(prefix="rightsmark-fuzz-") as tmp:
        seeds = []
        for path in paths:
            meta = path.with_suffix(".json")
            origin = json.loads(meta.read_text()).get("seed_file", "") if meta.is_file() else str(path)
            seeds.append(make_seed(str(path), path.read_bytes(), Path(origin).suffix.lower() or ".bin"))
        with Fuzzer(seeds, 0, Path(tmp)) as fuzzer:
            for index, seed in enumerate(seeds):
                problems, said = fuzzer.check(index, seed, seed.data)
                problems = problems or fuzzer.oracle(seed, seed.data, said)
                problems += fuzzer.bulk([(index, seed, seed.data, [])]).get(index, [])
                print(f"{seed.name}: {said}", file=sys.stderr)
                for problem in problems:
                    status = 1
                    print("  " + problem, file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("RIGHTSMARK_FUZZ_SEED", "0")))
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="where failing inputs go")
    parser.add_argument("--start", type=int, default=0, help="first input index")
    parser.add_argument("--replay", type=int, action="append", help="run only input INDEX (repeatable)")
    parser.add_argument("--check", type=Path, action="append", help="run the checks on a saved FILE.bin only")
    parser.add_argument("--no-corpus", action="store_true", help="only the files signed here")
    parser.add_argument(
        "--hostile-share", type=float, default=HOSTILE_SHARE, help="share of validly signed hostile content"
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI exit-code check")
    args = parser.parse_args(argv)

    if args.check:
        return check_files(args.check)
    with tempfile.TemporaryDirectory(prefix="rightsmark-fuzz-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("RIGHTSMARK_CACHE_DIR", str(work / "cache"))  # the signing journal stays here
        signer, rights = standalone_signer(work)
        with signer:
            seeds = signed_seeds(signer, rights, work)
        corpus = [] if args.no_corpus else corpus_seeds()
        if not corpus and not args.no_corpus:
            print(f"note: shared corpus not found at {CORPUS_FILES}; fuzzing signed files only", file=sys.stderr)
        seeds += corpus
        print(f"{len(seeds)} seed files ({len(corpus)} from the corpus), run seed {args.seed}", file=sys.stderr)
        with Fuzzer(
            seeds, args.seed, work, out=args.out, material=signer.material, hostile_share=args.hostile_share
        ) as fuzzer:
            if args.replay:
                fuzzer.run(args.replay)
            else:
                fuzzer.run(indices_from(args.start), deadline=time.perf_counter() + args.seconds)
            stats = fuzzer.stats
            cli_problems = [] if args.no_cli or args.replay else cli_check(seeds, args.seed, work)
        print(
            f"{stats.inputs} inputs in {stats.seconds:.1f} s ({stats.per_second:.1f}/s), "
            f"{fuzzer.refused} hostile definitions refused by the engine; "
            f"integrity seen: {dict(sorted(stats.integrity.items()))}",
            file=sys.stderr,
        )
        new = 0
        for failure in fuzzer.failures:
            bug = known_bug(failure.problems)
            new += bug is None
            tag = f"KNOWN BUG {bug}" if bug else "FAIL"
            print(f"{tag}: input {failure.index} ({failure.seed}) -> {failure.saved}", file=sys.stderr)
            for problem in failure.problems:
                print("  " + problem.splitlines()[0], file=sys.stderr)
        for problem in cli_problems:
            print(f"FAIL cli: {problem}", file=sys.stderr)
        return 1 if new or cli_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
