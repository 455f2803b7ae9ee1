"""Hostile input at scale: a bounded, seeded run of the mutation fuzzer (tests/fuzz.py).

Every mutated input goes through verify (bytes and file), inspect, audit and bulk verification in
this process; nothing may raise, bulk gives one record per input, and nothing is called valid that
the C2PA engine alone does not accept. A fixed number of inputs per test (deterministic: input ``i``
depends only on the run seed and ``i``), capped by a time budget so the suite stays fast on a slow
machine. Change them with the environment:

- ``RIGHTSMARK_FUZZ_SEED`` (default 0): another sequence of inputs;
- ``RIGHTSMARK_FUZZ_SECONDS`` (default 45): the time cap for the two fuzz runs together;
- ``RIGHTSMARK_FUZZ_INPUTS`` (default 4200): inputs for the two runs together (a third on the files
  signed here, the rest on the corpus; the time cap may stop a slow machine earlier).

Longer runs: ``python -m tests.fuzz --seconds 600 --out fuzz-failures/``. Failing inputs of a suite
run are saved under pytest's tmp_path (``.bin`` bytes + ``.json`` description); their paths are in
the assertion message, and ``python -m tests.fuzz --seed S --replay INDEX`` replays one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from rightsmark.keys.material import SigningMaterial
from rightsmark.sign.signer import Signer

from . import fuzz
from .conftest import open_rights

SEED = int(os.environ.get("RIGHTSMARK_FUZZ_SEED", "0"))
SECONDS = float(os.environ.get("RIGHTSMARK_FUZZ_SECONDS", "45"))
INPUTS = int(os.environ.get("RIGHTSMARK_FUZZ_INPUTS", "4200"))
#: Share of the budget (time and inputs) for the files signed here; the rest goes to the corpus run.
SIGNED_SHARE = 1 / 3


@pytest.fixture(scope="module")
def signed_seeds(signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> list[fuzz.Seed]:
    """The bundled samples signed here, one per format rightsmark signs (JPEG, PNG, WebP, TIFF, GIF, AVIF, HEIC)."""
    seeds = fuzz.signed_seeds(signer, open_rights(), tmp_path_factory.mktemp("fuzz-seeds"))
    assert {s.suffix for s in seeds} >= {".jpg", ".png", ".webp", ".tiff", ".gif", ".avif"}
    assert all(s.hot and s.heads for s in seeds), "the manifest store was not found in a file signed here"
    return seeds


@pytest.fixture(scope="module")
def corpus_seeds(corpus: Path) -> list[fuzz.Seed]:
    seeds = fuzz.corpus_seeds(corpus / "files")
    if not seeds:
        pytest.skip(f"no corpus files under {corpus / 'files'}")
    return seeds


def _fuzz(
    seeds: list[fuzz.Seed], run_seed: int, inputs: int, seconds: float, tmp_path: Path, material: SigningMaterial
) -> None:
    out = tmp_path / "fuzz-failures"
    with fuzz.Fuzzer(seeds, run_seed, tmp_path / "work", out=out, material=material) as fuzzer:
        stats = fuzzer.run(range(inputs), deadline=time.perf_counter() + seconds)
        failures = fuzzer.failures
    print(
        f"fuzz seed {run_seed}: {stats.inputs}/{inputs} inputs from {stats.seeds} seed files in "
        f"{stats.seconds:.1f} s ({stats.per_second:.0f}/s); integrity seen {stats.integrity}; "
        f"{fuzzer.refused} hostile definitions refused by the engine"
    )
    known = [(f, fuzz.known_bug(f.problems)) for f in failures]
    for f, bug in known:
        if bug:
            print(f"known bug {bug}: input {f.index} from {f.seed}: {f.saved}")
    failures = [f for f, bug in known if bug is None]
    assert stats.inputs > 0
    assert not failures, (
        f"{len(failures)} failing input(s) (seed {run_seed}); "
        f"replay: python -m tests.fuzz --seed {run_seed} --replay INDEX\n"
        + "\n".join(
            f"- input {f.index} from {f.seed}: {f.saved} (+ .json)\n    "
            + "\n    ".join(p.splitlines()[0] for p in f.problems)
            for f in failures
        )
    )


def test_fuzz_signed_files(signed_seeds: list[fuzz.Seed], tmp_path: Path, material: SigningMaterial) -> None:
    """Mutations of files signed here, in every format rightsmark signs, and hostile content signed validly."""
    _fuzz(signed_seeds, SEED, int(INPUTS * SIGNED_SHARE), SECONDS * SIGNED_SHARE, tmp_path, material)


def test_fuzz_corpus_files(
    signed_seeds: list[fuzz.Seed], corpus_seeds: list[fuzz.Seed], tmp_path: Path, material: SigningMaterial
) -> None:
    """Mutations of real C2PA files made by other implementations (splices mix them with ours)."""
    seeds = signed_seeds + corpus_seeds
    share = 1 - SIGNED_SHARE
    _fuzz(seeds, SEED + 1, INPUTS - int(INPUTS * SIGNED_SHARE), SECONDS * share, tmp_path, material)


def test_cli_exit_codes_on_mutated_files(signed_seeds: list[fuzz.Seed], tmp_path: Path) -> None:
    """The real CLI: `verify DIR -f jsonl` (one record per file) and inspect/audit exit 0, 1 or 2."""
    corpus = fuzz.corpus_seeds() if (fuzz.CORPUS_FILES.parent / "EXPECTED.tsv").is_file() else []
    problems = fuzz.cli_check(signed_seeds + corpus, SEED, tmp_path)
    assert not problems, "\n".join(problems)


def test_fuzzer_reports_what_it_should(
    signed_seeds: list[fuzz.Seed], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness itself: an escaping exception and a false `valid` are both caught and saved."""
    from rightsmark.audit import auditor as audit
    from rightsmark.engine import reading
    from rightsmark.models import Integrity

    real = reading.interpret

    def always_valid(store: dict[str, object], anchors_given: bool) -> reading.EngineReading:
        return dataclasses.replace(real(store, anchors_given), integrity=Integrity.VALID)

    def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(reading, "interpret", always_valid)
    monkeypatch.setattr(audit, "audit_reading", broken)
    out = tmp_path / "out"
    with fuzz.Fuzzer(signed_seeds, SEED, tmp_path / "work", out=out) as fuzzer:
        fuzzer.run(range(40))
    problems = [p for f in fuzzer.failures for p in f.problems]
    assert any("Auditor.audit_bytes raised ZeroDivisionError: planted" in p for p in problems)
    assert any("said integrity valid; the engine alone says not" in p for p in problems)
    saved = fuzzer.failures[0].saved
    assert saved is not None and saved.is_file()
    meta = json.loads(saved.with_suffix(".json").read_text())
    assert meta["mutations"] and meta["problems"] and meta["seed_file"].startswith("signed/")


# -- Bugs the fuzzer found, fixed: a validly signed consent assertion of the wrong shape crashed audit and
# inspect's text (rightsmark.rights.consent.subject_entries now reads subjects for both, and calls it malformed).


def _consent_subjects(material: SigningMaterial, subjects: object) -> bytes:
    """harbour.jpg validly signed with rightsmark's manifest, its consent saying people and ``subjects``."""
    signer = fuzz.HostileSigner(material)
    definition = copy.deepcopy(signer.base)
    consent = next(a for a in definition["assertions"] if a["label"] == "io.rightsmark.rights.consent")["data"]
    consent["identifiable_people"] = True
    consent["subjects"] = subjects
    return signer.sign(definition, "harbour.jpg")


MALFORMED_SUBJECTS = pytest.mark.parametrize(
    "subjects",
    [True, 1.5, 7, "http://", [None], {"ref": "x"}],
    ids=["true", "float", "int", "string", "list-of-null", "object"],
)


@MALFORMED_SUBJECTS
def test_audit_survives_consent_subjects_of_the_wrong_shape(material: SigningMaterial, subjects: object) -> None:
    from rightsmark.audit.auditor import Auditor
    from rightsmark.audit.text import tree_text

    data = _consent_subjects(material, subjects)
    with Auditor() as auditor:
        result = auditor.audit_bytes(data, "photo.jpg")
    assert result.integrity.value == "valid"
    assert "consent malformed" in tree_text(result)


@MALFORMED_SUBJECTS
def test_inspect_text_survives_consent_subjects_of_the_wrong_shape(
    material: SigningMaterial, tmp_path: Path, subjects: object
) -> None:
    from rightsmark.reports.inspect_text import inspect_text
    from rightsmark.verify.inspection import inspect_file

    path = tmp_path / "photo.jpg"
    path.write_bytes(_consent_subjects(material, subjects))
    report = inspect_file(path)
    assert report["integrity"] == "valid"
    assert report["decision"] == "drop"  # unreadable consent is never permission
    assert "consent       malformed" in inspect_text(report)
