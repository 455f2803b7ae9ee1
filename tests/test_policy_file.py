"""Policy files and their command-line overrides, as a trainer uses them.

The policy file of the issue is used exactly as written (anchors relative to the file, which
lives in another directory than the working one); every decision comes from real files signed
here with real keys and read by the real engine, through ``python -m rightsmark verify``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image

from rightsmark import schemas
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import load_signing_material
from rightsmark.models import Decision, Integrity, License, Purpose, SignerInfo, Training, Use
from rightsmark.rights.consent import load_consent_file
from rightsmark.rights.licenses import parse_license
from rightsmark.sign.signer import Signer
from rightsmark.verify.facts import Facts
from rightsmark.verify.policy import Policy, PolicyError, SignerRule, judge
from rightsmark.verify.policyfile import load_policy, policy_from_dict, policy_from_options

from .conftest import open_rights

Cli = Callable[..., Any]

#: The policy file of the issue, verbatim.
ISSUE_POLICY = """\
purpose = "ai_training"
commercial = true
[trust]
anchors = ["anchors.pem"]          # relative to the policy file
[licenses]
allow = ["CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0"]
[consent]
required = true
"""

ALL_USES_ALLOWED = Training(Use.ALLOWED, Use.ALLOWED, Use.ALLOWED, Use.ALLOWED)


def tiny_jpeg(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (seed * 37 % 256, seed * 11 % 256, 90)).save(path, quality=70)
    return path


def consent_file(directory: Path, *, commercial: bool) -> Path:
    path = directory / f"consent-{'commercial' if commercial else 'nc'}.json"
    subject = {
        "ref": "subject-1",
        "release_id": "MR-2026-0001",
        "purposes": {"ai_training": "allowed"},
        "commercial": commercial,
        "granted": "2026-01-01",
        "expires": "2036-01-01",
    }
    path.write_text(json.dumps({"subjects": [subject]}), encoding="utf-8")
    return path


def leaf_fingerprint(keys: KeyFiles) -> str:
    leaf = x509.load_pem_x509_certificates(keys.chain.read_bytes())[0]
    return "sha256:" + hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, signer: Signer, other_keys: KeyFiles) -> Path:
    """One small folder with a file for every decision the issue names."""
    root = tmp_path_factory.mktemp("policy-data")
    raw = root / "raw"
    data = root / "data"
    cases: dict[str, dict[str, Any]] = {
        "by.jpg": {},
        "nc.jpg": {"license": parse_license("CC-BY-NC-4.0")},
        "nd.jpg": {"license": parse_license("CC-BY-ND-4.0")},
        "nolicense.jpg": {"license": None},
        "constrained.jpg": {"training": Training(Use.CONSTRAINED), "license": parse_license("CC0-1.0")},
        "people-nc.jpg": {"consent": load_consent_file(consent_file(root, commercial=False))},
        "people-commercial.jpg": {"consent": load_consent_file(consent_file(root, commercial=True))},
    }
    for i, (name, over) in enumerate(cases.items()):
        signer.sign_file(tiny_jpeg(raw / name, i), data / name, open_rights(**over))
    with Signer(load_signing_material(other_keys.key, other_keys.chain)) as other:
        other.sign_file(tiny_jpeg(raw / "other.jpg", 20), data / "other.jpg", open_rights())
    tiny_jpeg(data / "unsigned.jpg", 21)
    return data


@pytest.fixture
def policy_dir(tmp_path: Path, keys: KeyFiles) -> Path:
    """A directory (not the working directory) holding the issue's policy file and anchors.pem."""
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copyfile(keys.ca, conf / "anchors.pem")
    (conf / "policy.toml").write_text(ISSUE_POLICY, encoding="utf-8")
    return conf


def verify(cli: Cli, dataset: Path, *args: str | Path, cwd: Path | None = None) -> dict[str, dict[str, Any]]:
    """Run verify over the dataset (JSON Lines on stdout); records by file name."""
    result = cli("verify", dataset, "-f", "jsonl", "--jobs", "1", *args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    records = {Path(r["path"]).name: r for r in result.jsonl()}
    assert len(records) == len(list(dataset.iterdir()))
    for r in records.values():
        assert not schemas.errors(schemas.VERIFY_RECORD, r), r
    return records


def codes(record: dict[str, Any]) -> list[str]:
    return [r["code"] for r in record["reasons"]]


def decisions(records: dict[str, dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    return {name: (r["decision"], codes(r)) for name, r in records.items()}


KEEP: tuple[str, list[str]] = ("keep", [])


def drop(*reason_codes: str) -> tuple[str, list[str]]:
    return ("drop", list(reason_codes))


# ---------------------------------------------------------------------------------------------
# The issue's policy file as written


def test_issue_policy_file_is_valid_against_the_schema() -> None:
    assert schemas.errors(schemas.POLICY, tomllib.loads(ISSUE_POLICY)) == []


def test_issue_policy_file_decides_every_case(cli: Cli, dataset: Path, policy_dir: Path, tmp_path: Path) -> None:
    assert not (tmp_path / "anchors.pem").exists()  # anchors resolve against the policy file, not the cwd
    got = decisions(verify(cli, dataset, "--policy", "conf/policy.toml", cwd=tmp_path))
    assert got == {
        "by.jpg": KEEP,
        "nc.jpg": drop("license-non-commercial"),
        "nd.jpg": drop("license-not-allowed"),
        "nolicense.jpg": drop("license-missing"),
        "constrained.jpg": drop("permission-constrained"),
        "people-nc.jpg": drop("consent-not-covered"),
        "people-commercial.jpg": KEEP,
        "other.jpg": drop("untrusted"),
        "unsigned.jpg": drop("integrity-absent"),
    }


def test_policy_file_found_from_any_working_directory(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    elsewhere = policy_dir.parent / "elsewhere"
    elsewhere.mkdir()
    records = verify(cli, dataset, "--policy", policy_dir / "policy.toml", cwd=elsewhere)
    assert records["by.jpg"]["trust"] == "trusted"
    assert records["by.jpg"]["decision"] == "keep"


def test_non_commercial_flag_keeps_nc_license_and_nc_consent(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    got = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--non-commercial"))
    assert got["nc.jpg"] == KEEP
    assert got["people-nc.jpg"] == KEEP
    assert got["by.jpg"] == KEEP
    assert got["nd.jpg"] == drop("license-not-allowed")
    # and --commercial on the command line restores the file's own setting
    again = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--commercial"))
    assert again["nc.jpg"] == drop("license-non-commercial")


def test_allow_license_flag_adds_to_the_files_list(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    got = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--allow-license", "cc-by-nd-4.0"))
    assert got["nd.jpg"] == KEEP
    assert got["by.jpg"] == KEEP  # the file's list is extended, not replaced
    assert got["nc.jpg"] == drop("license-non-commercial")
    assert got["nolicense.jpg"] == drop("license-missing")


def test_purpose_flag_changes_the_decision(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    got = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--purpose", "data_mining"))
    assert got["by.jpg"] == drop("permission-not-allowed")  # signed with data_mining notAllowed
    # the consent given covers ai_training only: under data_mining it covers nothing
    assert "consent-not-covered" in got["people-commercial.jpg"][1]


def test_cli_flags_without_a_policy_file(cli: Cli, dataset: Path, keys: KeyFiles) -> None:
    got = decisions(
        verify(cli, dataset, "--trust", keys.ca, "--allow-license", "CC-BY-4.0", "--deny-license", "CC-BY-NC-4.0")
    )
    assert got["by.jpg"] == KEEP
    assert got["nc.jpg"] == drop("license-denied", "license-not-allowed", "license-non-commercial")
    assert got["nd.jpg"] == drop("license-not-allowed")
    required = decisions(verify(cli, dataset, "--trust", keys.ca, "--require-license"))
    assert required["nolicense.jpg"] == drop("license-missing")
    assert required["nd.jpg"] == KEEP  # no allow list: any commercial license does


# ---------------------------------------------------------------------------------------------
# Configuration errors: exit 2, one line naming the file


def _one_line_error(result: Any, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_key_is_an_error_naming_key_and_file(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    bad = policy_dir / "typo.toml"
    bad.write_text(ISSUE_POLICY.replace("allow = [", "alow = ["), encoding="utf-8")
    _one_line_error(cli("verify", dataset, "--policy", bad), "licenses.alow", "typo.toml")
    top = policy_dir / "top.toml"
    top.write_text(ISSUE_POLICY + 'porpose = "ai_training"\n', encoding="utf-8")
    _one_line_error(cli("verify", dataset, "--policy", top), "porpose", "top.toml")
    signer_rule = policy_dir / "rule.toml"
    signer_rule.write_text('[trust]\nallowed_signers = [{subjet = "x"}]\n', encoding="utf-8")
    _one_line_error(cli("verify", dataset, "--policy", signer_rule), "subjet", "rule.toml")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('purpose = "ai_training\n', "not valid TOML"),
        ('purpose = "training"\n', "purpose"),
        ("commercial = 1\n", "commercial"),
        ('[licenses]\nallow = ["CC-BY-4"]\n', "CC-BY-4.0"),  # unknown SPDX id, with a suggestion
        ('[licenses]\nallow = ["https://example.org/terms"]\n', "SPDX"),
        ('[treat]\nabsent = "maybe"\n', "absent"),
        ('[trust]\nallowed_signers = [{fingerprint = "sha256:abc"}]\n', "fingerprint"),
    ],
)
def test_bad_policy_files_exit_2(cli: Cli, dataset: Path, policy_dir: Path, text: str, needle: str) -> None:
    bad = policy_dir / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    _one_line_error(cli("verify", dataset, "--policy", bad), "bad.toml", needle)


def test_missing_anchor_and_missing_policy_exit_2(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    (policy_dir / "anchors.pem").unlink()
    _one_line_error(cli("verify", dataset, "--policy", policy_dir / "policy.toml"), "policy.toml", "anchors.pem")
    _one_line_error(cli("verify", dataset, "--policy", policy_dir / "absent.toml"), "absent.toml")


def test_anchor_that_is_not_a_certificate_exits_2(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    (policy_dir / "anchors.pem").write_text("not a certificate\n", encoding="utf-8")
    _one_line_error(cli("verify", dataset, "--policy", policy_dir / "policy.toml"), "anchors.pem")


# ---------------------------------------------------------------------------------------------
# Trust: allowed signers, untrusted files


def _policy_with(policy_dir: Path, trust_extra: str = "", tail: str = "") -> Path:
    text = ISSUE_POLICY.replace('anchors = ["anchors.pem"]', 'anchors = ["anchors.pem"]\n' + trust_extra) + tail
    path = policy_dir / "custom.toml"
    path.write_text(text, encoding="utf-8")
    assert schemas.errors(schemas.POLICY, tomllib.loads(text)) == []
    return path


def test_allowed_signer_by_fingerprint(cli: Cli, dataset: Path, policy_dir: Path, keys: KeyFiles) -> None:
    fingerprint = leaf_fingerprint(keys)
    shouted = "sha256:" + fingerprint.removeprefix("sha256:").upper()  # hex digits in either case
    good = _policy_with(policy_dir, f'allowed_signers = [{{fingerprint = "{shouted}"}}]')
    got = decisions(verify(cli, dataset, "--policy", good))
    assert got["by.jpg"] == KEEP
    # other.jpg has the same subject name, another key: not the allowed signer
    assert got["other.jpg"] == drop("untrusted", "signer-not-allowed")

    wrong = "sha256:" + hashlib.sha256(b"somebody else").hexdigest()
    bad = _policy_with(policy_dir, f'allowed_signers = [{{fingerprint = "{wrong}"}}]')
    assert decisions(verify(cli, dataset, "--policy", bad))["by.jpg"] == drop("signer-not-allowed")

    # the same on the command line
    flag = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--allow-signer", wrong))
    assert flag["by.jpg"] == drop("signer-not-allowed")
    flag = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--allow-signer", fingerprint))
    assert flag["by.jpg"] == KEEP


def test_allowed_signer_by_subject_and_issuer_glob(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    ok = _policy_with(policy_dir, 'allowed_signers = [{subject = "rightsmark dev*"}]')
    assert decisions(verify(cli, dataset, "--policy", ok))["by.jpg"] == KEEP
    no = _policy_with(policy_dir, 'allowed_signers = [{subject = "Newsroom *"}, {issuer = "unrelated*"}]')
    got = decisions(verify(cli, dataset, "--policy", no, "--allow-untrusted"))
    assert got["by.jpg"] == drop("signer-not-allowed")
    assert got["other.jpg"] == KEEP  # untrusted allowed, and its issuer matches the second rule
    flag = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--allow-signer", "Newsroom *"))
    assert flag["by.jpg"] == drop("signer-not-allowed")


def test_allow_untrusted_keeps_intact_files_of_an_unknown_signer(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    path = _policy_with(policy_dir, "allow_untrusted = true")
    records = verify(cli, dataset, "--policy", path)
    assert records["other.jpg"]["trust"] == "untrusted"
    assert records["other.jpg"]["decision"] == "keep"
    assert records["unsigned.jpg"]["decision"] == "drop"  # untrusted is not unsigned


# ---------------------------------------------------------------------------------------------
# [treat]


def test_treat_absent_keep_keeps_unsigned_files(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    got = decisions(verify(cli, dataset, "--policy", _policy_with(policy_dir, tail='[treat]\nabsent = "keep"\n')))
    assert got["unsigned.jpg"] == KEEP
    assert got["other.jpg"] == drop("untrusted")
    flag = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--keep-unsigned"))
    assert flag["unsigned.jpg"] == KEEP


def test_treat_constrained_allowed(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    path = _policy_with(policy_dir, tail='[treat]\nconstrained = "allowed"\n')
    assert decisions(verify(cli, dataset, "--policy", path))["constrained.jpg"] == KEEP
    flag = decisions(verify(cli, dataset, "--policy", policy_dir / "policy.toml", "--constrained", "allowed"))
    assert flag["constrained.jpg"] == KEEP


def test_consent_not_required(cli: Cli, dataset: Path, policy_dir: Path) -> None:
    path = policy_dir / "noconsent.toml"
    path.write_text(ISSUE_POLICY.replace("required = true", "required = false"), encoding="utf-8")
    assert decisions(verify(cli, dataset, "--policy", path))["people-nc.jpg"] == KEEP


# ---------------------------------------------------------------------------------------------
# Loading, library level


def test_load_policy_reads_every_field(tmp_path: Path, keys: KeyFiles) -> None:
    shutil.copyfile(keys.ca, tmp_path / "a.pem")
    shutil.copyfile(keys.ca, tmp_path / "b.pem")
    text = """
purpose = "ai_generative_training"
commercial = false
[trust]
anchors = ["a.pem", "b.pem"]
allow_untrusted = true
allowed_signers = [{fingerprint = "sha256:%s"}, {subject = "Jane*", issuer = "Example*"}]
[licenses]
allow = ["cc-by-4.0"]
deny = ["CC-BY-NC-4.0"]
required = true
[consent]
required = false
[treat]
constrained = "allowed"
absent = "keep"
remote = "keep"
ingredient_invalid = "keep"
""" % ("ab" * 32)
    (tmp_path / "p.toml").write_text(text, encoding="utf-8")
    assert schemas.errors(schemas.POLICY, tomllib.loads(text)) == []
    p = load_policy(tmp_path / "p.toml")
    assert p.purpose is Purpose.AI_GENERATIVE_TRAINING
    assert p.commercial is False
    assert p.anchors == (tmp_path / "a.pem", tmp_path / "b.pem")
    assert p.allow_untrusted is True
    assert p.allowed_signers == (
        SignerRule(fingerprint="sha256:" + "ab" * 32),
        SignerRule(subject="Jane*", issuer="Example*"),
    )
    assert p.license_allow == ("CC-BY-4.0",)  # normalised SPDX spelling
    assert p.license_deny == ("CC-BY-NC-4.0",)
    assert p.license_required and not p.consent_required
    assert p.constrained is Use.ALLOWED
    assert p.keep_absent and p.keep_remote and p.keep_ingredient_invalid
    # the same as JSON
    (tmp_path / "p.json").write_text(json.dumps(tomllib.loads(text)), encoding="utf-8")
    assert load_policy(tmp_path / "p.json") == p


def test_empty_policy_is_the_strict_default() -> None:
    assert policy_from_dict({}) == Policy()
    strict = Policy()
    assert strict.commercial and strict.consent_required and strict.constrained is Use.NOT_ALLOWED
    assert not (strict.keep_absent or strict.keep_remote or strict.allow_untrusted)


@pytest.mark.parametrize(
    "data",
    [
        {"licenses": {"alow": []}},
        {"trust": {"anchors": [], "alow_untrusted": True}},
        {"treat": {"unsigned": "keep"}},
        {"purpose": "ai_training", "extra": 1},
    ],
)
def test_unknown_keys_raise(data: dict[str, Any]) -> None:
    with pytest.raises(PolicyError) as err:
        policy_from_dict(data, source="p.toml")
    assert err.value.exit_code == 2
    line = err.value.one_line()
    assert line.startswith("p.toml: unknown policy keys: ")
    assert schemas.errors(schemas.POLICY, data)  # the schema agrees


# ---------------------------------------------------------------------------------------------
# Policy.decide on facts (no engine): the rules themselves

NOW = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)


def facts(**over: Any) -> Facts:
    base: dict[str, Any] = {
        "integrity": Integrity.VALID,
        "trusted": True,
        "state": "Trusted",
        "format": "jpeg",
        "signer": SignerInfo("rightsmark development signer", "rightsmark development CA", "ES256"),
        "signer_fingerprint": "sha256:" + "ab" * 32,
        "license": License("CC-BY-4.0"),
        "training": ALL_USES_ALLOWED,
        "consent": {"version": 1, "identifiable_people": False, "subjects": []},
        "consent_present": True,
    }
    base.update(over)
    return Facts(**base)


def people(**subject: Any) -> dict[str, Any]:
    s = {
        "ref": "subject-1",
        "release_id": "MR-1",
        "purposes": {"ai_training": "allowed"},
        "commercial": True,
        "granted": "2026-01-01",
        "expires": "2027-12-31",
    }
    s.update(subject)
    return {"version": 1, "identifiable_people": True, "subjects": [s]}


def decide(f: Facts, policy: Policy | None = None, now: dt.datetime = NOW) -> tuple[Decision, list[str]]:
    _, decision, reasons = judge(f, policy or Policy(anchors=(Path("ca.pem"),)), now)
    return decision, [r.code for r in reasons]


def test_consent_is_judged_at_verification_time() -> None:
    f = facts(consent=people())
    assert decide(f) == (Decision.KEEP, [])
    assert decide(f, now=dt.datetime(2027, 12, 31, 23, 0, tzinfo=dt.UTC)) == (Decision.KEEP, [])
    assert decide(f, now=dt.datetime(2028, 1, 1, 0, 1, tzinfo=dt.UTC)) == (Decision.DROP, ["consent-expired"])
    assert decide(f, now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC)) == (Decision.DROP, ["consent-not-yet-valid"])


def test_consent_must_cover_the_purpose_and_commercial_use() -> None:
    f = facts(consent=people())
    data_mining = Policy(anchors=(Path("ca.pem"),), purpose=Purpose.DATA_MINING)
    assert decide(f, data_mining) == (Decision.DROP, ["consent-not-covered"])
    nc_consent = facts(consent=people(commercial=False))
    assert decide(nc_consent) == (Decision.DROP, ["consent-not-covered"])
    assert decide(nc_consent, Policy(anchors=(Path("ca.pem"),), commercial=False)) == (Decision.KEEP, [])
    missing = facts(consent=None, consent_present=False)
    assert decide(missing) == (Decision.DROP, ["consent-missing"])
    assert decide(missing, Policy(anchors=(Path("ca.pem"),), consent_required=False)) == (Decision.KEEP, [])


@pytest.mark.parametrize(
    ("spdx", "policy", "expected"),
    [
        ("CC-BY-NC-4.0", Policy(), ["license-non-commercial"]),
        ("CC-BY-NC-SA-4.0", Policy(commercial=False), []),
        ("CC-BY-ND-4.0", Policy(license_allow=("CC-BY-4.0",)), ["license-not-allowed"]),
        ("CC-BY-4.0", Policy(license_deny=("CC-BY-4.0",)), ["license-denied"]),
        (None, Policy(license_allow=("CC-BY-4.0",)), ["license-missing"]),
        (None, Policy(license_required=True), ["license-missing"]),
        (None, Policy(), []),
    ],
)
def test_license_rules(spdx: str | None, policy: Policy, expected: list[str]) -> None:
    f = facts(license=License(spdx) if spdx else None)
    assert decide(f, replace(policy, anchors=(Path("ca.pem"),)))[1] == expected


def test_custom_license_url_is_not_on_any_allow_list() -> None:
    f = facts(license=License(url="https://example.org/terms"))
    assert decide(f, Policy(anchors=(Path("ca.pem"),), license_allow=("CC-BY-4.0",)))[1] == ["license-not-allowed"]
    assert decide(f)[1] == []  # no list: the custom terms are the user's to read


def test_absent_remote_and_error_are_told_apart() -> None:
    absent = Facts(Integrity.ABSENT, message="no C2PA manifest")
    remote = Facts(Integrity.ABSENT, remote_manifest="https://example.org/m.c2pa")
    error = Facts(Integrity.ERROR, message="file is empty")
    keep_absent = Policy(keep_absent=True)
    keep_remote = Policy(keep_remote=True)
    assert decide(absent, Policy()) == (Decision.DROP, ["integrity-absent"])
    assert decide(remote, Policy()) == (Decision.DROP, ["manifest-remote"])
    assert decide(absent, keep_absent) == (Decision.KEEP, [])
    assert decide(remote, keep_absent) == (Decision.DROP, ["manifest-remote"])  # remote is not "no manifest"
    assert decide(remote, keep_remote) == (Decision.KEEP, [])
    assert decide(absent, keep_remote) == (Decision.DROP, ["integrity-absent"])
    everything = Policy(keep_absent=True, keep_remote=True, allow_untrusted=True, consent_required=False)
    assert decide(error, everything) == (Decision.DROP, ["integrity-error"])  # never permission
    assert decide(Facts(Integrity.INVALID), everything)[0] is Decision.DROP


def test_trust_rules() -> None:
    untrusted = facts(trusted=False, state="Valid")
    assert decide(untrusted, Policy(trust_lists=())) == (Decision.DROP, ["no-trust-anchors"])
    assert decide(untrusted, Policy()) == (Decision.DROP, ["untrusted"])  # the bundled C2PA list by default
    assert decide(untrusted) == (Decision.DROP, ["untrusted"])
    assert decide(untrusted, Policy(allow_untrusted=True)) == (Decision.KEEP, [])
    by_fp = Policy(anchors=(Path("ca.pem"),), allowed_signers=(SignerRule(fingerprint="SHA256:" + "AB" * 32),))
    assert decide(facts(), by_fp) == (Decision.KEEP, [])
    assert decide(facts(signer_fingerprint=None), by_fp) == (Decision.DROP, ["signer-not-allowed"])
    both = Policy(
        anchors=(Path("ca.pem"),),
        allowed_signers=(SignerRule(subject="rightsmark *", issuer="Other CA"),),
    )
    assert decide(facts(), both) == (Decision.DROP, ["signer-not-allowed"])  # every field of a rule must match
    anyone = Policy(anchors=(Path("ca.pem"),), allowed_signers=(SignerRule(subject="*"),))
    assert decide(facts(), anyone) == (Decision.KEEP, [])
    assert decide(facts(signer=None), anyone) == (Decision.DROP, ["signer-not-allowed"])  # no name matches no glob


@pytest.mark.parametrize(
    ("use", "constrained", "expected"),
    [
        (Use.ALLOWED, Use.NOT_ALLOWED, []),
        (Use.CONSTRAINED, Use.NOT_ALLOWED, ["permission-constrained"]),
        (Use.CONSTRAINED, Use.ALLOWED, []),
        (Use.NOT_ALLOWED, Use.ALLOWED, ["permission-not-allowed"]),
        (Use.UNSPECIFIED, Use.ALLOWED, ["permission-unspecified"]),
    ],
)
def test_permission_rules(use: Use, constrained: Use, expected: list[str]) -> None:
    f = facts(training=Training(ai_training=use))
    assert decide(f, Policy(anchors=(Path("ca.pem"),), constrained=constrained))[1] == expected


def test_ingredient_and_identity_problems() -> None:
    f = facts(ingredient_codes=("assertion.dataHash.mismatch",))
    assert decide(f)[1] == ["ingredient-invalid"]
    assert decide(f, Policy(anchors=(Path("ca.pem"),), keep_ingredient_invalid=True))[1] == []
    assert decide(facts(identity_problems=("cawg.identity.sig_mismatch",)))[1] == ["identity-invalid"]


def test_a_policy_that_has_decided_can_be_extended(keys: KeyFiles, signed_jpeg: Path) -> None:
    """Verifier and KeepFilter add --trust anchors to a policy already used for decisions."""
    from rightsmark import KeepFilter
    from rightsmark.verify.verifier import Verifier

    policy = Policy(trust_lists=())
    assert decide(facts(trusted=False), policy) == (Decision.DROP, ["no-trust-anchors"])  # memoises its checks
    with Verifier([keys.ca], policy=policy, purpose=Purpose.AI_TRAINING) as verifier:
        assert verifier.verify_file(signed_jpeg).decision is Decision.KEEP
    assert KeepFilter(policy, trust=[keys.ca])({"image": signed_jpeg.read_bytes()}) is True


def test_policy_from_options_lays_the_options_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'commercial = false\n[licenses]\nallow = ["CC-BY-4.0"]\ndeny = ["CC-BY-NC-4.0"]\n'
        '[trust]\nallowed_signers = [{subject = "Studio *"}]\n',
        encoding="utf-8",
    )
    assert policy_from_options(path) == load_policy(path)  # no option given: the file as it is
    policy = policy_from_options(
        path,
        purpose=Purpose.DATA_MINING,
        allow_licenses=["cc0-1.0"],
        deny_licenses=["CC-BY-ND-4.0"],
        allowed_signers=["SHA256:ab12", "Jane *"],
        constrained=Use.ALLOWED,
        keep_unsigned=True,
    )
    assert policy.license_allow == ("CC-BY-4.0", "CC0-1.0")  # added to the file's lists, not replacing them
    assert policy.license_deny == ("CC-BY-NC-4.0", "CC-BY-ND-4.0")
    assert policy.allowed_signers == (
        SignerRule(subject="Studio *"),
        SignerRule(fingerprint="SHA256:ab12"),
        SignerRule(subject="Jane *"),
    )
    assert (policy.purpose, policy.commercial, policy.constrained) == (Purpose.DATA_MINING, False, Use.ALLOWED)
    assert policy.keep_absent and not policy.keep_remote and not policy.license_required
    assert policy_from_options(None) == Policy()  # no file: the strict default
    with pytest.raises(PolicyError, match=re.escape("--allow-license: 'https://example.com/terms' is a URL")):
        policy_from_options(None, allow_licenses=["https://example.com/terms"])
