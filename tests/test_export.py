"""Signing at export: profiles, consent mappings, batches, in-place signing, edits with --parent.

Everything goes through the real CLI in a real process (or the library where noted), real keys
and the real engine; outcomes are checked by verifying the signed files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from rightsmark.errors import ConsentError, ProfileError
from rightsmark.keys.devca import KeyFiles
from rightsmark.models import Use
from rightsmark.rights.consentmap import load_consent_map
from rightsmark.rights.profile import Profile, load_profile

from .conftest import EXAMPLE_IMAGES, REPO


def photo(path: Path, seed: int, size: tuple[int, int] = (160, 120), exif: bool = False) -> Path:
    """A small real JPEG, different per seed; with a camera EXIF block when asked."""
    img = Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    for x in range(0, size[0], 7):
        img.putpixel((x, (x * seed) % size[1]), (255, 255, 255))
    buf = io.BytesIO()
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "Leica Camera AG"  # Make
        ex[0x0110] = "M11"  # Model
        img.save(buf, "JPEG", quality=90, exif=ex.tobytes())
    else:
        img.save(buf, "JPEG", quality=90)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def write_profile(path: Path, keys: KeyFiles, **sections: str) -> Path:
    people = sections.pop("people", "no_people = true")
    rights = sections.pop("rights", 'license = "CC-BY-4.0"\nai_training = "allowed"')
    output = sections.pop("output", "")
    path.write_text(
        f"""name = "studio"
[author]
names = ["Jane Doe"]
url = "https://jane.example"
copyright = "© {{year}} {{authors}}, all rights reserved"
[rights]
{rights}
[people]
{people}
[signing]
key = "{keys.key}"
cert = "{keys.chain}"
[output]
{output}
""",
        encoding="utf-8",
    )
    return path


def verify_json(cli, path: Path, keys: KeyFiles, *extra: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    result = cli("verify", path, "--trust", keys.ca, "--format", "jsonl", "--keep-unsigned", *extra)
    return result.jsonl()  # type: ignore[no-any-return]


def inspect(cli, path: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    result = cli("inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    return result.json()  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# Profiles


def test_profile_paths_are_relative_to_the_profile_and_flags_override(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "p.toml"
    path.write_text(
        '[signing]\nkey = "keys/signer.key"\ncert = "keys/signer.pem"\n[rights]\nai_training = "allowed"\n'
        '[people]\nconsent_map = "map.csv"\n'
    )
    profile = load_profile(path)
    assert profile.key == str(tmp_path / "conf" / "keys" / "signer.key")
    assert profile.cert == tmp_path / "conf" / "keys" / "signer.pem"
    assert profile.consent_map == tmp_path / "conf" / "map.csv"
    merged = profile.overlay(Profile(ai_training=Use.NOT_ALLOWED))
    assert merged.ai_training is Use.NOT_ALLOWED and merged.key == profile.key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[rights]\nai_training = "maybe"\n', "rights/ai_training"),
        ('[signing]\nkye = "x"\n', "kye"),
        ('[output]\nnaming = "{stem}-{date}{suffix}"\n', "unknown field {date}"),
        ('[output]\nnaming = "sub/{name}"\n', "plain file name"),
        ('[author]\ncopyright = "© {yaer}"\n', "unknown field {yaer}"),
        ("[rights\n", "not valid TOML"),
    ],
)
def test_bad_profiles_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert message in err.value.one_line() and str(path) in err.value.one_line()


def test_init_writes_a_profile_that_signs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "init", "--no-interactive", "--author", "Jane Doe", "--license", "CC-BY-NC-4.0",
        "--ai-training", "allowed", "--dev-keys", "keys", "--naming", "{stem}-signed{suffix}", "-o", "studio.toml",
        "--no-people",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    profile = load_profile(tmp_path / "studio.toml")
    assert profile.authors == ("Jane Doe",) and profile.ai_training is Use.ALLOWED and profile.no_people
    assert "keys/signer.key" in (tmp_path / "studio.toml").read_text()  # relative: the folder can move
    photo(tmp_path / "export" / "a.jpg", 1)
    signed = cli("sign", "export", "--profile", "studio.toml", "-o", "signed")
    assert signed.returncode == 0, signed.stderr
    out = tmp_path / "signed" / "a-signed.jpg"
    info = inspect(cli, out)
    manifest = info["manifests"][0]  # type: ignore[index]
    assert manifest["author"] == ["Jane Doe"] and manifest["license"]["id"] == "CC-BY-NC-4.0"  # type: ignore[index]
    again = cli("init", "--no-interactive", "-o", "studio.toml")
    assert again.returncode == 2 and "profile exists" in again.stderr


def test_init_asks_questions_on_a_terminal(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    answers = "Ann Lee\nhttps://ann.example\nCC-BY-4.0\nallowed\nnotAllowed\n\n\nn\ny\nmykeys\n\n"
    result = cli("init", "--interactive", "-o", "p.toml", stdin=answers)
    assert result.returncode == 0, result.stdout + result.stderr
    profile = load_profile(tmp_path / "p.toml")
    assert profile.authors == ("Ann Lee",) and profile.license == "CC-BY-4.0"
    assert profile.ai_training is Use.ALLOWED and profile.data_mining is Use.NOT_ALLOWED
    assert profile.no_people and (tmp_path / "mykeys" / "signer.key").is_file()


# ---------------------------------------------------------------------------------------------
# Consent mappings


def _subject(ref: str, release: str, **extra: object) -> dict[str, object]:
    return {"ref": ref, "release_id": release, "purposes": {"ai_training": "allowed"}, "granted": "2026-01-10", **extra}


def test_consent_map_csv_patterns_merge_people_and_hash_release_documents(tmp_path: Path) -> None:
    (tmp_path / "releases").mkdir()
    pdf = tmp_path / "releases" / "anna.pdf"
    pdf.write_bytes(b"%PDF-1.7 signed model release of subject A")
    (tmp_path / "map.csv").write_text(
        "match,ref,release_id,release_document,ai_training,commercial,granted,expires,no_people\n"
        "portraits/*.jpg,subject-a,MR-1,releases/anna.pdf,allowed,yes,2026-01-10,2030-01-10,\n"
        "portraits/IMG_2*.jpg,subject-b,MR-2,,notAllowed,no,2026-02-01,,\n"
        "landscapes/*,,,,,,,,true\n"
    )
    cmap = load_consent_map(tmp_path / "map.csv")
    one = cmap.lookup("portraits/IMG_1.jpg")
    assert one is not None and [s["ref"] for s in one.subjects] == ["subject-a"]
    assert one.subjects[0]["release_sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert "release_document" not in one.subjects[0]  # the path is not recorded, only the digest
    two = cmap.lookup("portraits/IMG_2.jpg")
    assert two is not None and [s["ref"] for s in two.subjects] == ["subject-a", "subject-b"]
    land = cmap.lookup("landscapes/sea.jpg")
    assert land is not None and not land.identifiable_people
    assert cmap.lookup("other/x.jpg") is None


def test_consent_map_json_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"entries": [{"match": "*.jpg", "subjects": [_subject("s1", "MR-9")]},
                                            {"match": "IMG_9.jpg", "no_people": True}]}))  # fmt: skip
    cmap = load_consent_map(path)
    assert cmap.lookup("a.jpg") is not None
    with pytest.raises(ConsentError, match="says no people are pictured but"):
        cmap.lookup("IMG_9.jpg")
    path.write_text(json.dumps({"entries": [{"match": "*.jpg", "subjects": [_subject("s1", "MR-9",
                                            release_document="missing.pdf")]}]}))  # fmt: skip
    with pytest.raises(ConsentError, match="no such release document"):
        load_consent_map(path)
    (tmp_path / "bad.csv").write_text("file,ref\nx,y\n")
    with pytest.raises(ConsentError, match="no 'match' column"):
        load_consent_map(tmp_path / "bad.csv")


def test_batch_with_a_consent_map_signs_each_file_with_its_people(cli, tmp_path: Path, keys: KeyFiles) -> None:  # type: ignore[no-untyped-def]
    photo(tmp_path / "export" / "portraits" / "IMG_1.jpg", 1)
    photo(tmp_path / "export" / "landscapes" / "sea.jpg", 2)
    photo(tmp_path / "export" / "unlisted.jpg", 3)
    (tmp_path / "map.csv").write_text(
        "match,ref,release_id,ai_training,commercial,granted,no_people\n"
        "portraits/*.jpg,subject-a,MR-1,allowed,yes,2026-01-10,\n"
        "landscapes/*,,,,,,true\n"
    )
    profile = write_profile(tmp_path / "p.toml", keys, people='consent_map = "map.csv"')
    result = cli("sign", "export", "--profile", profile, "-o", "signed")
    assert result.returncode == 1  # unlisted.jpg has no entry: fail closed, the others are signed
    assert "unlisted.jpg: no entry in the consent mapping" in result.stderr
    assert "2 signed, 1 failed" in result.stderr
    assert not (tmp_path / "signed" / "unlisted.jpg").exists()
    portrait = inspect(cli, tmp_path / "signed" / "portraits" / "IMG_1.jpg")["manifests"][0]  # type: ignore[index]
    assert [s["release_id"] for s in portrait["consent"]["subjects"]] == ["MR-1"]  # type: ignore[index]
    sea = inspect(cli, tmp_path / "signed" / "landscapes" / "sea.jpg")["manifests"][0]  # type: ignore[index]
    assert sea["consent"]["identifiable_people"] is False  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Batches


def test_batch_signs_on_all_cores_skips_what_is_done_and_resigns_on_request(
    cli,
    tmp_path: Path,
    keys: KeyFiles,  # type: ignore[no-untyped-def]
) -> None:
    for i in range(8):
        photo(tmp_path / "export" / f"img{i}.jpg", i, exif=i == 0)
    (tmp_path / "export" / "notes.txt").write_text("not an image")
    os.utime(tmp_path / "export" / "img0.jpg", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    profile = write_profile(tmp_path / "p.toml", keys)
    first = cli("sign", "export", "--profile", profile, "-o", "signed", "--jobs", "2")
    assert first.returncode == 0, first.stderr
    assert "8 signed, 0 failed, skipped 1 non-image files" in first.stderr
    records = verify_json(cli, tmp_path / "signed", keys)
    assert len(records) == 8 and all(r["integrity"] == "valid" and r["trust"] == "trusted" for r in records)
    # file times and EXIF survive signing
    assert (tmp_path / "signed" / "img0.jpg").stat().st_mtime_ns == 1_600_000_000_000_000_000
    with Image.open(tmp_path / "signed" / "img0.jpg") as im:
        assert im.getexif()[0x010F] == "Leica Camera AG"
    inode = (tmp_path / "signed" / "img3.jpg").stat().st_ino

    second = cli("sign", "export", "--profile", profile, "-o", "signed")
    assert second.returncode == 0, second.stderr
    assert "0 signed, 8 skipped (already signed, unchanged)" in second.stderr
    assert (tmp_path / "signed" / "img3.jpg").stat().st_ino == inode  # not rewritten

    photo(tmp_path / "export" / "img3.jpg", 99)  # re-exported: changed
    third = cli("sign", "export", "--profile", profile, "-o", "signed")
    assert "1 signed, 7 skipped" in third.stderr, third.stderr
    assert (tmp_path / "signed" / "img3.jpg").stat().st_ino != inode

    changed = cli("sign", "export", "--profile", profile, "-o", "signed", "--ai-training", "notAllowed")
    assert changed.returncode == 0 and "8 signed, 0 failed" in changed.stderr, changed.stderr  # new settings
    assert {r["training"]["ai_training"] for r in verify_json(cli, tmp_path / "signed", keys)} == {"notAllowed"}  # type: ignore[index]
    resign = cli("sign", "export", "--profile", profile, "-o", "signed", "--resign", "--ai-training", "notAllowed")
    assert resign.returncode == 0 and "8 signed, 0 failed" in resign.stderr, resign.stderr

    (tmp_path / "signed" / "img5.jpg").write_bytes(b"edited by hand")  # not ours any more: never clobbered
    photo(tmp_path / "export" / "img5.jpg", 55)
    clash = cli("sign", "export", "--profile", profile, "-o", "signed", "--ai-training", "notAllowed")
    assert clash.returncode == 1 and "img5.jpg: output exists" in clash.stderr
    assert (tmp_path / "signed" / "img5.jpg").read_bytes() == b"edited by hand"


def test_one_bad_file_never_stops_the_batch_and_leaves_nothing_partial(cli, tmp_path: Path, keys: KeyFiles) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        photo(tmp_path / "export" / f"img{i}.jpg", i)
    good = (tmp_path / "export" / "img2.jpg").read_bytes()
    (tmp_path / "export" / "img2.jpg").write_bytes(good[: len(good) // 2])  # truncated export
    result = cli("sign", "export", "--key", keys.key, "--cert", keys.chain, "--no-people", "-o", "signed", "-j", "2")
    assert result.returncode == 1
    assert "img2.jpg: is damaged or truncated" in result.stderr and "4 signed, 1 failed" in result.stderr
    assert sorted(p.name for p in (tmp_path / "signed").iterdir()) == ["img0.jpg", "img1.jpg", "img3.jpg", "img4.jpg"]
    assert "Traceback" not in result.stderr


def test_an_interrupted_batch_leaves_no_partial_files_and_simply_runs_again(tmp_path: Path, keys: KeyFiles) -> None:
    for i in range(40):
        photo(tmp_path / "export" / f"img{i:02d}.jpg", i, size=(1200, 900))
    env = {**os.environ, "RIGHTSMARK_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "rightsmark", "sign", "export", "--key", str(keys.key), "--cert", str(keys.chain),
           "--no-people", "-o", "signed", "-j", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((tmp_path / "signed").glob("*.jpg"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # Ctrl-C in the middle of the batch
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    done = list((tmp_path / "signed").iterdir())
    assert 0 < len(done) < 40
    assert not [p for p in done if p.name.endswith(".part")]  # no temporary file left behind
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{40 - len(done)} signed, {len(done)} skipped" in rerun.stderr
    records = subprocess.run(
        [sys.executable, "-m", "rightsmark", "verify", "signed", "--trust", str(keys.ca), "--format", "jsonl",
         "--keep-unsigned"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    ).stdout.splitlines()  # fmt: skip
    assert len(records) == 40 and all(json.loads(r)["integrity"] == "valid" for r in records)


def test_in_place_replaces_originals_atomically_with_a_backup(cli, tmp_path: Path, keys: KeyFiles) -> None:  # type: ignore[no-untyped-def]
    photo(tmp_path / "export" / "a.jpg", 1)
    photo(tmp_path / "export" / "b.jpg", 2)
    original = (tmp_path / "export" / "a.jpg").read_bytes()
    os.chmod(tmp_path / "export" / "a.jpg", 0o640)
    before = (tmp_path / "export" / "a.jpg").stat()
    base = ("--key", keys.key, "--cert", keys.chain, "--no-people")
    refused = cli("sign", "export", *base)
    assert refused.returncode == 2 and "-o DIR" in refused.stderr  # no silent in-place default
    result = cli("sign", "export", *base, "--in-place", "--backup")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "export" / "a.jpg.orig").read_bytes() == original
    after = (tmp_path / "export" / "a.jpg").stat()
    assert after.st_mtime_ns == before.st_mtime_ns and (after.st_mode & 0o777) == 0o640
    records = verify_json(cli, tmp_path / "export" / "a.jpg", keys)
    assert records[0]["integrity"] == "valid"
    again = cli("sign", "export", *base, "--in-place", "--backup")
    assert again.returncode == 0 and "0 signed, 2 skipped" in again.stderr, again.stderr  # backups are not inputs
    assert not list((tmp_path / "export").glob("*.orig.orig"))


def test_in_place_without_asking_never_touches_the_original(cli, tmp_path: Path, keys: KeyFiles) -> None:  # type: ignore[no-untyped-def]
    src = photo(tmp_path / "a.jpg", 1)
    data = src.read_bytes()
    result = cli("sign", src, "--key", keys.key, "--cert", keys.chain, "--no-people", "-o", tmp_path)
    assert result.returncode == 1 and "originals are never modified" in result.stderr
    assert src.read_bytes() == data


# ---------------------------------------------------------------------------------------------
# Edits and re-exports


def _consent_file(tmp_path: Path) -> Path:
    path = tmp_path / "consent.json"
    path.write_text(json.dumps({"subjects": [{**_subject("subject-a", "MR-7"), "expires": "2030-01-01"}]}))
    return path


def test_an_edit_inherits_permissions_and_consent_and_widening_needs_widen(
    cli,
    tmp_path: Path,
    keys: KeyFiles,  # type: ignore[no-untyped-def]
) -> None:
    base = ("--key", keys.key, "--cert", keys.chain)
    photo(tmp_path / "raw" / "portrait.jpg", 5)
    first = cli("sign", "raw/portrait.jpg", *base, "--consent", _consent_file(tmp_path), "--author", "Jane Doe",
                "--license", "CC-BY-4.0", "--ai-training", "allowed", "--data-mining", "constrained",
                "--constraint-info", "ask first", "-o", "signed")  # fmt: skip
    assert first.returncode == 0, first.stderr
    photo(tmp_path / "edits" / "portrait-crop.jpg", 6)
    edit = cli("sign", "edits/portrait-crop.jpg", *base, "--parent", "signed/portrait.jpg", "-o", "signed")
    assert edit.returncode == 0, edit.stderr
    m = inspect(cli, tmp_path / "signed" / "portrait-crop.jpg")["manifests"][0]  # type: ignore[index]
    assert m["training"]["ai_training"] == "allowed" and m["training"]["data_mining"] == "constrained"  # type: ignore[index]
    assert [s["release_id"] for s in m["consent"]["subjects"]] == ["MR-7"]  # type: ignore[index]
    assert m["author"] == ["Jane Doe"] and m["license"]["id"] == "CC-BY-4.0"  # type: ignore[index]

    narrow = cli("sign", "edits/portrait-crop.jpg", *base, "--parent", "signed/portrait.jpg", "--ai-training",
                 "notAllowed", "-o", "narrow")  # fmt: skip
    assert narrow.returncode == 0, narrow.stderr  # narrowing needs no flag

    for flags in (["--data-mining", "allowed"], ["--no-people"]):
        wide = cli("sign", "edits/portrait-crop.jpg", *base, "--parent", "signed/portrait.jpg", *flags, "-o", "wide")
        assert wide.returncode == 1, wide.stderr
        assert "would widen its parent's permissions" in wide.stderr and "--widen" in wide.stderr
        assert not (tmp_path / "wide" / "portrait-crop.jpg").exists()
    ok = cli("sign", "edits/portrait-crop.jpg", *base, "--parent", "signed/portrait.jpg", "--data-mining", "allowed",
             "--widen", "-o", "wide")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    audit = cli("audit", tmp_path / "wide" / "portrait-crop.jpg", "--trust", keys.ca, "--json", "audit.json")
    findings = json.loads((tmp_path / "audit.json").read_text())["files"][0]["findings"]
    assert "permission-widened" in {f["code"] for f in findings}, audit.stdout
    store = subprocess.run([sys.executable, "-c", "import c2pa,sys; r=c2pa.Reader(sys.argv[1]); print(r.json())",
                            str(tmp_path / "wide" / "portrait-crop.jpg")], capture_output=True, text=True)  # fmt: skip
    assert "io.rightsmark.widened" in store.stdout and "data_mining constrained -> allowed" in store.stdout


def test_an_edit_of_an_unsigned_or_tampered_parent_is_refused(cli, tmp_path: Path, keys: KeyFiles) -> None:  # type: ignore[no-untyped-def]
    base = ("--key", keys.key, "--cert", keys.chain)
    photo(tmp_path / "edit.jpg", 1)
    unsigned = photo(tmp_path / "unsigned.jpg", 2)
    result = cli("sign", "edit.jpg", *base, "--parent", unsigned, "-o", "out")
    assert result.returncode != 0 and "the parent carries no C2PA manifest" in result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_profile_example_in_repo_loads() -> None:
    """The README's example profile: its keys exist, and its consent map names the person in harbour.jpg."""
    profile = load_profile(REPO / "examples" / "studio.toml")
    assert profile.authors and profile.key and Path(profile.key).is_file()
    assert profile.no_people and profile.consent_map is not None
    harbour = load_consent_map(profile.consent_map).lookup("harbour.jpg")
    assert harbour is not None and [s["release_id"] for s in harbour.subjects] == ["MR-2026-0042"]
    assert len(str(harbour.subjects[0]["release_sha256"])) == 64  # the release document, hashed
    assert load_consent_map(profile.consent_map).lookup("market.png") is None  # falls back to no_people
    assert (EXAMPLE_IMAGES / "harbour.jpg").is_file()


# ---------------------------------------------------------------------------------------------
# Timestamps from the command line


def test_sign_with_tsa_from_a_profile_and_a_tsa_that_is_down(cli, tmp_path: Path, keys: KeyFiles, tsa) -> None:  # type: ignore[no-untyped-def]
    from .tsa import closed_port

    photo(tmp_path / "export" / "a.jpg", 1)
    photo(tmp_path / "export" / "b.jpg", 2)
    profile = write_profile(tmp_path / "p.toml", keys)
    profile.write_text(profile.read_text().replace("[signing]\n", f'[signing]\ntsa = "{tsa.url}"\n'))
    before = tsa.requests
    result = cli("sign", "export", "--profile", profile, "-o", "signed")
    assert result.returncode == 0, result.stderr
    assert tsa.requests - before == 3  # the probe, then one per signature
    trust = tmp_path / "anchors.pem"
    trust.write_bytes(keys.ca.read_bytes() + Path(tsa.ca_pem).read_bytes())
    info = cli("inspect", tmp_path / "signed" / "a.jpg", "--json", "--trust", trust).json()
    assert info["manifests"][0]["timestamped"] is True  # type: ignore[index]
    with closed_port() as dead:
        down = cli("sign", "export", "--profile", profile, "--tsa", dead, "-o", "signed2")
    assert down.returncode == 2 and "connection refused" in down.stderr and "Traceback" not in down.stderr
    assert not (tmp_path / "signed2").exists()  # refused before any file was touched


@pytest.mark.parametrize("name", ["harbour.jpg", "market.png"])
def test_signing_a_signed_file_again_without_parent_is_refused(name: str, tmp_path: Path, material) -> None:  # type: ignore[no-untyped-def]
    """The manifest is found (in a JPEG by its header alone) and the file is not signed afresh."""
    from rightsmark.errors import InputError
    from rightsmark.sign.signer import Signer

    from .conftest import open_rights

    source = tmp_path / name
    source.write_bytes((EXAMPLE_IMAGES / name).read_bytes())
    with Signer(material) as signer:
        signer.sign_file(source, tmp_path / "once" / name, open_rights())
        with pytest.raises(InputError, match="already carries a C2PA manifest"):
            signer.sign_file(tmp_path / "once" / name, tmp_path / "twice" / name, open_rights())
    assert not (tmp_path / "twice" / name).exists()
