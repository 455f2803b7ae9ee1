"""The keys photographers really have: encrypted PEM, PKCS#12 bundles, keys on PKCS#11 tokens.

Everything is real: SoftHSM2 holds the token keys (generated on it, never extractable), the C2PA
engine signs and verifies, cryptography parses the requests. Nothing is mocked. Certificate rules
are checked in both directions against the engine itself: what the engine refuses, rightsmark
refuses first with a message that says what is wrong and how to get a good certificate; what the
engine accepts, rightsmark does not refuse.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import multiprocessing
import os
import pickle
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from rightsmark.engine import adapter as engine
from rightsmark.errors import CertificateError, KeyMaterialError, PassphraseError, TokenError
from rightsmark.keys.checks import EKU_DOCUMENT_SIGNING
from rightsmark.keys.devca import KeyFiles, init_keys
from rightsmark.keys.material import load_signing_material
from rightsmark.keys.pkcs11uri import parse_pkcs11_uri
from rightsmark.keys.source import KeySource, key_source
from rightsmark.models import Algorithm, Integrity, Trust
from rightsmark.sign.signer import Signer
from rightsmark.verify.verifier import Verifier

from .conftest import EXAMPLE_IMAGES, one_error_line, open_rights
from .softhsm import ALGORITHMS, SoftToken, session_token

Cli = Callable[..., Any]
PHOTO = EXAMPLE_IMAGES / "harbour.jpg"
PASSWORD = "correct horse battery"


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="session")
def soft_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftToken]:
    yield from session_token(tmp_path_factory)


def assert_ok(result: Any) -> None:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def verify(path: Path, anchor: Path) -> None:
    """The file validates and is trusted under ``anchor`` (the real engine, through rightsmark's verifier)."""
    with Verifier([anchor]) as v:
        record = v.verify_file(path)
    assert record.integrity is Integrity.VALID, record
    assert record.trust is Trust.TRUSTED, record


def sign_photo(source: KeySource, out: Path) -> Path:
    with Signer(source.load()) as signer:
        signer.sign_file(PHOTO, out, open_rights())
    return out


def sign_in_child(source: KeySource, out: str) -> tuple[int, str]:
    """Run in a worker process: load the (unpickled) source once, sign one file."""
    material = source.load()
    with Signer(material) as signer:
        signer.sign_file(PHOTO, out, open_rights())
    return os.getpid(), material.algorithm.name


def run_cli(*args: str | Path, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("RIGHTSMARK_DEBUG", "RIGHTSMARK_KEY_PASSPHRASE")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rightsmark", *map(str, args)],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kw,
    )


# ---------------------------------------------------------------------------------------------
# PKCS#11 URIs


def test_pkcs11_uri_is_parsed_per_rfc7512() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=Photo%20Key;object=my%3Bkey;id=%01%A2;serial=42?module-path=/usr/lib/x.so&pin-value=12%2634"
    )
    assert (uri.token, uri.object, uri.id, uri.serial) == ("Photo Key", "my;key", b"\x01\xa2", "42")
    assert uri.module_path == "/usr/lib/x.so"
    assert uri.pin_value == b"12&34"
    assert "12" not in repr(uri).replace("/usr/lib", "")  # the PIN never shows
    assert "pin-value" not in str(uri)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("pkcs11:token=a;objekt=b", "unknown PKCS#11 URI path attribute 'objekt'"),
        ("pkcs11:token=a;object=b;type=cert", "'cert' object"),
        ("pkcs11:token=a", "names no key"),
        ("pkcs11:token=a;object=b;object=c", "given twice"),
        ("pkcs11:token=a;object=b?pin-source=|/bin/echo", "not run"),
        ("pkcs11:token=a;slot-id=x;object=b", "not a number"),
    ],
)
def test_bad_pkcs11_uris_are_one_line_errors(text: str, needle: str) -> None:
    with pytest.raises(TokenError) as info:
        key_source(text, None, pkcs11_module="/usr/lib/softhsm/libsofthsm2.so")
    assert needle in str(info.value)
    assert "\n" not in info.value.one_line()


def test_pin_source_is_read_when_the_source_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("2468\n")
    module = "/usr/lib/softhsm/libsofthsm2.so"
    assert key_source(f"pkcs11:token=a;object=b?pin-source=file:{pin_file}", None, pkcs11_module=module).secret == (
        b"2468"
    )
    monkeypatch.setenv("MY_PIN", "1357")
    assert key_source("pkcs11:token=a;object=b?pin-source=env:MY_PIN", None, pkcs11_module=module).secret == b"1357"
    assert key_source("pkcs11:token=a;object=b?pin-value=99", None, pkcs11_module=module).secret == b"99"
    assert key_source("pkcs11:token=a;object=b?pin-value=99", None, pin=b"1", pkcs11_module=module).secret == b"1"
    monkeypatch.delenv("RIGHTSMARK_PKCS11_MODULE", raising=False)
    with pytest.raises(TokenError, match="no PKCS#11 module given"):
        key_source("pkcs11:token=a;object=b", None)
    monkeypatch.setenv("RIGHTSMARK_PKCS11_MODULE", module)
    assert key_source("pkcs11:token=a;object=b", None).module == module


# ---------------------------------------------------------------------------------------------
# Keys on a token (SoftHSM2)


@pytest.mark.parametrize("label", list(ALGORITHMS))
def test_token_key_signs_and_verifies_trusted(soft_token: SoftToken, label: str, tmp_path: Path) -> None:
    # "signer": certificate and intermediate from the token itself; the others: chain from a file
    cert = None if label == "signer" else soft_token.chains[label]
    source = key_source(soft_token.uri(label), cert, pin=soft_token.pin.encode())
    material = source.load()
    assert material.algorithm.name == ALGORITHMS[label]
    assert len(material.chain) == 2  # leaf and intermediate
    assert not hasattr(material.key, "private_bytes")  # a handle on the token, not key bytes
    out = sign_photo(source, tmp_path / "signed.jpg")
    verify(out, soft_token.ca)


def test_token_key_cannot_be_extracted(soft_token: SoftToken) -> None:
    report = soft_token.run("try-extract", label="signer")
    assert report["extractable"] is False
    assert report["sensitive"] is True
    assert report["never_extractable"] is True
    assert report["value"].startswith("refused")
    assert report["make_extractable"].startswith("refused")
    assert report["wrap"].startswith("refused")


def test_key_source_pickles_with_its_pin_and_signs_in_spawned_and_forked_workers(
    soft_token: SoftToken, tmp_path: Path
) -> None:
    source = key_source(soft_token.uri("signer"), None, pin=soft_token.pin.encode())
    parent_material = source.load()  # as the batch signer does: check first, in the parent
    copy = pickle.loads(pickle.dumps(source))
    assert copy == source
    assert copy.secret == soft_token.pin.encode()
    assert copy._loaded == {}  # nothing of the loaded material (sessions, keys) travels
    assert source.load() is parent_material  # memoised in this process
    for method in ("spawn", "fork"):
        out = tmp_path / f"{method}.jpg"
        with multiprocessing.get_context(method).Pool(1) as pool:
            pid, algorithm = pool.apply(sign_in_child, (source, str(out)))
        assert pid != os.getpid()
        assert algorithm == "ES256"
        verify(out, soft_token.ca)
    # the parent's own session still signs after its children logged in and out
    verify(sign_photo(source, tmp_path / "parent.jpg"), soft_token.ca)


def test_closed_sessions_are_reopened_and_a_closed_key_says_so(soft_token: SoftToken, tmp_path: Path) -> None:
    from rightsmark.keys.pkcs11 import close_token_sessions

    first = key_source(soft_token.uri("signer"), None, pin=soft_token.pin.encode())
    old = first.load()
    close_token_sessions()
    with pytest.raises(TokenError, match="closed"):
        old.sign(b"data")
    verify(sign_photo(first, tmp_path / "again.jpg"), soft_token.ca)  # load() logs in afresh
    material = first.load()
    material.close()
    assert first.load() is not material


def test_token_sign_through_the_cli(soft_token: SoftToken, tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    result = run_cli(
        "sign", "photo.jpg", "-o", "out", "--key", soft_token.uri("signer"), "--no-people",
        cwd=tmp_path, env={"RIGHTSMARK_PKCS11_PIN": soft_token.pin},
    )  # fmt: skip
    assert_ok(result)
    verify(tmp_path / "out" / "photo.jpg", soft_token.ca)


def test_token_signs_a_batch_on_two_workers_each_with_its_own_session(soft_token: SoftToken, tmp_path: Path) -> None:
    """A folder signed with a token key on two worker processes (a fork server: a PKCS#11 library is never
    inherited across fork); every file verifies, and a second run skips them all."""
    from PIL import Image

    (tmp_path / "export").mkdir()
    for i in range(6):
        Image.new("RGB", (96, 64), (40 * i, 90, 200 - 30 * i)).save(tmp_path / "export" / f"img{i}.jpg", quality=90)
    args = ("sign", "export", "-o", "out", "--key", soft_token.uri("signer"), "--no-people", "--jobs", "2")
    env = {"RIGHTSMARK_PKCS11_PIN": soft_token.pin, "RIGHTSMARK_CACHE_DIR": str(tmp_path / "cache")}
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert_ok(result)
    assert "6 signed, 0 failed" in result.stderr
    for i in range(6):
        verify(tmp_path / "out" / f"img{i}.jpg", soft_token.ca)
    again = run_cli(*args, cwd=tmp_path, env=env)
    assert_ok(again)
    assert "0 signed, 6 skipped" in again.stderr


def test_keys_check_with_a_token_and_every_way_to_give_module_and_pin(soft_token: SoftToken, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(soft_token.pin + "\n")
    bare = soft_token.uri("es384", module=False)
    cases: list[tuple[list[str], dict[str, str]]] = [
        (["--key", soft_token.uri("signer")], {"RIGHTSMARK_PKCS11_PIN": soft_token.pin}),
        (["--key", soft_token.uri("signer", pin_source=f"file:{pin_file}")], {}),
        (["--key", soft_token.uri("signer", pin_value=soft_token.pin)], {}),
        (["--key", bare, "--cert", str(soft_token.chains["es384"]), "--pkcs11-module", soft_token.module,
          "--passphrase-file", str(pin_file)], {}),
        (["--key", bare, "--cert", str(soft_token.chains["es384"])],
         {"RIGHTSMARK_PKCS11_MODULE": soft_token.module, "RIGHTSMARK_PKCS11_PIN": soft_token.pin}),
    ]  # fmt: skip
    for args, env in cases:
        result = run_cli("keys", "check", *args, env=env)
        assert_ok(result)
        label = "es384" if "es384" in args[1] else "signer"
        assert result.stdout.startswith(f"ok: token {label}, {ALGORITHMS[label]}, valid until "), result.stdout


def test_wrong_or_missing_pin_is_one_line_and_never_hangs(soft_token: SoftToken, tmp_path: Path) -> None:
    uri = soft_token.uri("signer")
    wrong = run_cli("keys", "check", "--key", uri, env={"RIGHTSMARK_PKCS11_PIN": "0000"})
    one_error_line(wrong, "wrong PIN", "rightsmark test")
    started = time.monotonic()
    missing = run_cli("keys", "check", "--key", uri, stdin=subprocess.DEVNULL)
    one_error_line(missing, "needs its PIN", "RIGHTSMARK_PKCS11_PIN")
    assert time.monotonic() - started < 30
    # signing with a wrong PIN writes nothing
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    result = run_cli(
        "sign", "photo.jpg", "-o", "out", "--key", uri, "--no-people", cwd=tmp_path,
        env={"RIGHTSMARK_PKCS11_PIN": "0000"},
    )  # fmt: skip
    one_error_line(result, "wrong PIN")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("uri", "needles"),
    [
        (
            "pkcs11:token=no%20such;object=signer",
            ("no PKCS#11 token 'no such' found", "tokens present: 'rightsmark test'"),
        ),
        ("pkcs11:token=rightsmark%20test;object=nope", ("holds no private key labelled 'nope'", "'signer'")),
        ("pkcs11:token=rightsmark%20test;object=signer?module-path=/nonexistent/p11.so", ("no such PKCS#11 module",)),
        ("pkcs11:token=rightsmark%20test;object=nocert", ("no certificate was given and the token holds none",)),
    ],
    ids=["no-token", "no-object", "no-module", "no-certificate"],
)
def test_token_problems_are_one_line_errors(soft_token: SoftToken, uri: str, needles: tuple[str, ...]) -> None:
    if "module-path" not in uri:
        uri += f"?module-path={soft_token.module}"
    result = run_cli("keys", "check", "--key", uri, env={"RIGHTSMARK_PKCS11_PIN": soft_token.pin})
    one_error_line(result, *needles)


def test_token_key_with_someone_elses_certificate_is_refused_before_signing(
    soft_token: SoftToken, tmp_path: Path
) -> None:
    with pytest.raises(CertificateError, match="does not match"):
        key_source(soft_token.uri("other"), soft_token.chains["signer"], pin=b"1234").load()
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    result = run_cli(
        "sign", "photo.jpg", "-o", "out", "--key", soft_token.uri("other"), "--cert", soft_token.chains["signer"],
        "--no-people", cwd=tmp_path, env={"RIGHTSMARK_PKCS11_PIN": soft_token.pin},
    )  # fmt: skip
    one_error_line(result, "private key does not match the certificate", "rightsmark keys csr")
    assert not (tmp_path / "out").exists()


def test_consent_withdrawal_list_signed_on_a_token(soft_token: SoftToken, tmp_path: Path) -> None:
    from rightsmark.verify.withdrawals import load_withdrawals

    result = run_cli(
        "consent", "withdraw", "MR-7", "--list", tmp_path / "w.json", "--key", soft_token.uri("signer"),
        env={"RIGHTSMARK_PKCS11_PIN": soft_token.pin},
    )  # fmt: skip
    assert_ok(result)
    assert set(load_withdrawals([tmp_path / "w.json"], [soft_token.ca]).withdrawn) == {"MR-7"}


# ---------------------------------------------------------------------------------------------
# Encrypted PEM keys: --passphrase-fd, --passphrase-env, --passphrase-file, the environment, a prompt


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    return init_keys(tmp_path_factory.mktemp("enc") / "k", passphrase=PASSWORD.encode())


def _sign_args(files: KeyFiles) -> list[str]:
    return ["sign", "photo.jpg", "-o", "out", "--key", str(files.key), "--cert", str(files.chain), "--no-people"]


def test_passphrase_from_an_inherited_file_descriptor(encrypted: KeyFiles, tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    read_end, write_end = os.pipe()
    os.write(write_end, PASSWORD.encode() + b"\n")
    os.close(write_end)
    try:
        result = run_cli(*_sign_args(encrypted), "--passphrase-fd", str(read_end), cwd=tmp_path, pass_fds=(read_end,))
    finally:
        os.close(read_end)
    assert_ok(result)
    verify(tmp_path / "out" / "photo.jpg", encrypted.ca)


@pytest.mark.parametrize("how", ["file", "named-env", "default-env"])
def test_passphrase_from_file_and_environment(encrypted: KeyFiles, tmp_path: Path, how: str) -> None:
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    (tmp_path / "pw.txt").write_text(PASSWORD + "\n")
    extra, env = {
        "file": (["--passphrase-file", "pw.txt"], {}),
        "named-env": (["--passphrase-env", "MY_KEY_PW"], {"MY_KEY_PW": PASSWORD}),
        "default-env": ([], {"RIGHTSMARK_KEY_PASSPHRASE": PASSWORD}),
    }[how]
    result = run_cli(*_sign_args(encrypted), *extra, cwd=tmp_path, env=env)
    assert_ok(result)
    verify(tmp_path / "out" / "photo.jpg", encrypted.ca)


@pytest.mark.parametrize(
    ("extra", "env", "needles"),
    [
        (["--passphrase-env", "MY_KEY_PW"], {"MY_KEY_PW": "wrong"}, ("signer.key", "wrong passphrase")),
        ([], {}, ("signer.key", "encrypted and no passphrase", "--passphrase-fd")),
        (["--passphrase-fd", "97"], {}, ("--passphrase-fd 97",)),
        (["--passphrase-env", "UNSET_PW_VAR"], {}, ("UNSET_PW_VAR", "empty or unset")),
    ],
    ids=["wrong", "missing-no-tty", "bad-fd", "unset-named-env"],
)
def test_bad_passphrase_is_one_line_and_nothing_is_written(
    encrypted: KeyFiles, tmp_path: Path, extra: list[str], env: dict[str, str], needles: tuple[str, ...]
) -> None:
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    started = time.monotonic()
    result = run_cli(*_sign_args(encrypted), *extra, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert time.monotonic() - started < 60  # never waits for a passphrase nobody can type
    one_error_line(result, *needles)
    assert not (tmp_path / "out").exists()


def _run_on_a_terminal(args: list[str], answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal; type ``answer`` at the prompt."""
    import pty
    import select

    full = {k: v for k, v in os.environ.items() if k not in ("RIGHTSMARK_DEBUG", "RIGHTSMARK_KEY_PASSPHRASE")}
    full.update(env)
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "rightsmark", *args], full)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b": " in seen and (b"Passphrase for" in seen or b"PIN for" in seen):
            os.write(fd, answer.encode() + b"\n")
            answered = True
    reaped = os.waitpid(pid, os.WNOHANG)
    if reaped[0] == 0:  # still running: give it a moment, then stop it (it waits for an answer never typed)
        time.sleep(2)
        reaped = os.waitpid(pid, os.WNOHANG)
        if reaped[0] == 0:
            os.kill(pid, 9)
            reaped = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(reaped[1]), seen.decode(errors="replace")


def test_prompt_on_a_terminal_for_passphrase_and_pin(
    encrypted: KeyFiles, soft_token: SoftToken, tmp_path: Path
) -> None:
    code, screen = _run_on_a_terminal(
        ["keys", "check", "--key", str(encrypted.key), "--cert", str(encrypted.chain)], PASSWORD, {}
    )
    assert code == 0, screen
    assert f"Passphrase for key file {encrypted.key}:" in screen
    assert "ok: rightsmark development signer, ES256" in screen
    assert PASSWORD not in screen  # not echoed
    code, screen = _run_on_a_terminal(["keys", "check", "--key", soft_token.uri("signer")], soft_token.pin, {})
    assert code == 0, screen
    assert "PIN for key 'signer' on token 'rightsmark test':" in screen
    assert "ok: token signer, ES256" in screen


# ---------------------------------------------------------------------------------------------
# PKCS#12 bundles


@pytest.fixture(scope="module")
def bundles(keys: KeyFiles, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The session's development key as PKCS#12: encrypted with the chain, unencrypted leaf-only, by content."""
    d = tmp_path_factory.mktemp("p12")
    key = serialization.load_pem_private_key(keys.key.read_bytes(), None)
    leaf, intermediate = x509.load_pem_x509_certificates(keys.chain.read_bytes())
    out = {
        "with-chain.p12": pkcs12.serialize_key_and_certificates(
            b"signer",
            key,
            leaf,
            [intermediate],
            serialization.BestAvailableEncryption(PASSWORD.encode()),  # type: ignore[arg-type]
        ),
        "leaf-only.pfx": pkcs12.serialize_key_and_certificates(
            b"signer",
            key,
            leaf,
            None,
            serialization.NoEncryption(),  # type: ignore[arg-type]
        ),
        "no-suffix.bin": pkcs12.serialize_key_and_certificates(
            b"signer",
            key,
            leaf,
            [intermediate],
            serialization.NoEncryption(),  # type: ignore[arg-type]
        ),
    }
    for name, data in out.items():
        (d / name).write_bytes(data)
    (d / "pw.txt").write_text(PASSWORD + "\n")
    return {name: d / name for name in [*out, "pw.txt"]}


def test_pem_key_file_holding_its_chain_needs_no_cert(keys: KeyFiles, tmp_path: Path) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(keys.key.read_bytes() + keys.chain.read_bytes())
    verify(sign_photo(key_source(combined, None), tmp_path / "signed.jpg"), keys.ca)
    with pytest.raises(KeyMaterialError, match="a PEM key needs its certificate chain"):
        key_source(keys.key, None).load()


def test_pkcs12_with_password_and_chain_signs_trusted(bundles: dict[str, Path], keys: KeyFiles, tmp_path: Path) -> None:
    source = key_source(bundles["with-chain.p12"], None, passphrase=PASSWORD.encode())
    assert source.kind == "pkcs12"
    assert len(source.load().chain) == 2  # the intermediate came from the bundle
    verify(sign_photo(source, tmp_path / "lib.jpg"), keys.ca)
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    result = run_cli(
        "sign", "photo.jpg", "-o", "out", "--key", bundles["with-chain.p12"], "--passphrase-file", bundles["pw.txt"],
        "--no-people", cwd=tmp_path,
    )  # fmt: skip
    assert_ok(result)
    verify(tmp_path / "out" / "photo.jpg", keys.ca)


def test_pkcs12_without_password_found_by_content_and_cert_override(
    bundles: dict[str, Path], keys: KeyFiles, tmp_path: Path
) -> None:
    by_content = key_source(bundles["no-suffix.bin"], None)
    assert by_content.kind == "pkcs12"
    verify(sign_photo(by_content, tmp_path / "a.jpg"), keys.ca)
    leaf_only = key_source(bundles["leaf-only.pfx"], keys.chain)  # --cert gives the chain the bundle lacks
    assert len(leaf_only.load().chain) == 2
    verify(sign_photo(leaf_only, tmp_path / "b.jpg"), keys.ca)


def test_pkcs12_wrong_or_missing_password(bundles: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="wrong passphrase for the PKCS#12 bundle"):
        key_source(bundles["with-chain.p12"], None, passphrase=b"nope").load()
    with pytest.raises(PassphraseError, match="encrypted and no passphrase"):
        key_source(bundles["with-chain.p12"], None).load()
    result = run_cli("keys", "check", "--key", bundles["with-chain.p12"], stdin=subprocess.DEVNULL)
    one_error_line(result, "with-chain.p12", "encrypted and no passphrase")
    garbage = tmp_path / "broken.p12"
    garbage.write_bytes(b"\x30\x03\x02\x01\x03")
    with pytest.raises(KeyMaterialError, match="neither a PEM private key nor a PKCS#12 bundle"):
        key_source(garbage, None).load()


# ---------------------------------------------------------------------------------------------
# Certificate signing requests


def issue_from_csr(csr: x509.CertificateSigningRequest, ca_key: Any, ca_cert: x509.Certificate) -> x509.Certificate:
    """What a CA does with the request: its subject, key and requested extensions, plus SKI and AKI."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for ext in csr.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    return builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def csr_ca(keys: KeyFiles) -> tuple[Any, x509.Certificate]:
    """A CA to issue requested certificates: the session's development intermediate, reused."""
    from rightsmark.keys.devca import _issue, _name, _new_key

    key = _new_key(Algorithm.ES256)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    name = _name("csr test root", "csr test CA")
    return key, _issue(name, key, name, key, now, 3650, ca=True)


def _check_request(csr: x509.CertificateSigningRequest, *, email: str | None, document_signing: bool) -> None:
    assert csr.is_signature_valid
    ku = csr.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not (ku.value.key_cert_sign or ku.value.crl_sign or ku.value.key_encipherment)
    eku = list(csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    expected = [ExtendedKeyUsageOID.EMAIL_PROTECTION] + ([EKU_DOCUMENT_SIGNING] if document_signing else [])
    assert eku == expected
    bc = csr.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    if email:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.RFC822Name) == [email]
    else:
        with pytest.raises(x509.ExtensionNotFound):
            csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize("algorithm", ["es256", "es384", "ps256", "ed25519"])
def test_csr_with_a_new_key_is_issued_and_signs_trusted(
    algorithm: str, csr_ca: tuple[Any, x509.Certificate], tmp_path: Path
) -> None:
    result = run_cli(
        "keys", "csr", "--subject", "Jane Doe", "--organization", "Doe Photography", "--email", "jane@example.org",
        "--country", "de", "--algorithm", algorithm.upper(), "--document-signing", "--new-key", "jane.key",
        "--passphrase-env", "JANE_PW", "-o", "jane.csr", cwd=tmp_path, env={"JANE_PW": PASSWORD},
    )  # fmt: skip
    assert_ok(result)
    assert stat.S_IMODE((tmp_path / "jane.key").stat().st_mode) == 0o600
    with pytest.raises(TypeError):  # encrypted with the passphrase from JANE_PW
        serialization.load_pem_private_key((tmp_path / "jane.key").read_bytes(), None)
    csr = x509.load_pem_x509_csr((tmp_path / "jane.csr").read_bytes())
    _check_request(csr, email="jane@example.org", document_signing=True)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Jane Doe"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Doe Photography"
    assert csr.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    if algorithm == "ps256":
        assert isinstance(csr.signature_algorithm_parameters, padding.PSS)

    ca_key, ca_cert = csr_ca
    (tmp_path / "jane.pem").write_bytes(issue_from_csr(csr, ca_key, ca_cert).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    check = run_cli(
        "keys", "check", "--key", "jane.key", "--cert", "jane.pem", cwd=tmp_path,
        env={"RIGHTSMARK_KEY_PASSPHRASE": PASSWORD},
    )  # fmt: skip
    assert_ok(check)
    assert check.stdout.startswith(f"ok: Jane Doe, {algorithm.upper()}, valid until ")
    material = load_signing_material(tmp_path / "jane.key", tmp_path / "jane.pem", PASSWORD.encode())
    with Signer(material) as signer:
        signer.sign_file(PHOTO, tmp_path / "signed.jpg", open_rights())
    verify(tmp_path / "signed.jpg", tmp_path / "ca.pem")


def test_csr_for_a_token_key_is_signed_on_the_token(
    soft_token: SoftToken, csr_ca: tuple[Any, x509.Certificate], tmp_path: Path
) -> None:
    result = run_cli(
        "keys", "csr", "--subject", "Token Holder", "--key", soft_token.uri("es384"), "-o", "token.csr",
        cwd=tmp_path, env={"RIGHTSMARK_PKCS11_PIN": soft_token.pin},
    )  # fmt: skip
    assert_ok(result)
    csr = x509.load_pem_x509_csr((tmp_path / "token.csr").read_bytes())
    _check_request(csr, email=None, document_signing=False)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(serialization.Encoding.DER, spki) == soft_token.public_keys["es384"]
    ca_key, ca_cert = csr_ca
    chain = tmp_path / "issued.pem"
    chain.write_bytes(issue_from_csr(csr, ca_key, ca_cert).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    source = key_source(soft_token.uri("es384"), chain, pin=soft_token.pin.encode())
    verify(sign_photo(source, tmp_path / "signed.jpg"), tmp_path / "ca.pem")


def test_csr_for_a_pkcs12_key(bundles: dict[str, Path], keys: KeyFiles, tmp_path: Path) -> None:
    result = run_cli(
        "keys", "csr", "--subject", "Bundle Owner", "--key", bundles["with-chain.p12"], "--passphrase-file",
        bundles["pw.txt"], "-o", "b.csr", cwd=tmp_path,
    )  # fmt: skip
    assert_ok(result)
    csr = x509.load_pem_x509_csr((tmp_path / "b.csr").read_bytes())
    assert csr.is_signature_valid
    leaf = x509.load_pem_x509_certificates(keys.chain.read_bytes())[0]
    assert csr.public_key() == leaf.public_key()


def test_csr_never_overwrites_and_refuses_bad_input(keys: KeyFiles, tmp_path: Path) -> None:
    (tmp_path / "taken.csr").write_text("keep me")
    (tmp_path / "taken.key").write_text("keep me too")
    base = ["keys", "csr", "--subject", "X"]
    one_error_line(run_cli(*base, "--new-key", "n.key", "-o", "taken.csr", cwd=tmp_path), "taken.csr", "overwrite")
    assert not (tmp_path / "n.key").exists()
    one_error_line(run_cli(*base, "--new-key", "taken.key", "-o", "n.csr", cwd=tmp_path), "taken.key", "overwrite")
    assert not (tmp_path / "n.csr").exists()
    one_error_line(run_cli(*base, "-o", "n.csr", cwd=tmp_path), "--key", "--new-key")
    one_error_line(
        run_cli(*base, "--key", keys.key, "--new-key", "n.key", "-o", "n.csr", cwd=tmp_path), "--key", "--new-key"
    )
    one_error_line(
        run_cli(*base, "--country", "Germany", "--new-key", "n.key", "-o", "n.csr", cwd=tmp_path), "two-letter"
    )
    one_error_line(
        run_cli(*base, "--key", keys.key, "--algorithm", "ps256", "-o", "n.csr", cwd=tmp_path), "does not match the key"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.csr", "taken.key"]
    assert (tmp_path / "taken.csr").read_text() == "keep me"


# ---------------------------------------------------------------------------------------------
# Certificates the engine refuses: refused first, each with its own message; and the converse


_NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)


def _ku(*, sign: bool = True, nr: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=nr, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


class _TestCA:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "refusals test root")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW)
            .not_valid_after(_NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ku(sign=False, cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def leaf(self, variant: str) -> tuple[Any, list[x509.Certificate]]:
        """A signing key and chain shaped like ``variant`` (see VARIANTS)."""
        if variant == "ca-as-signer":
            return self.key, [self.cert]
        key: Any = {
            "rsa-1024": lambda: rsa.generate_private_key(65537, 1024),
            "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
            "ed25519": ed25519.Ed25519PrivateKey.generate,
        }.get(variant, lambda: ec.generate_private_key(ec.SECP256R1()))()
        days = {"expired": (-400, -1), "not-yet-valid": (2, 300)}.get(variant, (0, 300))
        ekus = {
            "no-eku": None,
            "serverauth-only": [ExtendedKeyUsageOID.SERVER_AUTH],
            "any-eku-with-email": [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, ExtendedKeyUsageOID.EMAIL_PROTECTION],
            "serverauth-and-email": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION],
            "document-signing": [EKU_DOCUMENT_SIGNING],
        }.get(variant, [ExtendedKeyUsageOID.EMAIL_PROTECTION])
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test {variant}")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW + dt.timedelta(days=days[0]))
            .not_valid_after(_NOW + dt.timedelta(days=days[1]))
        )
        if variant != "no-basic-constraints":
            b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        if variant == "keycertsign-leaf":
            b = b.add_extension(_ku(cert_sign=True), critical=True)
        elif variant == "nonrepudiation-only":
            b = b.add_extension(_ku(sign=False, nr=True), critical=True)
        elif variant != "no-key-usage":
            b = b.add_extension(_ku(), critical=True)
        if ekus is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        if variant != "no-aki":
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        if variant == "unknown-critical-extension":
            b = b.add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True)
        if variant == "critical-san":
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name("a@example.org")]), critical=True)
        leaf = b.sign(self.key, hashes.SHA224() if variant == "sha224-signed" else hashes.SHA256())
        if variant == "wrong-key":
            key = ec.generate_private_key(ec.SECP256R1())
        return key, [leaf]


def _engine_alg(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "PS256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    return "ES256"


def engine_verdict(key: Any, chain: list[x509.Certificate]) -> str | None:
    """Sign a tiny JPEG with the engine directly (no rightsmark checks): None if it signs, else its error."""
    from PIL import Image

    c2pa = engine.c2pa()
    alg = _engine_alg(key)

    def sign(data: bytes) -> bytes:
        if alg == "ED25519":
            return key.sign(data)  # type: ignore[no-any-return]
        if alg == "PS256":
            return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())  # type: ignore[no-any-return]
        return key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[no-any-return]

    image = io.BytesIO()
    Image.new("RGB", (8, 8)).save(image, "JPEG")
    manifest = {
        "claim_generator_info": [{"name": "test"}],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created",
            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}],
    }  # fmt: skip
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    try:
        with (
            engine.signing_context() as ctx,
            c2pa.Signer.from_callback(sign, getattr(c2pa.C2paSigningAlg, alg), pem, None) as signer,
            c2pa.Builder.from_json(json.dumps(manifest), context=ctx) as builder,
        ):
            builder.sign(signer, "image/jpeg", io.BytesIO(image.getvalue()), io.BytesIO())
    except c2pa.C2paError as exc:
        return str(exc)
    return None


#: variant -> what rightsmark's one line must say (the engine refuses every one of these)
REFUSED = {
    "no-eku": "no extended key usage",
    "expired": "expired on",
    "not-yet-valid": "not valid before",
    "ca-as-signer": "is a CA certificate",
    "wrong-key": "private key does not match the certificate",
    "rsa-1024": "1024 bits; C2PA needs 2048",
    "serverauth-only": "serverAuth (a TLS server certificate)",
    "any-eku-with-email": "anyExtendedKeyUsage",
    "no-aki": "no authority key identifier",
    "no-key-usage": "no key usage extension",
    "keycertsign-leaf": "keyCertSign",
    "unknown-critical-extension": "critical extension the C2PA engine does not support (1.3.6.1.4.1.99999.1)",
    "sha224-signed": "ecdsa-with-SHA224",
}
#: unusual certificates the engine accepts: rightsmark must not refuse them
ACCEPTED = ["rsa-2048", "ed25519", "serverauth-and-email", "document-signing", "nonrepudiation-only",
            "no-basic-constraints", "critical-san"]  # fmt: skip


@pytest.fixture(scope="module")
def test_ca() -> _TestCA:
    return _TestCA()


def _write_pair(directory: Path, key: Any, chain: list[x509.Certificate]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "signer.key", directory / "signer.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return key_path, cert_path


@pytest.mark.parametrize("variant", list(REFUSED))
def test_refused_certificate_gets_its_own_message_before_any_file_is_touched(
    variant: str, test_ca: _TestCA, tmp_path: Path
) -> None:
    key, chain = test_ca.leaf(variant)
    assert engine_verdict(key, chain) is not None, "the engine itself must refuse this certificate"
    key_path, cert_path = _write_pair(tmp_path / "pki", key, chain)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    result = run_cli(
        "sign", "photo.jpg", "-o", "out", "--key", key_path, "--cert", cert_path, "--no-people", cwd=tmp_path
    )
    line = one_error_line(result, "signer.pem", REFUSED[variant])
    if variant != "not-yet-valid":  # the rest say how to get a good certificate
        assert "rightsmark keys csr" in line, line
    assert not (tmp_path / "out").exists()
    assert photo.read_bytes() == PHOTO.read_bytes()
    check = run_cli("keys", "check", "--key", key_path, "--cert", cert_path)
    assert one_error_line(check, REFUSED[variant]) == line


@pytest.mark.parametrize("variant", ACCEPTED)
def test_unusual_certificate_the_engine_accepts_is_not_refused(variant: str, test_ca: _TestCA, tmp_path: Path) -> None:
    key, chain = test_ca.leaf(variant)
    assert engine_verdict(key, chain) is None
    key_path, cert_path = _write_pair(tmp_path / "pki", key, chain)
    (tmp_path / "ca.pem").write_bytes(test_ca.cert.public_bytes(serialization.Encoding.PEM))
    material = load_signing_material(key_path, cert_path)
    with Signer(material) as signer:
        signer.sign_file(PHOTO, tmp_path / "signed.jpg", open_rights())
    verify(tmp_path / "signed.jpg", tmp_path / "ca.pem")


def test_keys_check_runs_the_engine(keys: KeyFiles) -> None:
    result = run_cli("keys", "check", "--key", keys.key, "--cert", keys.chain)
    assert_ok(result)
    assert result.stdout.startswith("ok: rightsmark development signer, ES256, valid until ")
