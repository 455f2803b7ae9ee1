"""Withdrawn consent: signed withdrawal lists, `consent withdraw`, and `verify`/`audit --withdrawals`.

Real keys (made by rightsmark's own `keys init` code), real images signed by the real C2PA engine,
the real CLI in a subprocess. A list that cannot be trusted (edited, unsigned, signed by someone the
anchors do not vouch for, or given without anchors) must stop the run with exit code 2 and one line
naming it: a withdrawal must never be silently ignored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rightsmark import schemas
from rightsmark.keys.devca import KeyFiles, init_keys
from rightsmark.keys.material import SigningMaterial, load_signing_material
from rightsmark.models import Algorithm, ConsentStatus, Decision
from rightsmark.rights.consent import ConsentDeclaration
from rightsmark.sign.signer import Signer
from rightsmark.verify.policy import REASON_CODES, Policy
from rightsmark.verify.verifier import Verifier
from rightsmark.verify.withdraw import create_or_extend
from rightsmark.verify.withdrawals import (
    WithdrawalListError,
    load_withdrawals,
    signature_path,
)

from .conftest import EXAMPLE_IMAGES, open_rights

Cli = Callable[..., Any]

WITHDRAWN_ID = "MR-2026-0042"
KEPT_ID = "MR-2026-0007"
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 6, 1, 12, 30, tzinfo=dt.UTC)


def key_args(keys: KeyFiles) -> list[str]:
    return ["--key", str(keys.key), "--cert", str(keys.chain)]


def subject(ref: str, release_id: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "release_id": release_id,
        "purposes": {"ai_training": "allowed"},
        "commercial": True,
        "granted": "2025-01-01",
        "withdrawal_url": "https://example.org/withdrawals.json",
    }


def sign_with_people(signer: Signer, dest: Path, *release_ids: str) -> Path:
    """A file the default policy keeps: training allowed, consent granted for every subject."""
    consent = ConsentDeclaration(
        identifiable_people=True,
        subjects=tuple(subject(f"subject-{i}", rid) for i, rid in enumerate(release_ids, 1)),
    )
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", dest, open_rights(consent=consent))
    return dest


@pytest.fixture
def dataset(tmp_path: Path, signer: Signer) -> Path:
    """withdrawn.jpg pictures someone whose consent gets withdrawn, kept.jpg someone else."""
    root = tmp_path / "dataset"
    sign_with_people(signer, root / "withdrawn.jpg", WITHDRAWN_ID)
    sign_with_people(signer, root / "kept.jpg", KEPT_ID)
    return root


@pytest.fixture
def signed_list(tmp_path: Path, material: SigningMaterial) -> Path:
    """A list withdrawing WITHDRAWN_ID, signed by the `keys` signer."""
    path = tmp_path / "withdrawals.json"
    create_or_extend(path, [WITHDRAWN_ID], material, when=T1, reason="withdrawn by email")
    return path


def assert_ok(result: Any) -> None:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def assert_refused(result: Any, list_path: Path, *words: str) -> None:
    """Exit 2, one line on stderr naming the list, no traceback, no records."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(list_path) in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert "KEEP" not in result.stdout and "DROP" not in result.stdout


def verify_jsonl(cli: Cli, dataset: Path, *args: str | Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    result = cli("verify", dataset, "--format", "jsonl", "--jobs", "1", *args)
    assert "Traceback" not in result.stderr
    return result.returncode, {Path(r["path"]).name: r for r in result.jsonl()}, result.stderr


def codes(record: dict[str, Any]) -> list[str]:
    return [r["code"] for r in record["reasons"]]


# ---------------------------------------------------------------------------------------------
# consent withdraw: creating and extending a signed list


def test_withdraw_creates_a_list_and_signature_that_match_their_schemas(
    cli: Cli, tmp_path: Path, keys: KeyFiles
) -> None:
    result = cli("consent", "withdraw", "MR-1", "MR-2", "--list", "w.json", *key_args(keys), "--reason", "by email")
    assert_ok(result)
    assert "withdrew MR-1" in result.stdout and "withdrew MR-2" in result.stdout
    listed, sig = tmp_path / "w.json", tmp_path / "w.json.sig"
    assert sig == signature_path(listed)

    document = json.loads(listed.read_text())
    assert schemas.errors(schemas.WITHDRAWALS, document) == []
    assert document["version"] == 1
    assert document["issuer"] == "rightsmark development signer"  # the certificate's name by default
    assert [e["release_id"] for e in document["withdrawn"]] == ["MR-1", "MR-2"]
    assert all(e["reason"] == "by email" for e in document["withdrawn"])
    dt.datetime.fromisoformat(document["updated"].replace("Z", "+00:00"))

    signature = json.loads(sig.read_text())
    assert schemas.errors(schemas.DETACHED_SIGNATURE, signature) == []
    assert signature["format"] == "rightsmark-detached-signature"
    assert signature["algorithm"] == "ES256"
    assert len(signature["chain"]) == 2  # leaf then intermediate, as signer.pem

    loaded = load_withdrawals([listed], [keys.ca])
    assert set(loaded.withdrawn) == {"MR-1", "MR-2"}
    (described,) = loaded.describe()
    assert described == {
        "path": str(listed),
        "sha256": hashlib.sha256(listed.read_bytes()).hexdigest(),
        "signer": "rightsmark development signer",
        "entries": 2,
    }


def test_extending_adds_ids_once_and_resigns(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    assert_ok(cli("consent", "withdraw", "MR-1", "--list", "w.json", *key_args(keys)))
    listed = tmp_path / "w.json"
    first_list, first_sig = listed.read_bytes(), signature_path(listed).read_bytes()
    first_at = json.loads(first_list)["withdrawn"][0]["withdrawn_at"]

    again = cli("consent", "withdraw", "MR-1", "MR-2", "MR-2", "--list", "w.json", *key_args(keys))
    assert_ok(again)
    assert "already withdrawn: MR-1" in again.stdout
    assert "withdrew MR-2" in again.stdout
    document = json.loads(listed.read_text())
    assert [e["release_id"] for e in document["withdrawn"]] == ["MR-1", "MR-2"]
    assert document["withdrawn"][0]["withdrawn_at"] == first_at  # the first withdrawal time stays
    assert schemas.errors(schemas.WITHDRAWALS, document) == []
    assert listed.read_bytes() != first_list
    assert signature_path(listed).read_bytes() != first_sig
    assert set(load_withdrawals([listed], [keys.ca]).withdrawn) == {"MR-1", "MR-2"}  # the new signature verifies

    unchanged = cli("consent", "withdraw", "MR-2", "--list", "w.json", *key_args(keys))
    assert_ok(unchanged)
    assert "unchanged" in unchanged.stdout
    assert not list(tmp_path.glob(".w.json*"))  # no temporary files left behind


def test_extending_keeps_the_earliest_withdrawal_time(
    tmp_path: Path, material: SigningMaterial, keys: KeyFiles
) -> None:
    path = tmp_path / "w.json"
    made = create_or_extend(path, ["A"], material, when=T1)
    assert made.added == ("A",) and made.withdrawn == {"A": "2026-06-01T12:30:00Z"}
    later = create_or_extend(path, ["A", "B"], material, when=T1 + dt.timedelta(days=1))
    assert later.added == ("B",)
    assert later.withdrawn["A"] == "2026-06-01T12:30:00Z"
    earlier = create_or_extend(path, ["A"], material, when=T0)  # a withdrawal recorded late
    assert earlier.withdrawn["A"] == "2026-03-01T09:00:00Z"
    assert earlier.added == ()
    assert load_withdrawals([path], [keys.ca]).withdrawn == {
        "A": "2026-03-01T09:00:00Z",
        "B": "2026-06-02T12:30:00Z",
    }


@pytest.mark.parametrize("damage", ["edited", "unsigned", "other-signer"])
def test_withdraw_refuses_to_extend_a_list_it_cannot_verify(
    cli: Cli, tmp_path: Path, keys: KeyFiles, other_keys: KeyFiles, signed_list: Path, damage: str
) -> None:
    if damage == "edited":
        signed_list.write_bytes(signed_list.read_bytes().replace(WITHDRAWN_ID.encode(), b"MR-2026-0043"))
    elif damage == "unsigned":
        signature_path(signed_list).unlink()
    else:  # a list of someone else's: extending it would launder their content under our signature
        signed_list.unlink()
        signature_path(signed_list).unlink()
        assert_ok(cli("consent", "withdraw", "X-1", "--list", signed_list, *key_args(other_keys)))
    before = signed_list.read_bytes()
    result = cli("consent", "withdraw", "MR-9", "--list", signed_list, *key_args(keys))
    assert_refused(result, signed_list, "refusing to extend")
    assert signed_list.read_bytes() == before


def test_withdraw_needs_a_release_id_and_valid_key(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    none = cli("consent", "withdraw", "--list", "w.json", *key_args(keys))
    assert none.returncode == 2 and "Traceback" not in none.stderr
    mismatched = cli("consent", "withdraw", "MR-1", "--list", "w.json", "--key", keys.key, "--cert", keys.ca)
    assert mismatched.returncode == 2 and "Traceback" not in mismatched.stderr
    assert not (tmp_path / "w.json").exists()


@pytest.mark.parametrize("algorithm", [Algorithm.ES384, Algorithm.PS256, Algorithm.ED25519])
def test_every_signing_algorithm_round_trips(tmp_path: Path, algorithm: Algorithm) -> None:
    k = init_keys(tmp_path / "k", algorithm=algorithm)
    path = tmp_path / "w.json"
    create_or_extend(path, ["MR-1"], load_signing_material(k.key, k.chain), when=T1)
    assert json.loads(signature_path(path).read_text())["algorithm"] == algorithm.value.upper()
    assert load_withdrawals([path], [k.ca]).withdrawn == {"MR-1": "2026-06-01T12:30:00Z"}
    path.write_bytes(path.read_bytes().replace(b"MR-1", b"MR-2"))
    with pytest.raises(WithdrawalListError, match="does not verify"):
        load_withdrawals([path], [k.ca])


# ---------------------------------------------------------------------------------------------
# Loading: what is refused


def test_several_lists_merge_with_the_earliest_time(tmp_path: Path, material: SigningMaterial, keys: KeyFiles) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    create_or_extend(a, ["X", "Y"], material, when=T1)
    create_or_extend(b, ["Y", "Z"], material, when=T0)
    loaded = load_withdrawals([a, b, a], [keys.ca])  # the same list twice counts once
    assert loaded.withdrawn == {"X": "2026-06-01T12:30:00Z", "Y": "2026-03-01T09:00:00Z", "Z": "2026-03-01T09:00:00Z"}
    assert [d["path"] for d in loaded.describe()] == [str(a), str(b)]
    assert load_withdrawals([], []).withdrawn == {}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"version": 1, "issuer": "x", "updated": "2026-01-01T00:00:00Z", "withdrawn": [], "extra": 1}', "schema"),
        (
            b'{"version": 1, "issuer": "x", "updated": "2026-01-01T00:00:00Z", "withdrawn": ['
            b'{"release_id": "A", "withdrawn_at": "2026-01-01"}, {"release_id": "A", "withdrawn_at": "2026-01-02"}]}',
            "listed twice",
        ),
        (
            b'{"version": 1, "issuer": "x", "updated": "2026-01-01T00:00:00Z", "withdrawn": ['
            b'{"release_id": "A", "withdrawn_at": "2026-02-30"}]}',
            "not a real date",
        ),
    ],
)
def test_malformed_lists_are_refused_even_when_signed(
    tmp_path: Path, material: SigningMaterial, keys: KeyFiles, content: bytes, words: str
) -> None:
    path = tmp_path / "w.json"
    path.write_bytes(content)
    from rightsmark.verify.withdrawals import sign_detached

    signature_path(path).write_text(json.dumps(sign_detached(content, material)))
    with pytest.raises(WithdrawalListError, match=words) as err:
        load_withdrawals([path], [keys.ca])
    assert err.value.exit_code == 2
    assert str(path) in err.value.one_line()


def test_a_signature_naming_the_wrong_algorithm_is_refused(signed_list: Path, keys: KeyFiles) -> None:
    sig = signature_path(signed_list)
    doc = json.loads(sig.read_text())
    doc["algorithm"] = "ED25519"
    sig.write_text(json.dumps(doc))
    with pytest.raises(WithdrawalListError, match="does not fit"):
        load_withdrawals([signed_list], [keys.ca])


def test_a_missing_list_is_refused(tmp_path: Path, keys: KeyFiles) -> None:
    with pytest.raises(WithdrawalListError, match="no such withdrawal list"):
        load_withdrawals([tmp_path / "missing.json"], [keys.ca])


# ---------------------------------------------------------------------------------------------
# The policy check


def test_policy_drops_withdrawn_consent_even_when_granted(dataset: Path, keys: KeyFiles) -> None:
    assert "consent-withdrawn" in REASON_CODES
    with Verifier([keys.ca]) as plain:
        record = plain.verify_file(dataset / "withdrawn.jpg")
    assert record.decision is Decision.KEEP
    policy = Policy(anchors=(keys.ca,), withdrawn=frozenset({WITHDRAWN_ID}))
    with Verifier(policy=policy) as v:
        dropped, kept = v.verify_file(dataset / "withdrawn.jpg"), v.verify_file(dataset / "kept.jpg")
    assert record.consent.status is ConsentStatus.GRANTED  # without the list: consent is fine ...
    assert dropped.consent.status is ConsentStatus.WITHDRAWN  # ... with it, the record says withdrawn
    assert [s.status for s in dropped.consent.subjects] == [ConsentStatus.WITHDRAWN]
    assert dropped.decision is Decision.DROP
    assert [r.code for r in dropped.reasons] == ["consent-withdrawn"]
    assert WITHDRAWN_ID in dropped.reasons[0].message and "subject-1" in dropped.reasons[0].message
    assert kept.decision is Decision.KEEP
    assert schemas.errors(schemas.VERIFY_RECORD, dropped.to_dict()) == []
    assert policy.to_dict()["consent"]["withdrawn"] == [WITHDRAWN_ID]
    assert policy.fingerprint() != Policy(anchors=(keys.ca,)).fingerprint()


def test_withdrawal_drops_even_when_the_policy_does_not_require_consent(dataset: Path, keys: KeyFiles) -> None:
    policy = Policy(anchors=(keys.ca,), consent_required=False, withdrawn=frozenset({WITHDRAWN_ID}))
    with Verifier(policy=policy) as v:
        record = v.verify_file(dataset / "withdrawn.jpg")
    assert [r.code for r in record.reasons] == ["consent-withdrawn"]


# ---------------------------------------------------------------------------------------------
# verify and audit with --withdrawals


def test_verify_drops_withdrawn_files_and_keeps_them_without_the_list(
    cli: Cli, dataset: Path, signed_list: Path, keys: KeyFiles
) -> None:
    code, records, _ = verify_jsonl(cli, dataset, "--trust", keys.ca)
    assert code == 0
    assert {name: r["decision"] for name, r in records.items()} == {"kept.jpg": "keep", "withdrawn.jpg": "keep"}

    code, records, stderr = verify_jsonl(cli, dataset, "--trust", keys.ca, "--withdrawals", signed_list)
    assert code == 1, stderr
    assert records["kept.jpg"]["decision"] == "keep"
    withdrawn = records["withdrawn.jpg"]
    assert withdrawn["decision"] == "drop"
    assert codes(withdrawn) == ["consent-withdrawn"]
    assert withdrawn["consent"]["status"] == "withdrawn"
    for record in records.values():
        assert schemas.errors(schemas.VERIFY_RECORD, record) == []


def test_verify_takes_several_lists_and_the_anchors_of_a_policy_file(
    cli: Cli, tmp_path: Path, dataset: Path, signed_list: Path, material: SigningMaterial, keys: KeyFiles
) -> None:
    second = tmp_path / "second.json"
    create_or_extend(second, [KEPT_ID], material, when=T0)
    shutil.copyfile(keys.ca, tmp_path / "anchors.pem")
    (tmp_path / "policy.toml").write_text('[trust]\nanchors = ["anchors.pem"]\n')
    code, records, stderr = verify_jsonl(
        cli, dataset, "--policy", tmp_path / "policy.toml", "--withdrawals", signed_list, "--withdrawals", second
    )
    assert code == 1, stderr
    assert {name: codes(r) for name, r in records.items()} == {
        "kept.jpg": ["consent-withdrawn"],
        "withdrawn.jpg": ["consent-withdrawn"],
    }


def test_audit_flags_withdrawn_consent(
    cli: Cli, tmp_path: Path, dataset: Path, signed_list: Path, keys: KeyFiles
) -> None:
    plain = cli("audit", dataset / "withdrawn.jpg", "--trust", keys.ca)
    assert_ok(plain)
    assert "consent-withdrawn" not in plain.stdout

    report = tmp_path / "audit.json"
    result = cli("audit", dataset, "--trust", keys.ca, "--withdrawals", signed_list, "--json", report)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "consent-withdrawn" in result.stdout
    document = json.loads(report.read_text())
    by_name = {Path(f["path"]).name: [x["code"] for x in f["findings"]] for f in document["files"]}
    assert "consent-withdrawn" in by_name["withdrawn.jpg"]
    assert "consent-withdrawn" not in by_name["kept.jpg"]
    (used,) = document["withdrawal_lists"]
    assert used["path"] == str(signed_list)
    assert used["sha256"] == hashlib.sha256(signed_list.read_bytes()).hexdigest()
    assert used["entries"] == 1


def _forge(signed_list: Path, how: str, other_keys: KeyFiles) -> None:
    data = signed_list.read_bytes()
    if how == "edited-byte":
        i = data.index(WITHDRAWN_ID.encode()) + len(WITHDRAWN_ID) - 1
        signed_list.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
    elif how == "signature-by-other-key":
        from rightsmark.verify.withdrawals import sign_detached

        other = load_signing_material(other_keys.key, other_keys.chain)
        signature_path(signed_list).write_text(json.dumps(sign_detached(data, other)))
    elif how == "other-key-with-our-chain":  # a signature by another key, passed off under our certificates
        from rightsmark.verify.withdrawals import sign_detached

        other = load_signing_material(other_keys.key, other_keys.chain)
        ours = json.loads(signature_path(signed_list).read_text())
        forged = sign_detached(data, other)
        forged["chain"] = ours["chain"]
        signature_path(signed_list).write_text(json.dumps(forged))
    elif how == "signature-damaged":
        doc = json.loads(signature_path(signed_list).read_text())
        raw = bytearray(base64.b64decode(doc["signature"]))
        raw[-1] ^= 0x01
        doc["signature"] = base64.b64encode(bytes(raw)).decode()
        signature_path(signed_list).write_text(json.dumps(doc))
    elif how == "signature-not-json":
        signature_path(signed_list).write_text("-----BEGIN SIGNATURE-----")
    elif how == "unsigned":
        signature_path(signed_list).unlink()
    else:
        raise AssertionError(how)


FORGERIES = {
    "edited-byte": "does not verify",
    "signature-by-other-key": "does not chain",
    "other-key-with-our-chain": "does not verify",
    "signature-damaged": "does not verify",
    "signature-not-json": "signature",
    "unsigned": "unsigned",
}


@pytest.mark.parametrize("command", ["verify", "audit"])
@pytest.mark.parametrize("how", sorted(FORGERIES))
def test_an_untrustworthy_list_stops_verify_and_audit(
    cli: Cli, dataset: Path, signed_list: Path, keys: KeyFiles, other_keys: KeyFiles, how: str, command: str
) -> None:
    _forge(signed_list, how, other_keys)
    result = cli(command, dataset, "--trust", keys.ca, "--withdrawals", signed_list)
    assert_refused(result, signed_list, FORGERIES[how])


@pytest.mark.parametrize("command", ["verify", "audit"])
def test_a_list_signed_outside_the_anchors_stops_the_run(
    cli: Cli, tmp_path: Path, dataset: Path, keys: KeyFiles, other_keys: KeyFiles, command: str
) -> None:
    theirs = tmp_path / "theirs.json"
    assert_ok(cli("consent", "withdraw", WITHDRAWN_ID, "--list", theirs, *key_args(other_keys)))
    assert load_withdrawals([theirs], [other_keys.ca]).withdrawn  # valid under its own CA ...
    result = cli(command, dataset, "--trust", keys.ca, "--withdrawals", theirs)
    assert_refused(result, theirs, "does not chain to any of the trust anchors")  # ... not under ours


@pytest.mark.parametrize("command", ["verify", "audit"])
def test_a_list_without_trust_anchors_stops_the_run(cli: Cli, dataset: Path, signed_list: Path, command: str) -> None:
    result = cli(command, dataset, "--withdrawals", signed_list)
    assert_refused(result, signed_list, "without trust anchors", "--trust")


@pytest.mark.parametrize("command", ["verify", "audit"])
def test_a_missing_list_stops_the_run(cli: Cli, tmp_path: Path, dataset: Path, keys: KeyFiles, command: str) -> None:
    missing = tmp_path / "nowhere.json"
    result = cli(command, dataset, "--trust", keys.ca, "--withdrawals", missing)
    assert_refused(result, missing, "no such withdrawal list")


def test_a_certificate_issued_by_a_non_ca_signer_is_not_trusted(
    tmp_path: Path, material: SigningMaterial, keys: KeyFiles
) -> None:
    """The trusted signer's own (non-CA) key must not be able to vouch for another key."""
    from rightsmark.keys.devca import _issue, _name, _new_key

    impostor_key = _new_key(Algorithm.ES256)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    impostor = _issue(_name("impostor", "nobody"), impostor_key, material.leaf.subject, material.key, now, 30, ca=False)
    forged = SigningMaterial(impostor_key, (impostor, *material.chain), Algorithm.ES256)
    path = tmp_path / "w.json"
    create_or_extend(path, ["MR-1"], forged, when=T1)
    with pytest.raises(WithdrawalListError, match="does not chain"):
        load_withdrawals([path], [keys.ca])
