"""A signer who is not trusted cannot borrow a trusted signer's certificate chain.

Mallory signs with her own key and puts a trusted signer's chain in another place of the COSE
headers (see ``forge.py``). The engine verifies her signature with her own chain; whatever
rightsmark reports, caches or pins about the signer must come from that chain too, whichever file
of a batch comes first, on one worker or several, through the CLI, ``Verifier``, ``KeepFilter``
(and the Ray engine, in ``test_ray.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rightsmark.engine.jumbf import leaf_fingerprint
from rightsmark.engine.reading import read_manifest_store
from rightsmark.filters import KeepFilter
from rightsmark.keys.devca import KeyFiles, init_keys
from rightsmark.keys.material import SigningMaterial, load_signing_material
from rightsmark.keys.pem import load_trust_anchors
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.facts import engine_chain
from rightsmark.verify.policy import Policy, SignerRule
from rightsmark.verify.reader import FactReader

from .forge import FORGERIES, der_chain, forged_batch

Cli = Callable[..., Any]


@pytest.fixture(scope="module")
def mallory(tmp_path_factory: pytest.TempPathFactory) -> SigningMaterial:
    files = init_keys(tmp_path_factory.mktemp("mallory") / "k", subject="Mallory", organization="Mallory CA")
    return load_signing_material(files.key, files.chain)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, material: SigningMaterial, mallory: SigningMaterial) -> Path:
    return forged_batch(tmp_path_factory.mktemp("forged"), material, mallory)


def _by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(str(r["path"])).name: r for r in records}


def assert_forgeries_refused(records: dict[str, dict[str, Any]]) -> None:
    assert len(records) == 2 + 2 * len(FORGERIES)
    for name, r in records.items():
        if name.startswith("m-legit"):
            assert (r["integrity"], r["trust"], r["decision"]) == ("valid", "trusted", "keep"), r
        else:
            # the signature verifies (it is Mallory's), but Mallory is nobody the anchors vouch for
            assert r["integrity"] == "valid", r
            assert r["trust"] == "untrusted" and r["decision"] == "drop", r
            assert r["signer"]["common_name"] == "Mallory", r
            assert "untrusted" in {x["code"] for x in r["reasons"]}, r


def test_the_forgeries_verify_as_mallory_in_the_engine(batch: Path, keys: KeyFiles) -> None:
    """The premise: each forged file is valid, signed by Mallory, and carries the trusted chain too."""
    from rightsmark.engine import adapter as engine

    context = engine.reading_context(TrustSources(claim_pem=load_trust_anchors([keys.ca])))
    for name in FORGERIES:
        store: list[bytes] = []
        reading = read_manifest_store((batch / f"a-{name}.jpg").read_bytes(), "x.jpg", context, True, store.append)
        assert reading.state == "Valid" and not reading.trusted, (name, reading.failure_codes)
        assert reading.active and reading.active["signature_info"]["common_name"] == "Mallory"
        assert engine_chain(reading, store[0]) is None, name  # two chains: ambiguous, nothing derived


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_never_trusts_a_borrowed_chain(cli: Cli, batch: Path, keys: KeyFiles, jobs: str) -> None:
    res = cli("verify", batch, "--trust", keys.ca, "--format", "jsonl", "--jobs", jobs)
    assert res.returncode == 1, res.stderr
    assert_forgeries_refused(_by_name(res.jsonl()))


def test_library_verifier_and_keep_filter_in_both_orders(batch: Path, keys: KeyFiles) -> None:
    from rightsmark.verify.verifier import Verifier

    names = sorted(p.name for p in batch.iterdir())
    for order in (names, names[::-1]):
        with Verifier(trust=[keys.ca]) as v:
            records = {n: v.verify_file(batch / n).to_dict() for n in order}
        assert_forgeries_refused(records)
        keep = KeepFilter(trust=[keys.ca])
        kept = {n for n in order if keep((batch / n).read_bytes())}
        assert kept == {"m-legit-1.jpg", "m-legit-2.jpg"}


def test_a_signer_pin_cannot_be_met_by_a_borrowed_chain(cli: Cli, batch: Path, keys: KeyFiles) -> None:
    """Pinned to the trusted leaf, untrusted signers allowed: only the pin stands between Mallory and keep."""
    trusted_leaf = leaf_fingerprint(tuple(der_chain(load_signing_material(keys.key, keys.chain).chain)))
    res = cli("verify", batch, "--allow-untrusted", "--allow-signer", trusted_leaf, "--format", "jsonl", "-j", "1")
    records = _by_name(res.jsonl())
    for name, r in records.items():
        if name.startswith("m-legit"):
            assert r["decision"] == "keep", r
        else:
            assert r["decision"] == "drop" and "signer-not-allowed" in {x["code"] for x in r["reasons"]}, r

    policy = Policy(allow_untrusted=True, allowed_signers=(SignerRule(fingerprint=trusted_leaf),))
    reader = FactReader(None, fingerprints=True)
    for name in sorted(records):
        facts = reader.read((batch / name).read_bytes(), name)
        if name.startswith("m-legit"):
            assert facts.signer_fingerprint == trusted_leaf
        else:
            assert facts.signer_fingerprint is None  # no chain the engine surely used: no fingerprint
            assert not policy.allowed_signers[0].matches(facts)


def test_inspect_and_audit_name_mallory_untrusted(cli: Cli, batch: Path, keys: KeyFiles) -> None:
    name = f"z-{next(iter(FORGERIES))}.jpg"
    res = cli("inspect", batch / name, "--trust", keys.ca, "--json")
    assert res.returncode in (0, 1), res.stderr
    doc = res.json()
    assert isinstance(doc, dict)
    assert doc["trust"] == "untrusted" and doc["decision"] == "drop", doc
    assert doc["manifests"][0]["signer"]["common_name"] == "Mallory"
    out = batch.parent / "audit.json"
    res = cli("audit", batch / name, "--trust", keys.ca, "--json", out, "-q")
    assert "manifest-untrusted" in out.read_text(), res.stderr
