"""Bad input meets the command line: one clear line on stderr, a non-zero exit, no traceback,
no output file, no leftover temporary file, nothing overwritten. Real processes, real engine."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from rightsmark.keys.devca import KeyFiles, init_keys

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "examples" / "images"
EXAMPLE_CONSENT = REPO / "examples" / "consent.json"

Cli = Callable[..., Any]

#: The count sign prints at the end of a run; it names no file and is not an error line.
SUMMARY = re.compile(r"^\d+ signed, \d+ failed(, skipped \d+ non-image files)?$")
PREVIOUS = b"an earlier output that must survive"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not SUMMARY.match(line)]


def assert_one_clear_line(result: Any, *needles: str) -> str:
    """Non-zero exit, no traceback, exactly one error line on stderr that contains every needle."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("rightsmark: "), line
    assert "internal error" not in line, line  # an unexpected exception, however short, is not a clear message
    for needle in needles:
        assert needle.lower() in line.lower(), (needle, line)
    return line


def assert_nothing_written(outdir: Path, *, keep: dict[str, bytes] | None = None) -> None:
    """``outdir`` holds exactly ``keep`` (unchanged), no new output and no temporary file."""
    found = (
        {str(p.relative_to(outdir)): p.read_bytes() for p in outdir.rglob("*") if p.is_file()}
        if outdir.exists()
        else {}
    )
    assert found == (keep or {})


def key_args(keys: KeyFiles) -> list[str]:
    return ["--key", str(keys.key), "--cert", str(keys.chain)]


def copy_image(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(IMAGES / name, dest)
    return dest


def truncated(source: Path, dest: Path) -> Path:
    data = source.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


# ---------------------------------------------------------------------------------------------
# sign: bad image inputs


def _garbage(d: Path) -> Path:
    p = d / "garbage.jpg"
    p.write_bytes(bytes(range(256)) * 8)
    return p


def _empty(d: Path) -> Path:
    p = d / "empty.jpg"
    p.write_bytes(b"")
    return p


def _truncated_jpeg(d: Path) -> Path:
    return truncated(IMAGES / "harbour.jpg", d / "truncated.jpg")


def _truncated_tiff(d: Path) -> Path:
    return truncated(IMAGES / "studio.tiff", d / "truncated.tiff")


def _tiff_header_only(d: Path) -> Path:
    p = d / "header.tiff"
    p.write_bytes((IMAGES / "studio.tiff").read_bytes()[:100])  # Pillow warns about its EXIF: must not leak
    return p


def _missing(d: Path) -> Path:
    return d / "missing.jpg"


def _bmp(d: Path) -> Path:
    p = d / "picture.bmp"
    Image.new("RGB", (16, 16), "red").save(p, format="BMP")
    return p


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_garbage, "not an image format"),
        (_empty, "is empty"),
        (_truncated_jpeg, "damaged or truncated"),
        (_truncated_tiff, "damaged or truncated"),
        (_tiff_header_only, "damaged or truncated"),
        (_missing, "no such file"),
        (_bmp, "not an image format"),
    ],
    ids=["garbage", "empty", "truncated-jpeg", "truncated-tiff", "tiff-header-only", "missing", "bmp"],
)
def test_sign_refuses_bad_image(
    cli: Cli, tmp_path: Path, keys: KeyFiles, make: Callable[[Path], Path], problem: str
) -> None:
    bad = make(tmp_path)
    before = bad.read_bytes() if bad.exists() else None
    out = tmp_path / "out"
    out.mkdir()
    (out / bad.name).write_bytes(PREVIOUS)  # even --force must not replace it with anything
    result = cli("sign", bad.name, "-o", "out", *key_args(keys), "--no-people", "--force")
    line = assert_one_clear_line(result, bad.name, problem)
    assert "<_io." not in line and " at 0x" not in line  # no Python object reprs in messages
    assert result.returncode == 1
    assert_nothing_written(out, keep={bad.name: PREVIOUS})
    assert (bad.read_bytes() if bad.exists() else None) == before


def test_one_bad_file_does_not_stop_the_others(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    copy_image("market.png", tmp_path / "market.png")
    _garbage(tmp_path)
    tree = tmp_path / "tree"
    copy_image("street.webp", tree / "street.webp")
    (tree / "sub").mkdir()
    _truncated_jpeg(tree / "sub")
    (tree / "readme.txt").write_text("skipped: not an image")
    result = cli(
        "sign", "photo.jpg", "garbage.jpg", "missing.jpg", "market.png", "tree", "-o", "out",
        *key_args(keys), "--no-people",
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 3, result.stderr
    for name, problem in (
        ("garbage.jpg", "not an image"),
        ("missing.jpg", "no such file"),
        ("tree/sub/truncated.jpg", "truncated"),
    ):
        (line,) = [x for x in lines if name in x]
        assert problem in line
    assert "3 signed, 3 failed, skipped 1 non-image files" in result.stderr
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "market.png",
        "photo.jpg",
        "street.webp",
    ]


def test_sign_into_an_unusable_output_directory(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    (tmp_path / "afile").write_bytes(PREVIOUS)
    named_file = cli("sign", "photo.jpg", "-o", "afile", *key_args(keys), "--no-people")
    assert_one_clear_line(named_file, "afile", "not a directory")
    assert named_file.returncode == 2
    below_file = cli("sign", "photo.jpg", "-o", "afile/sub", *key_args(keys), "--no-people")
    assert_one_clear_line(below_file, "afile", "cannot write output", "not a directory")
    assert below_file.returncode == 1
    assert (tmp_path / "afile").read_bytes() == PREVIOUS


def test_sign_of_a_directory_without_images_says_so(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no images here")
    result = cli("sign", "nothing", "-o", "out", *key_args(keys), "--no-people")
    assert_one_clear_line(result, "nothing", "no image files")
    assert_nothing_written(tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# sign: bad consent, keys, certificates, passphrases, licenses (refused before any file is touched)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def bad_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and leaves a C2PA validator refuses: NAME.key / NAME.pem (leaf then CA) for each NAME."""
    d = tmp_path_factory.mktemp("bad-certs")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=3650))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (d / "ca.key").write_bytes(_key_pem(ca_key))
    (d / "ca.pem").write_bytes(_pem(ca))

    def leaf(name: str, eku: list[x509.ObjectIdentifier] | None, days: tuple[int, int]) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"test {name} signer"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0]))
            .not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(sign=True, ca=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        (d / f"{name}.key").write_bytes(_key_pem(key))
        (d / f"{name}.pem").write_bytes(_pem(builder.sign(ca_key, hashes.SHA256()), ca))

    leaf("expired", [ExtendedKeyUsageOID.EMAIL_PROTECTION], (-400, -30))
    leaf("serverauth", [ExtendedKeyUsageOID.SERVER_AUTH], (-1, 300))
    leaf("noeku", None, (-1, 300))
    return d


@pytest.fixture(scope="module")
def encrypted_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    return init_keys(tmp_path_factory.mktemp("keys") / "enc", passphrase=b"correct horse")


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _dir(tmp_path: Path, name: str) -> str:
    p = tmp_path / name
    p.mkdir()
    return str(p)


def _consent_with(**changes: Any) -> str:
    data = json.loads(EXAMPLE_CONSENT.read_text())
    data["subjects"][0].update(changes)
    return json.dumps(data)


# Each case: (id, builder of extra sign args given (tmp_path, keys, bad_certs, encrypted_keys), needles, env)
ArgsBuilder = Callable[[Path, KeyFiles, Path, KeyFiles], list[str]]
CONFIG_CASES: list[tuple[str, ArgsBuilder, tuple[str, ...], dict[str, str]]] = [
    (
        "consent-is-directory",
        lambda t, k, b, e: [*key_args(k), "--consent", _dir(t, "consent.d")],
        ("consent.d", "is a directory, not a consent file"),
        {},
    ),
    (
        "consent-missing",
        lambda t, k, b, e: [*key_args(k), "--consent", "nope.json"],
        ("nope.json", "no such consent file"),
        {},
    ),
    (
        "consent-invalid-json",
        lambda t, k, b, e: [*key_args(k), "--consent", _write(t, "broken.json", '{"subjects": [\n')],
        ("broken.json", "not valid JSON", "line 2"),
        {},
    ),
    (
        "consent-extra-name-field",
        lambda t, k, b, e: [
            *key_args(k),
            "--consent",
            _write(t, "named.json", _consent_with(name="A. Person")),
        ],
        ("named.json", "consent schema", "'name'"),
        {},
    ),
    (
        "consent-impossible-date",
        lambda t, k, b, e: [
            *key_args(k),
            "--consent",
            _write(t, "feb30.json", _consent_with(granted="2026-02-30")),
        ],
        ("feb30.json", "subjects/0/granted", "'2026-02-30' is not a real date"),
        {},
    ),
    (
        "neither-consent-nor-no-people",
        lambda t, k, b, e: key_args(k),
        ("--consent", "--no-people"),
        {},
    ),
    (
        "key-is-directory",
        lambda t, k, b, e: ["--key", _dir(t, "key.d"), "--cert", str(k.chain), "--no-people"],
        ("key.d", "is a directory, not a key file"),
        {},
    ),
    (
        "cert-is-directory",
        lambda t, k, b, e: ["--key", str(k.key), "--cert", _dir(t, "cert.d"), "--no-people"],
        ("cert.d", "is a directory, not a PEM file"),
        {},
    ),
    (
        "key-does-not-match-cert",
        lambda t, k, b, e: ["--key", str(b / "noeku.key"), "--cert", str(k.chain), "--no-people"],
        ("signer.pem", "private key does not match the certificate"),
        {},
    ),
    (
        "expired-cert",
        lambda t, k, b, e: ["--key", str(b / "expired.key"), "--cert", str(b / "expired.pem"), "--no-people"],
        ("expired.pem", "expired"),
        {},
    ),
    (
        "ca-cert-as-signer",
        lambda t, k, b, e: ["--key", str(b / "ca.key"), "--cert", str(b / "ca.pem"), "--no-people"],
        ("ca.pem", "CA certificate"),
        {},
    ),
    (
        "leaf-with-serverauth-only",
        lambda t, k, b, e: ["--key", str(b / "serverauth.key"), "--cert", str(b / "serverauth.pem"), "--no-people"],
        ("serverauth.pem", "extended key usage"),
        {},
    ),
    (
        "leaf-without-eku",
        lambda t, k, b, e: ["--key", str(b / "noeku.key"), "--cert", str(b / "noeku.pem"), "--no-people"],
        ("noeku.pem", "no extended key usage"),
        {},
    ),
    (
        "wrong-passphrase-file",
        lambda t, k, b, e: [*key_args(e), "--no-people", "--passphrase-file", _write(t, "pw.txt", "wrong\n")],
        ("signer.key", "wrong passphrase"),
        {},
    ),
    (
        "wrong-passphrase-env",
        lambda t, k, b, e: [*key_args(e), "--no-people"],
        ("signer.key", "wrong passphrase"),
        {"RIGHTSMARK_KEY_PASSPHRASE": "wrong"},
    ),
    (
        "no-passphrase-no-tty",
        lambda t, k, b, e: [*key_args(e), "--no-people"],
        ("signer.key", "encrypted", "RIGHTSMARK_KEY_PASSPHRASE"),
        {},
    ),
    (
        "passphrase-file-missing",
        lambda t, k, b, e: [*key_args(e), "--no-people", "--passphrase-file", "nope.txt"],
        ("nope.txt", "cannot read passphrase file"),
        {},
    ),
    (
        "unknown-license",
        lambda t, k, b, e: [*key_args(k), "--no-people", "--license", "CC-BY-4"],
        ("'CC-BY-4'", "did you mean CC-BY-4.0"),
        {},
    ),
]


@pytest.mark.parametrize(("builder", "needles", "env"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_sign_refuses_bad_configuration(
    cli: Cli,
    tmp_path: Path,
    keys: KeyFiles,
    bad_certs: Path,
    encrypted_keys: KeyFiles,
    builder: ArgsBuilder,
    needles: tuple[str, ...],
    env: dict[str, str],
) -> None:
    photo = copy_image("harbour.jpg", tmp_path / "photo.jpg")
    original = photo.read_bytes()
    args = builder(tmp_path, keys, bad_certs, encrypted_keys)
    env = {"RIGHTSMARK_KEY_PASSPHRASE": "", **env}  # never inherit a passphrase from the caller
    result = cli("sign", "photo.jpg", "-o", "out", *args, env=env)
    assert_one_clear_line(result, *needles)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_nothing_written(tmp_path / "out")
    assert photo.read_bytes() == original


def test_encrypted_key_signs_with_the_right_passphrase(cli: Cli, tmp_path: Path, encrypted_keys: KeyFiles) -> None:
    """The control for the passphrase cases above: the same key works when the passphrase is right."""
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    (tmp_path / "pw.txt").write_text("correct horse\n")
    result = cli(
        "sign", "photo.jpg", "-o", "out", *key_args(encrypted_keys), "--no-people", "--passphrase-file", "pw.txt"
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "photo.jpg").is_file()


# ---------------------------------------------------------------------------------------------
# verify and inspect: bad files get a record, never a crash


def test_verify_gives_every_bad_file_a_record(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    signed = cli("sign", "photo.jpg", "-o", "signed", *key_args(keys), "--no-people", "--ai-training", "allowed")
    assert signed.returncode == 0, signed.stderr
    _garbage(tmp_path)
    _empty(tmp_path)
    _bmp(tmp_path)
    truncated(tmp_path / "signed" / "photo.jpg", tmp_path / "truncated-signed.jpg")
    bad = ["garbage.jpg", "empty.jpg", "truncated-signed.jpg", "missing.jpg", "picture.bmp"]
    args = [bad[0], bad[1], "signed/photo.jpg", *bad[2:], "--trust", str(keys.ca)]

    jsonl = cli("verify", *args, "-f", "jsonl")
    assert jsonl.returncode == 1
    assert "Traceback" not in jsonl.stderr
    records = {r["path"]: r for r in jsonl.jsonl()}
    assert list(records) == [bad[0], bad[1], "signed/photo.jpg", *bad[2:]]
    assert records.pop("signed/photo.jpg")["decision"] == "keep"
    for path, record in records.items():
        assert record["integrity"] in {"error", "invalid"}, record
        assert record["decision"] == "drop"
        assert [r["code"] for r in record["reasons"]] == [f"integrity-{record['integrity']}"]
        assert record["reasons"][0]["message"]
        if record["integrity"] == "error":  # unreadable files are also named on stderr for machine formats
            assert sum(path in line for line in jsonl.stderr.splitlines()) == 1
    assert records["missing.jpg"]["error"] == "no such file"
    assert records["empty.jpg"]["integrity"] == "error"

    text = cli("verify", *args)
    assert text.returncode == 1
    assert "Traceback" not in text.stderr
    heads = [line for line in text.stdout.splitlines() if line.startswith(("KEEP", "DROP"))]
    assert heads == [f"DROP  {bad[0]}", f"DROP  {bad[1]}", "KEEP  signed/photo.jpg", *(f"DROP  {b}" for b in bad[2:])]


@pytest.mark.parametrize(
    ("target", "problem"), [("report-dir/r.jsonl", "cannot write the report"), (".", "is a directory")]
)
def test_verify_report_to_an_unusable_place(cli: Cli, tmp_path: Path, target: str, problem: str) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    result = cli("verify", "photo.jpg", "-f", "jsonl", "-o", target)
    assert_one_clear_line(result, target, problem)
    assert result.returncode == 2
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize(
    ("make", "problem"), [(_missing, "no such file"), (_garbage, "not an image format")], ids=["missing", "garbage"]
)
def test_inspect_of_an_unreadable_file(cli: Cli, tmp_path: Path, make: Callable[[Path], Path], problem: str) -> None:
    bad = make(tmp_path)
    result = cli("inspect", bad.name)
    assert_one_clear_line(result, bad.name, problem)
    assert result.stdout == ""
