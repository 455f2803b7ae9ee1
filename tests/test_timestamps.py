"""RFC 3161 timestamps with a real timestamp authority (``openssl ts``) on 127.0.0.1.

A signature made with a certificate that later expires still verifies when it carries a timestamp
from a trusted TSA, and does not without one. The TSA root is trusted by putting it among the
trust anchors, like any root (``--trust``; one PEM file or a second one). :func:`probe_tsa` refuses
every URL the engine would fail to get a timestamp from, so the CLI can stop before touching files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from rightsmark.engine import adapter as engine
from rightsmark.errors import SigningError, TimestampError
from rightsmark.keys.devca import KeyFiles, _issue, _name, _new_key
from rightsmark.keys.material import SigningMaterial, load_signing_material
from rightsmark.keys.timestamps import PROBE_DIGEST, decode_reply, probe_request, probe_tsa, validate_tsa_url
from rightsmark.models import Algorithm, Decision, Integrity, Trust
from rightsmark.sign.signer import Signer
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.policy import Policy
from rightsmark.verify.verifier import Verifier

from .conftest import EXAMPLE_IMAGES, REPO, CliResult, one_error_line, open_rights
from .tsa import LocalTSA, closed_port, fixed_reply_server, tokenless_reply

#: How long the short-lived signing certificate stays valid after it is made.
LIFETIME = dt.timedelta(seconds=6)
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")

# the engine must reach every TSA of these tests directly, even when the run is behind a proxy
pytestmark = pytest.mark.usefixtures("direct_loopback")


def engine_reading(path: Path, anchors_pem: str | None) -> dict[str, Any]:
    """The engine's own validation of ``path`` (state and codes), with rightsmark's reading settings."""
    c2pa = engine.c2pa()
    context = engine.reading_context(TrustSources(claim_pem=anchors_pem) if anchors_pem else None)
    try:
        with c2pa.Reader("image/jpeg", io.BytesIO(path.read_bytes()), None, context) as reader:
            store: dict[str, Any] = json.loads(reader.json())
    finally:
        context.close()
    results = store["validation_results"]["activeManifest"]
    return {
        "state": store["validation_state"],
        "success": {c["code"] for c in results.get("success", [])},
        "failure": {c["code"] for c in results.get("failure", [])},
        "informational": {c["code"] for c in results.get("informational", [])},
        "signature_info": store["manifests"][store["active_manifest"]]["signature_info"],
    }


def short_lived_material(directory: Path) -> tuple[SigningMaterial, Path, dt.datetime]:
    """Signing material whose leaf expires :data:`LIFETIME` from now, its CA root file, and the expiry."""
    now = dt.datetime.now(dt.UTC)
    expires = (now + LIFETIME).replace(microsecond=0)
    root_key = _new_key(Algorithm.ES256)
    root_name = _name("short-lived test CA root", "short-lived test CA")
    root = _issue(root_name, root_key, root_name, root_key, now - dt.timedelta(minutes=5), 3650, ca=True)
    leaf_key = _new_key(Algorithm.ES256)
    # _issue takes whole days: start the day-long validity so that it ends a few seconds from now
    leaf = _issue(
        _name("short-lived signer", "short-lived test CA"),
        leaf_key,
        root_name,
        root_key,
        expires - dt.timedelta(days=1),
        1,
        ca=False,
    )
    assert leaf.not_valid_after_utc == expires
    directory.mkdir(parents=True)
    ca, chain, key = directory / "ca.pem", directory / "chain.pem", directory / "signer.key"
    ca.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # load_signing_material runs check_signing_certificate: the leaf is valid now
    return load_signing_material(key, chain), ca, expires


@dataclass(frozen=True)
class Expired:
    """Files signed by a leaf that has expired since: two with a timestamp, one without."""

    ca: Path
    both: Path  # the signer's root and the TSA root in one PEM file
    stamped: Path
    stamped_again: Path
    plain: Path
    requests: tuple[int, int, int]  # TSA requests seen after each of the three signatures
    queries: tuple[bytes, ...]  # the bodies of those requests
    signed_between: tuple[dt.datetime, dt.datetime]
    before_expiry: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Expired:
    root = tmp_path_factory.mktemp("expired")
    material, ca, expires = short_lived_material(root / "keys")
    both = root / "ca-and-tsa.pem"
    both.write_bytes(ca.read_bytes() + tsa.ca_pem.read_bytes())
    out = root / "signed"
    start_count = len(tsa.queries)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    counts = []
    with Signer(material, tsa_url=tsa.url) as stamping, Signer(material) as plain:
        stamping.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out / "stamped.jpg", open_rights())
        counts.append(len(tsa.queries) - start_count)
        stamping.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out / "stamped-again.jpg", open_rights())
        counts.append(len(tsa.queries) - start_count)
        plain.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out / "plain.jpg", open_rights())
        counts.append(len(tsa.queries) - start_count)
    ended = dt.datetime.now(dt.UTC)
    queries = tuple(tsa.queries[start_count:])
    anchors = both.read_text()
    before = {name: engine_reading(out / name, anchors) for name in ("stamped.jpg", "plain.jpg")}
    assert dt.datetime.now(dt.UTC) < expires, "signing took longer than the certificate lived; raise LIFETIME"
    time.sleep((expires - dt.datetime.now(dt.UTC)).total_seconds() + 1.5)
    assert dt.datetime.now(dt.UTC) > expires
    return Expired(
        ca=ca,
        both=both,
        stamped=out / "stamped.jpg",
        stamped_again=out / "stamped-again.jpg",
        plain=out / "plain.jpg",
        requests=(counts[0], counts[1], counts[2]),
        queries=queries,
        signed_between=(started, ended),
        before_expiry=before,
    )


# ---------------------------------------------------------------------------------------------
# The engine's verdicts, before and after the signing certificate expired


def test_both_files_were_trusted_while_the_certificate_was_valid(expired: Expired) -> None:
    for reading in expired.before_expiry.values():
        assert reading["state"] == "Trusted"
        assert reading["failure"] == set()
    assert {"timeStamp.validated", "timeStamp.trusted"} <= expired.before_expiry["stamped.jpg"]["success"]
    assert not any(c.startswith("timeStamp.") for c in expired.before_expiry["plain.jpg"]["success"])


def test_after_expiry_the_timestamped_file_stays_trusted_and_the_other_turns_invalid(expired: Expired) -> None:
    anchors = expired.both.read_text()
    stamped = engine_reading(expired.stamped, anchors)
    assert stamped["state"] == "Trusted"
    assert stamped["failure"] == set()
    assert {
        "timeStamp.validated",
        "timeStamp.trusted",
        "signingCredential.trusted",
        "claimSignature.insideValidity",
        "claimSignature.validated",
    } <= stamped["success"]
    plain = engine_reading(expired.plain, anchors)
    assert plain["state"] == "Invalid"
    # the chain no longer validates today, so the engine also calls it untrusted
    assert plain["failure"] == {"signingCredential.expired", "signingCredential.untrusted"}
    assert "claimSignature.validated" in plain["success"]  # the bytes are intact: only time ran out


def test_timestamp_from_an_untrusted_tsa_does_not_save_the_expired_signature_for_the_engine(expired: Expired) -> None:
    """The TSA root not among the anchors: the timestamp is checked but not trusted (informational)."""
    reading = engine_reading(expired.stamped, expired.ca.read_text())
    assert reading["state"] == "Invalid"
    assert reading["failure"] == {"signingCredential.expired", "signingCredential.untrusted"}
    assert "timeStamp.validated" in reading["success"]
    assert "timeStamp.trusted" not in reading["success"]
    assert "timeStamp.untrusted" in reading["informational"]


def test_the_tsa_root_alone_trusts_the_time_but_not_the_signer(expired: Expired, tsa: LocalTSA) -> None:
    reading = engine_reading(expired.stamped, tsa.ca_pem.read_text())
    assert reading["state"] == "Valid"
    assert reading["failure"] == {"signingCredential.untrusted"}  # no longer expired: the time is proven
    assert {"timeStamp.validated", "timeStamp.trusted"} <= reading["success"]


def test_the_timestamp_is_visible_in_the_manifest(expired: Expired) -> None:
    info = engine_reading(expired.stamped, expired.both.read_text())["signature_info"]
    signed_at = dt.datetime.fromisoformat(info["time"])
    start, end = expired.signed_between
    assert start - dt.timedelta(seconds=2) <= signed_at <= end + dt.timedelta(seconds=2)
    assert "time" not in engine_reading(expired.plain, expired.both.read_text())["signature_info"]


# ---------------------------------------------------------------------------------------------
# The TSA was really contacted, once per timestamped signature


def test_the_tsa_is_asked_once_per_timestamped_signature_and_never_without_one(expired: Expired) -> None:
    assert expired.requests == (1, 2, 2)
    assert len(expired.queries) == 2


def test_the_engine_sends_a_sha256_timestamp_request_with_a_nonce(expired: Expired) -> None:
    texts = [
        subprocess.run(
            ["openssl", "ts", "-query", "-in", "/dev/stdin", "-text"], input=query, capture_output=True, check=True
        ).stdout.decode()
        for query in expired.queries
    ]
    for text in texts:
        assert "Hash Algorithm: sha256" in text
        assert "Certificate required: yes" in text
        assert "Nonce: 0x" in text
    assert texts[0] != texts[1]  # two signatures, two imprints (and nonces)


# ---------------------------------------------------------------------------------------------
# rightsmark's verdicts: library and CLI


def test_verifier_keeps_the_timestamped_file_and_drops_the_other(expired: Expired, tsa: LocalTSA) -> None:
    with Verifier([expired.ca, tsa.ca_pem]) as verifier:
        stamped = verifier.verify_file(expired.stamped)
        again = verifier.verify_file(expired.stamped_again)
        plain = verifier.verify_file(expired.plain)
    for record in (stamped, again):
        assert (record.integrity, record.trust, record.decision) == (Integrity.VALID, Trust.TRUSTED, Decision.KEEP)
        assert record.signer is not None and record.signer.time is not None
    assert plain.integrity is Integrity.INVALID
    assert plain.decision is Decision.DROP
    assert "signingCredential.expired" in plain.engine_codes
    assert plain.signer is not None and plain.signer.time is None


@pytest.mark.parametrize("layout", ["one PEM file", "two --trust files"])
def test_cli_verify_with_the_tsa_root_in_the_trust_anchors(
    cli: Callable[..., CliResult], expired: Expired, tsa: LocalTSA, layout: str
) -> None:
    trust = ["--trust", str(expired.both)]
    if layout == "two --trust files":
        trust = ["--trust", str(expired.ca), "--trust", str(tsa.ca_pem)]
    result = cli("verify", expired.stamped, expired.plain, *trust, "--format", "json")
    assert result.returncode == 1, result.stderr  # the untimestamped file is dropped
    assert "Traceback" not in result.stderr
    records = result.json()
    assert isinstance(records, list)
    stamped, plain = records
    assert (stamped["integrity"], stamped["trust"], stamped["decision"]) == ("valid", "trusted", "keep")
    assert stamped["engine"] == {"state": "Trusted", "failure_codes": [], "ingredient_failure_codes": []}
    assert stamped["signer"]["time"]
    assert plain["integrity"] == "invalid"
    assert plain["decision"] == "drop"
    # (and its XMP mirror, no longer backed by a valid manifest, declares the lossy "prohibited, see the
    # embedded rights expression" of open_rights' mixed permissions: an opt-out, reported too)
    assert [r["code"] for r in plain["reasons"]] == ["integrity-invalid", "declared-opt-out"]
    assert plain["engine"]["failure_codes"] == ["signingCredential.expired"]
    assert plain["signer"]["time"] is None


def test_cli_verify_without_the_tsa_root_trusts_neither_file(cli: Callable[..., CliResult], expired: Expired) -> None:
    """The TSA root not among the anchors. rightsmark reads the timestamped file as intact (its timestamp,
    though from a TSA nobody trusts, dates the signature inside the certificate's validity) but untrusted:
    the default policy drops it for that. Without a timestamp, the expired signature is an integrity failure."""
    result = cli("verify", expired.stamped, expired.plain, "--trust", expired.ca, "--format", "json")
    assert result.returncode == 1
    records = result.json()
    assert isinstance(records, list)
    stamped, plain = records
    assert (stamped["integrity"], stamped["trust"], stamped["decision"]) == ("valid", "untrusted", "drop")
    assert stamped["engine"]["state"] == "Invalid"
    assert set(stamped["engine"]["failure_codes"]) == {"signingCredential.expired", "signingCredential.untrusted"}
    assert [r["code"] for r in stamped["reasons"]] == ["untrusted"]
    assert (plain["integrity"], plain["trust"], plain["decision"]) == ("invalid", "untrusted", "drop")
    # (and its XMP mirror, no longer backed by a valid manifest, declares the lossy "prohibited, see the
    # embedded rights expression" of open_rights' mixed permissions: an opt-out, reported too)
    assert [r["code"] for r in plain["reasons"]] == ["integrity-invalid", "declared-opt-out"]


def test_an_untrusted_timestamp_changes_the_verdict_only_when_untrusted_signers_are_allowed(
    expired: Expired,
) -> None:
    with Verifier(policy=Policy(anchors=(expired.ca,), allow_untrusted=True)) as verifier:
        stamped = verifier.verify_file(expired.stamped)
        plain = verifier.verify_file(expired.plain)
    assert (stamped.integrity, stamped.trust, stamped.decision) == (Integrity.VALID, Trust.UNTRUSTED, Decision.KEEP)
    assert (plain.integrity, plain.decision) == (Integrity.INVALID, Decision.DROP)


def test_a_cached_verdict_is_not_reused_outside_its_anchors_validity(
    tmp_path: Path, tsa: LocalTSA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trust verdict per signing chain is cached. Its intermediate CA expires while the leaf lives on:
    a file timestamped before that stays trusted, one without a timestamp is judged now, when the chain
    no longer validates. Reading the timestamped file first must not lend its verdict to the other."""
    from rightsmark.trust.sources import resolve
    from rightsmark.verify.reader import FactReader

    now = dt.datetime.now(dt.UTC)
    expires = (now + LIFETIME).replace(microsecond=0)
    root_key, inter_key, leaf_key = (_new_key(Algorithm.ES256) for _ in range(3))
    root_name = _name("test root", "cache window CA")
    inter_name = _name("short-lived intermediate", "cache window CA")
    root = _issue(root_name, root_key, root_name, root_key, now - dt.timedelta(minutes=5), 3650, ca=True)
    inter = _issue(inter_name, inter_key, root_name, root_key, expires - dt.timedelta(days=1), 1, ca=True)
    leaf = _issue(_name("long-lived signer", "cache window CA"), leaf_key, inter_name, inter_key,
                  now - dt.timedelta(minutes=5), 365, ca=False)  # fmt: skip
    ca, chain, key = tmp_path / "ca.pem", tmp_path / "chain.pem", tmp_path / "signer.key"
    ca.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + inter.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    material = load_signing_material(key, chain)
    with Signer(material, tsa_url=tsa.url) as stamping, Signer(material) as plain:
        stamping.sign_file(EXAMPLE_IMAGES / "harbour.jpg", tmp_path / "stamped.jpg", open_rights())
        plain.sign_file(EXAMPLE_IMAGES / "harbour.jpg", tmp_path / "plain.jpg", open_rights())
    time.sleep((expires - dt.datetime.now(dt.UTC)).total_seconds() + 1.5)
    trust = resolve((), anchors=[ca], tsa_anchors=[tsa.ca_pem])

    def facts(reader: FactReader, name: str) -> Any:
        return reader.examine((tmp_path / name).read_bytes(), name)[0]

    fresh = {}
    for name in ("stamped.jpg", "plain.jpg"):
        reader = FactReader(trust)
        fresh[name] = facts(reader, name)
        reader.close()
    assert fresh["stamped.jpg"].trusted  # the chain was valid at the trusted time of signing
    assert not fresh["plain.jpg"].trusted  # judged now: the intermediate has expired
    warm = FactReader(trust)
    try:
        assert [facts(warm, n) for n in ("stamped.jpg", "plain.jpg")] == [fresh["stamped.jpg"], fresh["plain.jpg"]]
    finally:
        warm.close()


# ---------------------------------------------------------------------------------------------
# probe_tsa and validate_tsa_url


def test_probe_passes_against_the_local_tsa_with_one_request(tsa: LocalTSA) -> None:
    before = tsa.requests
    probe_tsa(tsa.url)
    assert tsa.requests == before + 1


def test_the_probe_request_is_a_valid_timestamp_query() -> None:
    request = probe_request()
    text = subprocess.run(
        ["openssl", "ts", "-query", "-in", "/dev/stdin", "-text"],
        input=request.as_bytes(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert request.nonce is not None and request.nonce != probe_request().nonce  # a new nonce each time
    nonce = request.nonce.to_bytes((request.nonce.bit_length() + 7) // 8, "big")
    assert "Hash Algorithm: sha256" in text
    assert f"Nonce: 0x{nonce.hex().upper()}" in text
    assert "Certificate required: yes" in text
    assert PROBE_DIGEST[:8].hex(" ") in text.replace("-", " ")


@pytest.fixture(scope="module")
def rejecting_tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    """A real TSA that grants only SHA-512 imprints: it answers SHA-256 requests with a rejection."""
    with LocalTSA(tmp_path_factory.mktemp("rejecting-tsa"), digests=("sha512",)) as authority:
        yield authority


@pytest.fixture(scope="module")
def octet_stream_tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    """A real TSA whose correct replies carry the wrong Content-Type (which the engine refuses)."""
    with LocalTSA(tmp_path_factory.mktemp("octet-tsa"), content_type="application/octet-stream") as authority:
        yield authority


def _swap_digest(query: bytes) -> bytes:
    """The same TimeStampReq for another SHA-256 digest (its hashedMessage bytes inverted)."""
    at = query.index(b"\x04\x20") + 2
    return query[:at] + bytes(b ^ 0xFF for b in query[at : at + 32]) + query[at + 32 :]


@pytest.fixture(scope="module")
def digest_swapping_tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    """A real TSA that timestamps another digest than the one asked for (same nonce)."""
    with LocalTSA(tmp_path_factory.mktemp("swapping-tsa"), rewrite_query=_swap_digest) as authority:
        yield authority


def _no_certificate_wanted(query: bytes) -> bytes:
    """The same TimeStampReq with certReq FALSE (it ends with certReq TRUE): openssl then omits its certificate."""
    assert query.endswith(b"\x01\x01\xff")
    return query[:-1] + b"\x00"


# the extendedKeyUsage extension of the local TSA's certificate (critical, id-kp-timeStamping), and the
# same extension naming id-kp-codeSigning instead: one byte apart, so no length changes
_EKU_TIME_STAMPING = bytes.fromhex("0603551d250101ff040c300a06082b06010505070308")
_EKU_CODE_SIGNING = _EKU_TIME_STAMPING[:-1] + b"\x03"


def _code_signing_certificate(reply: bytes) -> bytes:
    """The reply with its TSA certificate claiming code signing instead of timestamping (its signature, over
    the token, still verifies; the certificate's own signature no longer does, which only a chain check sees)."""
    assert reply.count(_EKU_TIME_STAMPING) == 1
    return reply.replace(_EKU_TIME_STAMPING, _EKU_CODE_SIGNING)


#: Real replies of a real TSA, damaged on the way.
REPLY_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "oversized reply": lambda reply: reply + bytes(1 << 20),
    "truncated reply": lambda reply: reply[:-7],
    "reply with trailing bytes": lambda reply: reply + b"\x05\x00",
    "TSA certificate not for timestamping": _code_signing_certificate,
}


@contextlib.contextmanager
def bad_authority(kind: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of something on 127.0.0.1 that cannot give a timestamp."""
    if kind == "closed port":
        with closed_port() as url:
            yield url
    elif kind == "HTTP 404":
        with fixed_reply_server(404, b"no such page", "text/html") as url:
            yield url
    elif kind == "HTTP 202":
        with fixed_reply_server(202, b"", "application/timestamp-reply") as url:
            yield url
    elif kind == "200 with a web page":
        with fixed_reply_server(200, b"<html>welcome</html>", "text/html") as url:
            yield url
    elif kind == "200 with garbage":
        with fixed_reply_server(200, b"this is not DER", "application/timestamp-reply") as url:
            yield url
    elif kind == "reply with the wrong content type":
        yield request.getfixturevalue("octet_stream_tsa").url
    elif kind == "rejection":
        yield request.getfixturevalue("rejecting_tsa").url
    elif kind == "replayed reply":
        tsa: LocalTSA = request.getfixturevalue("tsa")
        old = tsa.reply(probe_request().as_bytes())  # a real reply, to an earlier request
        assert old is not None
        with fixed_reply_server(200, old, "application/timestamp-reply") as url:
            yield url
    elif kind == "token for another digest":
        yield request.getfixturevalue("digest_swapping_tsa").url
    elif kind in REPLY_DAMAGE:
        with LocalTSA(rewrite_reply=REPLY_DAMAGE[kind]) as authority:
            yield authority.url
    elif kind == "reply without the TSA certificate":
        with LocalTSA(rewrite_query=_no_certificate_wanted) as authority:
            yield authority.url
    elif kind == "TSA certificate expired before it stamped":
        long_ago = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
        with LocalTSA(valid=(long_ago, long_ago + dt.timedelta(days=365))) as authority:
            yield authority.url
    elif kind == "granted without a token":
        with fixed_reply_server(200, tokenless_reply(0), "application/timestamp-reply") as url:
            yield url
    elif kind == "waiting, with a reason of several lines":
        reply = tokenless_reply(3, "busy\nplease \x1b[31mwait", "second")
        with fixed_reply_server(200, reply, "application/timestamp-reply") as url:
            yield url
    else:
        raise AssertionError(kind)


BAD_AUTHORITIES = {
    "closed port": "connection refused",
    "HTTP 404": "HTTP 404",
    "HTTP 202": "HTTP 202",
    "200 with a web page": "not a timestamp reply (Content-Type text/html, expected application/timestamp-reply)",
    "200 with garbage": "not a timestamp reply (the body is not a DER TimeStampResp)",
    "reply with the wrong content type": "not a timestamp reply (Content-Type application/octet-stream",
    "rejection": "refused the request: rejection",
    "replayed reply": "echoes another nonce than the one sent",
    "token for another digest": "the timestamp token is for another digest than the one sent",
    "truncated reply": "not a timestamp reply (the body is not a DER TimeStampResp)",
    "reply without the TSA certificate": "the timestamp token does not carry the TSA certificate",
    "TSA certificate expired before it stamped": "was not valid when it stamped",
    "granted without a token": "not a timestamp reply (status granted but no timestamp token)",
    "waiting, with a reason of several lines": r"refused the request: waiting (busy\nplease \x1b[31mwait; second)",
}


@pytest.mark.parametrize("kind", list(BAD_AUTHORITIES))
def test_probe_refuses_what_the_engine_cannot_use(
    kind: str, request: pytest.FixtureRequest, material: SigningMaterial, tmp_path: Path
) -> None:
    """Each URL the probe refuses also makes the engine fail to sign: the probe is not stricter than needed,
    and not looser. Signing fails with one line and leaves no file, not even a temporary one."""
    with bad_authority(kind, request) as url:
        with pytest.raises(TimestampError) as probed:
            probe_tsa(url, timeout=5)
        message = str(probed.value)
        assert url in message
        assert BAD_AUTHORITIES[kind] in message
        assert "\n" not in message
        assert probed.value.hint
        out = tmp_path / "out"
        with Signer(material, tsa_url=url) as signer, pytest.raises(SigningError) as signed:
            signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out / "photo.jpg", open_rights())
    assert "\n" not in str(signed.value)
    assert "the C2PA engine could not sign this file" in str(signed.value)
    assert not out.exists() or os.listdir(out) == []  # nothing written, not even a temporary


#: Replies the engine would take (it reads on past trailing bytes and stops reading after 1,000,000 bytes; it does
#: not look at the TSA certificate's key usage when it signs) but that the probe refuses: not a DER TimeStampResp,
#: or a timestamp no verifier will trust. ``rightsmark sign`` stops there, before any file is touched.
REFUSED_AT_THE_PROBE = {
    "oversized reply": "not a timestamp reply (more than 1 MiB)",
    "reply with trailing bytes": "not a timestamp reply (the body is not a DER TimeStampResp)",
    "TSA certificate not for timestamping": "is not for timestamping (no critical id-kp-timeStamping",
}


@pytest.mark.parametrize("kind", list(REFUSED_AT_THE_PROBE))
def test_sign_stops_at_a_reply_the_probe_refuses(
    kind: str, cli: Callable[..., CliResult], keys: KeyFiles, tmp_path: Path
) -> None:
    (tmp_path / "photo.jpg").write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    with LocalTSA(rewrite_reply=REPLY_DAMAGE[kind]) as authority:
        url = authority.url
        with pytest.raises(TimestampError) as probed:
            probe_tsa(url, timeout=5)
        assert REFUSED_AT_THE_PROBE[kind] in str(probed.value) and "\n" not in str(probed.value)
        before = authority.requests
        result = cli(
            "sign", "photo.jpg", "-o", "out", "--key", keys.key, "--cert", keys.chain, "--no-people",
            "--license", "CC-BY-4.0", "--tsa", url,
        )  # fmt: skip
        asked = authority.requests - before
    one_error_line(result, url, REFUSED_AT_THE_PROBE[kind])
    assert asked == 1  # the probe; no signature asked for a timestamp
    assert not (tmp_path / "out").exists()


def test_a_reply_in_openssl_chain_order_is_read(tsa: LocalTSA) -> None:
    """openssl ts writes the token's certificates leaf first, not sorted as DER sorts a SET: rfc3161-client alone
    refuses such a reply, the probe reads it (the one hand-written step sorts the SET), checks unchanged."""
    from rfc3161_client import decode_timestamp_response

    request = probe_request()
    raw = tsa.reply(request.as_bytes())
    assert raw is not None
    with pytest.raises(ValueError, match="InvalidSetOrdering"):
        decode_timestamp_response(raw)
    reply = decode_reply(raw)
    assert (reply.status, reply.tst_info.nonce, reply.tst_info.message_imprint.message) == (
        0,
        request.nonce,
        PROBE_DIGEST,
    )
    assert len(reply.signed_data.certificates) == 2
    with pytest.raises(ValueError, match="not a DER TimeStampResp"):
        decode_reply(raw[:-1])


def test_signing_against_a_stopped_tsa_fails_and_writes_nothing(material: SigningMaterial, tmp_path: Path) -> None:
    with LocalTSA(tmp_path / "tsa") as authority:
        url = authority.url
        probe_tsa(url)
    with pytest.raises(TimestampError, match="connection refused"):
        probe_tsa(url)
    out = tmp_path / "out"
    with Signer(material, tsa_url=url) as signer, pytest.raises(SigningError, match="error sending request"):
        signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out / "photo.jpg", open_rights())
    assert not out.exists() or os.listdir(out) == []  # nothing written, not even a temporary


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://x", "scheme 'ftp'"),
        ("notaurl", "no scheme"),
        ("http://", "no host"),
        ("https:///path", "no host"),
        ("http://127.0.0.1:99999/", "bad port"),
        ("http://tsa.example/ts a", "not a timestamp authority URL"),
        ("", "not a timestamp authority URL"),
    ],
)
def test_validate_tsa_url_refuses(url: str, problem: str) -> None:
    with pytest.raises(TimestampError) as caught:
        validate_tsa_url(url)
    assert problem in str(caught.value)
    assert caught.value.hint and "http" in caught.value.hint
    with pytest.raises(TimestampError):
        probe_tsa(url)  # refused before any connection


@pytest.mark.parametrize(
    "url", ["http://timestamp.example.com", "https://tsa.example.org:8443/tsr", " HTTP://127.0.0.1:8080/ "]
)
def test_validate_tsa_url_accepts(url: str) -> None:
    assert validate_tsa_url(url) == url.strip()


def _use_proxy(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)


def test_the_probe_takes_the_route_the_engine_takes(tsa: LocalTSA, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through an environment proxy (as the engine does: a probe that went direct could pass where signing
    fails, or refuse a TSA signing would reach), and straight to hosts NO_PROXY names."""
    with LocalTSA() as proxy:
        _use_proxy(monkeypatch, proxy.url)
        before = tsa.requests
        probe_tsa(tsa.url)  # the proxy (another local TSA) answers the proxied POST itself
        assert (proxy.requests, tsa.requests) == (1, before)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        probe_tsa(tsa.url)
        assert (proxy.requests, tsa.requests) == (1, before + 1)
    with closed_port() as dead:
        _use_proxy(monkeypatch, dead)
        with pytest.raises(TimestampError):
            probe_tsa(tsa.url)  # a dead proxy is reported, as signing would fail through it


SIGN_IN_A_NEW_PROCESS = """
import sys
from rightsmark.keys.material import load_signing_material
from rightsmark.sign.signer import Signer
from tests.conftest import open_rights
key, chain, url, source, output = sys.argv[1:]
with Signer(load_signing_material(key, chain), tsa_url=url) as signer:
    signer.sign_file(source, output, open_rights())
"""


def test_the_engine_sends_timestamp_requests_through_an_environment_proxy(
    tsa: LocalTSA, keys: KeyFiles, tmp_path: Path
) -> None:
    """Unlike the probe, the engine honours http_proxy and NO_PROXY, even for 127.0.0.1, and reads them once per
    process (so each case runs in a new one). A second local TSA plays the proxy: it answers the proxied POST
    itself, so the TSA named in the URL hears nothing."""
    with LocalTSA(tmp_path / "proxy") as proxy:
        env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy", *PROXY_VARIABLES}}
        before = tsa.requests
        for case, extra in (
            ("via-proxy", {"http_proxy": proxy.url}),
            ("direct", {"http_proxy": proxy.url, "NO_PROXY": "127.0.0.1"}),
        ):
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    SIGN_IN_A_NEW_PROCESS,
                    str(keys.key),
                    str(keys.chain),
                    tsa.url,
                    str(EXAMPLE_IMAGES / "harbour.jpg"),
                    str(tmp_path / f"{case}.jpg"),
                ],
                cwd=REPO,
                env={**env, **extra},
                check=True,
                capture_output=True,
                timeout=120,
            )
            if case == "via-proxy":
                assert (proxy.requests, tsa.requests - before) == (1, 0)
        assert (proxy.requests, tsa.requests - before) == (1, 1)
