"""Hostile input at signing time: wrong passphrases, weaker claims than the photographer made,
interactive ``init`` that loses answers, and ``watch`` stopped by a service manager.

Every case runs the real CLI (a subprocess) and expects one clear line, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rightsmark.errors import PassphraseError
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import load_private_key

from .conftest import EXAMPLE_IMAGES, one_error_line
from .test_export import photo

Cli = Callable[..., Any]
PASSWORD = b"correct horse battery staple"


# ---------------------------------------------------------------------------------------------
# Item 9: a wrong passphrase is always "wrong passphrase", whatever the decryption happened to yield


def _encrypted_key(tmp_path: Path, fmt: serialization.PrivateFormat) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "signer.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, fmt, serialization.BestAvailableEncryption(PASSWORD))
    )
    return path


def _padding_collision(path: Path) -> bytes:
    """A wrong passphrase that decrypts ``path`` to bytes with valid padding (the library then no longer
    says 'password'), found by trying: about 1 in 256 does."""
    data = path.read_bytes()
    for _ in range(20000):
        guess = secrets.token_hex(8).encode()
        try:
            serialization.load_pem_private_key(data, guess)
        except ValueError as exc:
            if "password" not in str(exc).lower() and "decrypt" not in str(exc).lower():
                return guess
    raise AssertionError("no wrong passphrase with valid padding found")


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL], ids=["pkcs8", "legacy"]
)
def test_every_wrong_passphrase_is_a_passphrase_error(tmp_path: Path, fmt: serialization.PrivateFormat) -> None:
    """2,000 random wrong passphrases (a fast KDF: under a second): each one is a wrong passphrase."""
    path = _encrypted_key(tmp_path, fmt)
    for _ in range(2000):
        with pytest.raises(PassphraseError, match="wrong passphrase"):
            load_private_key(path, secrets.token_hex(8).encode())
    assert load_private_key(path, PASSWORD) is not None


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL], ids=["pkcs8", "legacy"]
)
def test_wrong_passphrase_with_valid_padding_says_so_in_the_cli(
    cli: Cli, tmp_path: Path, keys: KeyFiles, fmt: serialization.PrivateFormat
) -> None:
    path = _encrypted_key(tmp_path, fmt)
    wrong = _padding_collision(path)
    result = cli(
        "keys", "check", "--key", path, "--cert", keys.chain, env={"RIGHTSMARK_KEY_PASSPHRASE": wrong.decode()}
    )
    one_error_line(result, path.name, "wrong passphrase")
    assert "not a PEM private key" not in result.stderr


def test_an_encrypted_key_without_passphrase_is_named(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    path = _encrypted_key(tmp_path, serialization.PrivateFormat.PKCS8)
    result = cli("keys", "check", "--key", path, "--cert", keys.chain, env={"RIGHTSMARK_KEY_PASSPHRASE": ""})
    one_error_line(result, path.name, "encrypted and no passphrase")


# ---------------------------------------------------------------------------------------------
# Item 10: watch stopped by a service manager (SIGTERM) stops like Ctrl-C


def test_watch_stopped_with_sigterm_prints_its_summary_like_ctrl_c(tmp_path: Path, keys: KeyFiles) -> None:
    export, signed = tmp_path / "export", tmp_path / "signed"
    export.mkdir()
    photo(export / "one.jpg", 1)
    photo(export / "two.jpg", 2)
    env = {**os.environ, "RIGHTSMARK_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RIGHTSMARK_DEBUG", None)
    cmd = [sys.executable, "-m", "rightsmark", "watch", str(export), "-o", str(signed), "--key", str(keys.key),
           "--cert", str(keys.chain), "--no-people", "--settle", "0.2", "--interval", "0.1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all((signed / n).exists() for n in ("one.jpg", "two.jpg")):
            time.sleep(0.05)
        assert (signed / "one.jpg").exists() and (signed / "two.jpg").exists()
    finally:
        proc.send_signal(signal.SIGTERM)  # what systemd, launchd and docker stop send
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (proc.returncode, err)  # as for Ctrl-C, not 143
    assert "2 signed, 0 failed" in err and "Traceback" not in err, err
    assert sorted(p.name for p in signed.rglob("*")) == ["one.jpg", "two.jpg"]  # no partial files left behind


# ---------------------------------------------------------------------------------------------
# Item 10: consent that expired before the signing date is refused, naming the person and the date


def _consent_file(tmp_path: Path, expires: str) -> Path:
    path = tmp_path / "consent.json"
    subject = {"ref": "subject-7", "release_id": "MR-7", "purposes": {"ai_training": "allowed"},
               "commercial": False, "granted": "2019-01-01", "expires": expires}  # fmt: skip
    path.write_text(json.dumps({"subjects": [subject]}), encoding="utf-8")
    return path


def test_check_consent_current_refuses_expired_consent(tmp_path: Path) -> None:
    from rightsmark.errors import ConsentError
    from rightsmark.rights.consent import check_consent_current, load_consent_file

    expired = load_consent_file(_consent_file(tmp_path, "2020-06-30"))
    with pytest.raises(ConsentError) as caught:
        check_consent_current(expired, "portrait.jpg")
    line = caught.value.one_line()
    assert line.startswith("portrait.jpg: ") and "subject-7" in line and "2020-06-30" in line, line
    # through the end of its last day (UTC), and a consent that is still current passes
    end = dt.datetime(2020, 6, 30, 23, 59, 0, tzinfo=dt.UTC)
    check_consent_current(expired, "portrait.jpg", now=end)
    check_consent_current(load_consent_file(_consent_file(tmp_path, "2999-01-01")), "portrait.jpg")


def test_sign_refuses_consent_that_expired_before_the_signing_date(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    (tmp_path / "portrait.jpg").write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    consent = _consent_file(tmp_path, "2020-06-30")
    result = cli("sign", "portrait.jpg", "-o", "out", "--key", keys.key, "--cert", keys.chain, "--consent", consent)
    one_error_line(result, "consent.json", "subject-7", "expired", "2020-06-30")
    assert not list(tmp_path.glob("out/**/*.jpg"))


# ---------------------------------------------------------------------------------------------
# Item 10: init never writes "no people" unless told, checks answers as they come, keeps them


@pytest.mark.parametrize(
    "args", [("--no-interactive", "--author", "Jane"), ("--author", "Jane")], ids=["no-interactive", "no-terminal"]
)
def test_init_requires_the_people_choice(cli: Cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = cli("init", *args)  # stdin is not a terminal: no questions
    one_error_line(result, "--people", "--no-people")
    assert not (tmp_path / "rightsmark.toml").exists()
    assert cli("init", "--no-interactive", "--author", "Jane", "--no-people").returncode == 0
    assert "no_people = true" in (tmp_path / "rightsmark.toml").read_text()


def test_interactive_init_asks_again_and_reuses_existing_keys(cli: Cli, tmp_path: Path) -> None:
    assert cli("keys", "init", "keys").returncode == 0
    before = (tmp_path / "keys" / "signer.key").read_bytes()
    answers = [
        "Jane Doe",  # author
        "javascript:alert(1)",  # web page: refused, asked again
        "https://jane.example",
        "NOT-A-LICENSE",  # refused, asked again
        "CC-BY-4.0",
        "", "", "", "",  # the four uses: defaults
        "",  # people: no default, asked again
        "n",
        "y",  # development keys
        "keys",  # a directory holding keys: offered for reuse
        "y",
        "",  # no TSA
    ]  # fmt: skip
    result = cli("init", "--interactive", stdin="\n".join(answers) + "\n")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and ".part" not in result.stderr + result.stdout
    assert "try again" in result.stderr and "unknown license 'NOT-A-LICENSE'" in result.stderr
    text = (tmp_path / "rightsmark.toml").read_text()
    assert "CC-BY-4.0" in text and "https://jane.example" in text and "no_people = true" in text
    assert (tmp_path / "keys" / "signer.key").read_bytes() == before  # reused, not replaced


def test_init_that_cannot_write_keeps_the_answers(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    answers = ["Jane Doe", "", "CC-BY-4.0", "", "", "", "", "n", "n", "", "", ""]
    result = cli("init", "--interactive", "-o", "blocker/rightsmark.toml", stdin="\n".join(answers) + "\n")
    line = one_error_line(result, "blocker/rightsmark.toml", "cannot write the profile")
    assert "rightsmark init --no-interactive" in line and "--license CC-BY-4.0" in line and "--no-people" in line
    assert "'Jane Doe'" in line and ".part" not in line
