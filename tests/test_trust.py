"""Trust by role, from bundled lists: what a verdict rests on, and what can never vouch for a signer.

- A timestamp authority's root (``--tsa-trust``, the ``c2pa-tsa`` list) never vouches for a claim
  signer, although the engine, given it as an anchor of any kind, would.
- The bundled lists are on by default, checked against their pinned sha256 before anything is
  verified; a damaged snapshot, an unknown list or an unusable ``--trust-list-file`` stops the run.
- Every report says which sources trust rested on; an untrusted signer's reason names the signer,
  its issuer, the lists consulted, and a bundled list that would trust it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rightsmark.engine import adapter as engine
from rightsmark.engine.reading import read_manifest_store
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.pem import load_trust_anchors
from rightsmark.models import Decision, Trust
from rightsmark.trust import lists as trustlists
from rightsmark.trust.sources import TrustSources, resolve
from rightsmark.verify.policy import Policy
from rightsmark.verify.policyfile import load_policy
from rightsmark.verify.verifier import Verifier

Cli = Callable[..., Any]


def test_the_engine_alone_lets_a_tsa_anchor_vouch_for_a_claim_signer(signed_jpeg: Path, keys: KeyFiles) -> None:
    """The premise of the role check: the engine's trust_kind "tsa" does not restrict what an anchor vouches for."""
    pem = load_trust_anchors([keys.ca])
    settings = engine.reading_settings(None)
    settings["trust"]["anchors"] = [{"trust_anchors": pem, "trust_kind": "tsa"}]
    context = engine.c2pa().Context.from_dict(settings)
    reading = read_manifest_store(signed_jpeg.read_bytes(), signed_jpeg, context, True)
    assert reading.trusted  # the engine would trust the signer through a TSA anchor


@pytest.mark.parametrize("order", ["tsa-first", "claim-first"])
def test_a_tsa_root_never_vouches_for_a_claim_signer(signed_jpeg: Path, keys: KeyFiles, order: str) -> None:
    # the C2PA list as claim-signer anchors, so that the engine runs its trusting read with the TSA anchor too
    as_tsa = Policy(trust_lists=("c2pa",), tsa_anchors=(keys.ca,))
    as_claim = Policy(trust_lists=("c2pa",), anchors=(keys.ca,))
    runs = [as_tsa, as_claim] if order == "tsa-first" else [as_claim, as_tsa]
    for policy in runs:
        with Verifier(policy=policy) as v:
            first, second = v.verify_file(signed_jpeg), v.verify_file(signed_jpeg)  # second from the chain cache
        for record in (first, second):
            if policy is as_tsa:
                assert (record.trust, record.decision) == (Trust.UNTRUSTED, Decision.DROP), record.reasons
                assert record.engine_state == "Valid" and "signingCredential.untrusted" in record.engine_codes
                assert [r.code for r in record.reasons] == ["untrusted"]
            else:
                assert (record.trust, record.decision) == (Trust.TRUSTED, Decision.KEEP), record.reasons


def test_cli_tsa_trust_is_not_claim_trust(cli: Cli, signed_jpeg: Path, keys: KeyFiles) -> None:
    res = cli("verify", signed_jpeg, "--no-default-trust", "--tsa-trust", keys.ca, "-f", "jsonl")
    (record,) = res.jsonl()
    assert (record["trust"], record["decision"]) == ("untrusted", "drop")
    res = cli("verify", signed_jpeg, "--tsa-trust", keys.ca, "--trust", keys.ca, "-f", "jsonl")
    (record,) = res.jsonl()
    assert (record["trust"], record["decision"]) == ("trusted", "keep"), record


def test_default_sources_are_the_c2pa_lists_and_pinned(signed_jpeg: Path) -> None:
    sources = Policy().trust_sources()
    assert [(s.name, s.role, s.origin) for s in sources.sources] == [
        ("c2pa", "claim-signer", "bundled"),
        ("c2pa-tsa", "tsa", "bundled"),
    ]
    for s in sources.sources:
        assert s.sha256 == trustlists.load(s.name).sha256 and len(s.sha256) == 64
        assert s.detail["repository"] == "github.com/c2pa-org/conformance-public"
    assert sources.claim_pem and sources.tsa_pem and not sources.allowed_pem
    assert sources.others == ("interim",)
    assert resolve(()).sources == () and not resolve(()).any_claim


def test_sources_travel_to_worker_processes_and_key_the_cache(keys: KeyFiles) -> None:
    import pickle

    from rightsmark.verify.cache import cache_context

    one = resolve(["c2pa"], anchors=[keys.ca])
    assert one.claim_certificates  # parsed once here ...
    again = pickle.loads(pickle.dumps(one))
    assert again == one and again.digest == one.digest  # ... and not shipped parsed
    contexts = {
        cache_context(resolve(lists, anchors=a), False)
        for lists, a in ((["c2pa"], []), (["c2pa", "interim"], []), (["c2pa"], [keys.ca]), ([], []))
    }
    assert len(contexts) == 4  # another trust set never reuses a cached verdict


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trust-list", "nope"], "unknown trust list 'nope'"),
        (["--trust-list", "none", "--trust-list", "interim"], "cannot be combined"),
        (["--trust-list-file", "c2pa"], "NAME=FILE"),
        (["--trust-list-file", "c2pa=/nonexistent/list.pem"], "/nonexistent/list.pem"),
        (["--trust-list-file", "interim=x.pem"], "not enabled"),
        (["--tsa-trust", "/nonexistent/tsa.pem"], "/nonexistent/tsa.pem"),
    ],
)
def test_bad_trust_options_stop_before_any_file(cli: Cli, signed_jpeg: Path, args: list[str], expected: str) -> None:
    res = cli("verify", signed_jpeg, *args, "-f", "jsonl")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == "" and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and expected in res.stderr, res.stderr


def test_a_damaged_bundled_snapshot_stops_the_run(
    signed_jpeg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rightsmark.errors import TrustError

    data = tmp_path / "data"
    shutil.copytree(trustlists.DATA_DIR, data)
    pem = data / "c2pa" / "C2PA-TRUST-LIST.pem"
    raw = bytearray(pem.read_bytes())
    raw[200] ^= 0x01
    pem.write_bytes(bytes(raw))
    monkeypatch.setattr(trustlists, "DATA_DIR", data)
    with pytest.raises(TrustError, match=r"C2PA-TRUST-LIST\.pem"):
        Verifier()


def test_trust_list_file_replaces_a_bundled_snapshot(cli: Cli, signed_jpeg: Path, keys: KeyFiles) -> None:
    """A newer snapshot fetched by the user, here one that holds the development CA: trusted, and said so."""
    out = signed_jpeg.parent.parent / "report.jsonl"
    res = cli("verify", signed_jpeg, "--trust-list-file", f"c2pa={keys.ca}", "-o", out)
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (record["trust"], record["decision"]) == ("trusted", "keep"), record
    assert f"c2pa (claim-signer, {keys.ca}, sha256" in res.stderr, res.stderr
    sources = json.loads((out.parent / "report.jsonl.meta.json").read_text())["trust_sources"]
    assert sources[0]["name"] == "c2pa" and sources[0]["origin"] == str(keys.ca)


def test_policy_file_trust_table(tmp_path: Path, keys: KeyFiles, signed_jpeg: Path) -> None:
    shutil.copy(keys.ca, tmp_path / "ca.pem")
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('[trust]\nlists = ["interim"]\ntsa_anchors = ["ca.pem"]\n', encoding="utf-8")
    policy = load_policy(policy_file)
    assert policy.trust_lists == ("interim",) and policy.tsa_anchors == (tmp_path / "ca.pem",)
    with Verifier(policy=policy) as v:
        record = v.verify_file(signed_jpeg)
    assert record.trust is Trust.UNTRUSTED  # a TSA anchor from the policy file vouches for no signer either
    assert "trust list interim" in record.reasons[0].message
    d = policy.to_dict()["trust"]
    assert d["lists"] == ["interim"] and d["tsa_anchors"][0]["path"].endswith("ca.pem")
    policy_file.write_text('[trust]\nlists = ["c2pa", "bogus"]\n', encoding="utf-8")
    from rightsmark.verify.policy import PolicyError

    with pytest.raises(PolicyError, match="bogus"):
        load_policy(policy_file)


def test_reports_name_the_trust_sources(cli: Cli, signed_jpeg: Path, keys: KeyFiles, tmp_path: Path) -> None:
    c2pa_sha = trustlists.load("c2pa").sha256
    res = cli("verify", signed_jpeg, signed_jpeg, "--trust", keys.ca, "-o", tmp_path / "r.parquet")
    assert res.returncode == 0, res.stderr
    assert f"c2pa (claim-signer, bundled, sha256 {c2pa_sha[:12]})" in res.stderr
    assert "ca.pem (claim-signer, --trust" in res.stderr
    import pyarrow.parquet as pq

    meta = pq.read_schema(tmp_path / "r.parquet").metadata or {}
    sources = json.loads(meta[b"rightsmark.trust_sources"])
    assert [s["name"] for s in sources] == ["c2pa", "c2pa-tsa", "ca.pem"]
    assert sources[0]["sha256"] == c2pa_sha
    res = cli("verify", signed_jpeg, "--trust", keys.ca, "-o", tmp_path / "r.jsonl")
    sidecar = json.loads((tmp_path / "r.jsonl.meta.json").read_text())
    assert [s["name"] for s in sidecar["trust_sources"]] == ["c2pa", "c2pa-tsa", "ca.pem"]
    assert sidecar["policy"]["trust"]["lists"] == ["c2pa", "c2pa-tsa"]
    res = cli("inspect", signed_jpeg, "--json")
    assert [s["name"] for s in res.json()["trust_sources"]] == ["c2pa", "c2pa-tsa"]


@pytest.mark.corpus
def test_hint_names_a_bundled_list_that_would_trust_the_signer(cli: Cli, corpus: Path) -> None:
    """An Adobe-signed file of the shared corpus chains to the legacy interim list, not to the C2PA list."""
    adobe = corpus / "files" / "c2pa-rs" / "history" / "repro-sundae-ice-cream.png"
    res = cli("verify", adobe, "-f", "jsonl")
    (record,) = res.jsonl()
    assert record["trust"] == "untrusted"
    message = record["reasons"][0]["message"]
    assert "'Adobe Firefly C2PA' (issued by 'Adobe Inc.')" in message
    assert "trust lists c2pa, c2pa-tsa" in message and "add --trust-list interim" in message
    res = cli("verify", adobe, "--trust-list", "interim", "-f", "jsonl")
    (record,) = res.jsonl()
    assert record["trust"] == "trusted", record
    res = cli("verify", adobe, "--no-default-trust", "--trust-list", "interim", "-f", "jsonl")
    assert res.jsonl()[0]["trust"] == "trusted"
    res = cli("verify", adobe, "--trust-list", "none", "-f", "jsonl")
    (record,) = res.jsonl()
    reason = record["reasons"][0]
    assert reason["code"] == "no-trust-anchors" and "--trust-list interim" in reason["message"]


def test_the_cache_key_tells_roles_apart(keys: KeyFiles) -> None:
    """The same certificate as a claim-signer anchor or as a TSA anchor is another trust set: never one cache key."""
    pem = load_trust_anchors([keys.ca])
    as_claim, as_tsa = TrustSources(claim_pem=pem), TrustSources(tsa_pem=pem)
    assert len({as_claim.digest, as_tsa.digest, TrustSources(allowed_pem=pem).digest, TrustSources().digest}) == 4


def test_audit_names_the_trust_sources(cli: Cli, signed_jpeg: Path, keys: KeyFiles, tmp_path: Path) -> None:
    c2pa_sha = trustlists.load("c2pa").sha256
    res = cli("audit", signed_jpeg, "--trust", keys.ca, "--json", tmp_path / "a.json", "--html", tmp_path / "a.html")
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "a.json").read_text())
    assert [(s["name"], s["role"]) for s in doc["trust_sources"]] == [
        ("c2pa", "claim-signer"),
        ("c2pa-tsa", "tsa"),
        ("ca.pem", "claim-signer"),
    ]
    assert doc["files"][0]["trust"] == "trusted"
    page = (tmp_path / "a.html").read_text()
    assert "trust rested on" in page and c2pa_sha in page
    # a TSA anchor vouches for no claim signer in an audit either
    res = cli("audit", signed_jpeg, "--tsa-trust", keys.ca, "--json", tmp_path / "b.json", "-q")
    assert "manifest-untrusted" in (tmp_path / "b.json").read_text()
    res = cli("audit", signed_jpeg, "--trust-list", "bogus")
    assert res.returncode == 2 and "unknown trust list 'bogus'" in res.stderr and "Traceback" not in res.stderr


def test_a_list_entry_that_is_not_a_ca_is_ignored_with_a_warning(cli: Cli, signed_jpeg: Path, keys: KeyFiles) -> None:
    """signer.pem as a list snapshot: its leaf is no CA (ignored, named); its intermediate is one (used)."""
    out = signed_jpeg.parent.parent / "r.jsonl"
    res = cli("verify", signed_jpeg, "--no-default-trust", "--trust-list", "c2pa", "--trust-list-file",
              f"c2pa={keys.chain}", "-o", out)  # fmt: skip
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "rightsmark development signer" in warnings[0], res.stderr
    assert "is not a CA certificate: ignored" in warnings[0]
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["trust"] == "trusted", record


def test_an_anchor_file_with_a_cut_certificate_is_refused(cli: Cli, signed_jpeg: Path, keys: KeyFiles) -> None:
    """A PEM file whose last certificate lost its END line (a cut download) is not half-read."""
    cut = signed_jpeg.parent / "cut.pem"
    text = keys.ca.read_text()
    cut.write_text(text + text.split("-----END CERTIFICATE-----")[0])
    res = cli("verify", signed_jpeg, "--trust", cut, "-f", "jsonl")
    assert res.returncode == 2 and res.stdout == ""
    assert "a BEGIN line without its END line" in res.stderr and "cut.pem" in res.stderr, res.stderr
