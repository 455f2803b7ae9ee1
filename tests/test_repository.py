"""The manifest repository: real signed files in, their manifests found again from a stripped, re-encoded copy.

Every behaviour runs against both backends: the embedded SQLite file and a real PostgreSQL server started
on 127.0.0.1 from Debian's packages (:mod:`tests.pgserver`; skipped with a message where it is absent).
"""

from __future__ import annotations

import io
import itertools
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image

from rightsmark._version import __version__
from rightsmark.engine import adapter as engine
from rightsmark.engine.building import engine_signer, sign_manifest
from rightsmark.engine.detached import read_detached
from rightsmark.keys.material import SigningMaterial
from rightsmark.models import Integrity
from rightsmark.repository import bands
from rightsmark.repository.base import MAX_STORE_BYTES, ConflictError, Entry, RepositoryError
from rightsmark.repository.ingest import IngestError, entry_from_file, entry_from_store, register
from rightsmark.repository.open import open_repository
from rightsmark.rights.manifest import Rights, manifest_definition
from rightsmark.sign.signer import Signer
from rightsmark.softbinding import iscc
from rightsmark.softbinding.model import ISCC_ALG, WATERMARK_ALG, SoftBinding, assertions

from .conftest import EXAMPLE_IMAGES, CliResult, one_error_line
from .pgserver import PASSWORD, fresh_database, postgres_server

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def repo_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The spec of a new, empty repository of each kind (made by its first write)."""
    if request.param == "sqlite":
        return str(tmp_path / "manifests.db")
    url: str = request.getfixturevalue("pg_url")
    return fresh_database(url, f"repo_{next(_names)}")


def signed_with(
    material: SigningMaterial, src: Path, dest: Path, rights: Rights, bindings: list[SoftBinding] | None = None
) -> Path:
    """``src`` signed into ``dest`` with exactly the soft bindings given (its own ISCC fingerprint unless
    ``bindings`` are given; none for ``[]``), through the engine building API the signer uses."""
    data = src.read_bytes()
    recorded = [iscc.fingerprint(data)] if bindings is None else bindings
    definition = manifest_definition(
        rights, title=src.name, generator=engine.GENERATOR, version=__version__, edit=False
    )
    definition["assertions"] += assertions(recorded)
    mime = "image/png" if src.suffix == ".png" else "image/jpeg"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        sign_manifest(definition, data, mime, out, signer=engine_signer(material), context=engine.signing_context())
    return dest


def jpeg_of(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def unrelated_image(seed: int) -> bytes:
    """A picture nothing like the example photographs: blocks of random colours."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (8, 6))
    img.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(48)])
    return jpeg_of(img.resize((800, 600), Image.Resampling.NEAREST))


@pytest.fixture
def harbour(tmp_path: Path, signer: Signer, rights: Rights) -> Path:
    """The bundled harbour photograph signed as ``rightsmark sign`` does (its ISCC recorded by default)."""
    out = tmp_path / "signed" / "harbour.jpg"
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out, rights)
    return out


def synthetic(i: int, body: bytes, header: bytes) -> Entry:
    return Entry(f"urn:test:{i}", b"store-%d" % i, (SoftBinding(ISCC_ALG, header + body),))


# ---------------------------------------------------------------------------------------------
# Adding and finding real signed files


def test_a_signed_file_is_found_by_its_fingerprint_and_by_its_re_encoded_copies(
    repo_spec: str, harbour: Path, tmp_path: Path
) -> None:
    (result,) = register(repo_spec, [harbour])
    assert result.outcome == "added" and result.manifest_id
    photo = Image.open(harbour)
    w, h = photo.size
    copies = {
        "itself": harbour.read_bytes(),
        "stripped, q75": jpeg_of(photo, 75),
        "half size": jpeg_of(photo.resize((w // 2, h // 2))),
        "png": (lambda b: (photo.save(b, "PNG"), b.getvalue())[1])(io.BytesIO()),
    }
    with closing(open_repository(repo_spec)) as repo:
        assert repo.count() == 1
        for what, data in copies.items():
            print_ = iscc.fingerprint(data)
            found = repo.find(print_)
            assert [c.manifest_id for c in found] == [result.manifest_id], what
            assert found[0].distance == iscc.distance(print_.value, iscc.fingerprint(harbour).value), what
            assert found[0].alg == ISCC_ALG and repo_spec.endswith(found[0].repository.rsplit("/", 1)[-1])
        assert copies["stripped, q75"] != copies["itself"]
        store = repo.manifest(result.manifest_id)
    assert store is not None
    with engine.reading_context(None, verify_trust=False) as context:
        reading = read_detached(store, context)
    assert reading.integrity is Integrity.VALID and reading.store is not None
    assert reading.store["active_manifest"] == result.manifest_id


def test_an_unrelated_picture_finds_nothing(repo_spec: str, harbour: Path) -> None:
    register(repo_spec, [harbour])
    with closing(open_repository(repo_spec)) as repo:
        for seed in range(5):
            assert repo.find(iscc.fingerprint(unrelated_image(seed))) == []
        assert repo.find(SoftBinding("com.example.other", b"\x01\x02")) == []  # an algorithm not indexed


def test_a_watermark_identifier_finds_its_manifest_exactly(
    repo_spec: str, material: SigningMaterial, rights: Rights, tmp_path: Path
) -> None:
    src = EXAMPLE_IMAGES / "harbour.jpg"
    mark = SoftBinding(WATERMARK_ALG, bytes.fromhex("0123456789abcdef"))
    marked = signed_with(material, src, tmp_path / "m.jpg", rights, [iscc.fingerprint(src), mark])
    (result,) = register(repo_spec, [marked])
    with closing(open_repository(repo_spec)) as repo:
        found = repo.find(mark)
        assert [(c.manifest_id, c.alg, c.distance) for c in found] == [(result.manifest_id, WATERMARK_ALG, 0)]
        assert repo.find(SoftBinding(WATERMARK_ALG, bytes.fromhex("0123456789abcdee"))) == []
        assert repo.algorithms() == {ISCC_ALG: 1, WATERMARK_ALG: 1}


def test_a_value_recorded_many_times_cannot_crowd_another_manifest_out_of_a_lookup(repo_spec: str) -> None:
    mark = SoftBinding(WATERMARK_ALG, bytes.fromhex("00112233445566778899aabb"))
    loud = Entry("urn:test:loud", b"store-loud", (mark,) * 25)  # one manifest naming the value 25 times
    quiet = Entry("urn:test:quiet", b"store-quiet", (mark,))
    with closing(open_repository(repo_spec, create=True)) as repo:
        repo.add_many([loud, quiet])
        assert [c.manifest_id for c in repo.find(mark, limit=2)] == ["urn:test:loud", "urn:test:quiet"]
        assert repo.algorithms() == {WATERMARK_ALG: 2}


def test_the_same_manifest_twice_is_kept_once_and_another_store_under_its_id_is_a_conflict(
    repo_spec: str, harbour: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(harbour.read_bytes())
    first, again = register(repo_spec, [harbour, copy])
    assert (first.outcome, again.outcome) == ("added", "present")
    assert register(repo_spec, [harbour])[0].outcome == "present"
    entry = entry_from_file(harbour)
    with closing(open_repository(repo_spec)) as repo:
        assert repo.add(entry) is False
        forged = Entry(entry.manifest_id, entry.store[:-1] + bytes([entry.store[-1] ^ 1]), entry.bindings)
        with pytest.raises(ConflictError, match="different manifest store"):
            repo.add(forged)
        assert repo.manifest(entry.manifest_id) == entry.store  # never replaced
        assert repo.count() == 1


# ---------------------------------------------------------------------------------------------
# What is refused before anything is stored


def test_unsigned_tampered_and_unbound_files_are_refused_one_line_each(
    repo_spec: str, harbour: Path, jpeg: Path, rights: Rights, material: SigningMaterial, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered.jpg"
    data = bytearray(harbour.read_bytes())
    data[-200] ^= 0xFF  # in the image data: the hard binding no longer matches
    tampered.write_bytes(bytes(data))
    unbound = signed_with(material, jpeg, tmp_path / "unbound.jpg", rights, [])  # no soft binding recorded
    other = [iscc.fingerprint(unrelated_image(1))]
    elsewhere = signed_with(material, jpeg, tmp_path / "elsewhere.jpg", rights, other)  # another picture's
    results = register(repo_spec, [jpeg, tampered, unbound, elsewhere, tmp_path / "missing.jpg", harbour])
    assert [r.outcome for r in results] == ["refused"] * 5 + ["added"]
    messages = [r.message or "" for r in results]
    assert "carries no C2PA manifest" in messages[0] and str(jpeg) in messages[0]
    assert "does not validate" in messages[1] and str(tampered) in messages[1]
    assert "records no soft binding" in messages[2] and str(unbound) in messages[2]
    assert "fingerprint" in messages[3] and "bits away" in messages[3]
    assert "no such file" in messages[4]
    assert all("\n" not in m for m in messages)
    with closing(open_repository(repo_spec)) as repo:
        assert repo.count() == 1


def test_a_bare_store_must_validate_alone_and_stay_within_the_size_limit(harbour: Path) -> None:
    entry = entry_from_file(harbour)
    assert entry_from_store(entry.store, "upload") == entry
    broken = bytearray(entry.store)
    broken[entry.store.index(b"Jane Doe")] ^= 0x20  # an author's name altered: its assertion no longer matches
    with pytest.raises(IngestError, match=r"upload: .*(not validate|manifest store)"):
        entry_from_store(bytes(broken), "upload")
    with pytest.raises(IngestError, match="larger than"):
        entry_from_store(b"\0" * (MAX_STORE_BYTES + 1), "upload")
    with pytest.raises(IngestError):
        entry_from_store(b"not a manifest store", "upload")


# ---------------------------------------------------------------------------------------------
# The band search


def test_the_band_search_finds_every_code_within_the_radius_as_brute_force_does(repo_spec: str, harbour: Path) -> None:
    header = iscc.fingerprint(harbour).value[:2]
    rnd = random.Random(15)
    centre = rnd.randbytes(32)
    entries = []
    for i in range(400):  # codes at every distance 0..20 from the centre, in the prefix and in the rest
        body = bytearray(centre)
        for bit in rnd.sample(range(256 if i % 2 else 64), i % 21):
            body[bit // 8] ^= 0x80 >> (bit % 8)
        entries.append(synthetic(i, bytes(body), header))
    entries += [synthetic(1000 + i, rnd.randbytes(32), header) for i in range(200)]
    query = SoftBinding(ISCC_ALG, header + centre)
    with closing(open_repository(repo_spec, create=True)) as repo:
        repo.add_many(entries)
        for radius in (0, 3, 4, 7, 8, 11, 16, 20, 32, bands.MAX_DISTANCE):
            # brute force with the one rule (whole codes within the radius, prefixes within PREFIX_RADIUS)
            matching = (
                (iscc.within(query.value, e.bindings[0].value, radius), n, e.manifest_id) for n, e in enumerate(entries)
            )
            want = [(m, d) for d, _, m in sorted((d, n, m) for d, n, m in matching if d is not None)]
            found = repo.find(query, max_distance=radius, limit=1000)
            assert [(c.manifest_id, c.distance) for c in found] == want, radius  # nearest first, then first stored
            assert radius < 4 or len(want) > 0
        assert len(repo.find(query, max_distance=8, limit=3)) == 3
        with pytest.raises(RepositoryError, match="reaches 0 to"):
            repo.find(query, max_distance=bands.MAX_DISTANCE + 1)
        with pytest.raises(RepositoryError, match="at least one"):
            repo.find(query, limit=0)


def test_the_probes_meet_the_pigeonhole_bound() -> None:
    for d in range(bands.MAX_SEARCH_DISTANCE + 1):
        r = bands.radii(d)
        assert sum(x + 1 for x in r) > d  # a code missed by every band differs in more than d bits
    # the prefixes of matching codes are at most PREFIX_RADIUS (4) apart: 17 + 1 + 1 + 1 lookups at any radius from 4
    assert [len(p) for p in bands.probes(0, 3)] == [1, 1, 1, 1]
    assert [len(p) for p in bands.probes(0, 8)] == [17, 1, 1, 1]
    assert [len(p) for p in bands.probes(0, 28)] == [17, 1, 1, 1]


# ---------------------------------------------------------------------------------------------
# What is not a repository


def test_paths_that_are_not_repositories_are_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE manifests (x)")
    before = other.read_bytes()
    cases = {
        tmp_path / "missing.db": "no such repository",
        text: "not a rightsmark repository",
        other: "not a rightsmark repository",
        tmp_path: "not a rightsmark repository",
    }
    for path, needle in cases.items():
        for create in (False, True):
            if path.name == "missing.db" and create:
                continue
            with pytest.raises(RepositoryError) as caught:
                open_repository(str(path), create=create)
            line = caught.value.one_line()
            assert needle in line and str(path) in line and "\n" not in line
    assert other.read_bytes() == before and text.read_text() == "hello\n" * 100  # never written to
    assert not (tmp_path / "missing.db").exists()  # a read creates nothing
    with pytest.raises(RepositoryError, match="not a ftp:// URL"):
        open_repository("ftp://example.org/repo")


def test_a_damaged_store_in_the_file_is_an_error_not_a_store(tmp_path: Path, harbour: Path) -> None:
    spec = str(tmp_path / "r.db")
    (result,) = register(spec, [harbour])
    with sqlite3.connect(spec) as db:
        db.execute("UPDATE manifests SET store = X'00' || store")
    with closing(open_repository(spec)) as repo, pytest.raises(RepositoryError, match="damaged"):
        repo.manifest(result.manifest_id)


def test_postgres_location_never_shows_the_password(pg_url: str) -> None:
    url = fresh_database(pg_url, f"repo_{next(_names)}")
    with closing(open_repository(url, create=True)) as repo:
        assert PASSWORD not in repo.location and "rightsmark@" not in repo.location
        assert repo.location.startswith("postgresql://127.0.0.1:")
    wrong = url.replace(PASSWORD, PASSWORD + "x")
    with pytest.raises(RepositoryError) as caught:
        open_repository(wrong)
    assert PASSWORD not in caught.value.one_line() and "cannot connect" in caught.value.one_line()
    empty = fresh_database(pg_url, f"repo_{next(_names)}")
    with pytest.raises(RepositoryError, match="not a rightsmark repository"):
        open_repository(empty)
    import psycopg

    with psycopg.connect(empty, autocommit=True) as db:
        db.execute("CREATE TABLE manifests (x int)")
    with pytest.raises(RepositoryError, match="other tables named manifests"):
        open_repository(empty, create=True)


def test_without_psycopg_a_postgres_url_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from rightsmark.repository.open import open_repository\n"
        "from rightsmark.repository.base import RepositoryError\n"
        "try:\n    open_repository('postgresql://u:pw@127.0.0.1:1/db')\n"
        "except RepositoryError as e:\n    print(e.one_line())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "pip install 'rightsmark[postgres]'" in out and "pw" not in out.replace("psycopg", "")


# ---------------------------------------------------------------------------------------------
# The CLI


def test_repo_add_and_info_exit_codes(
    cli: Callable[..., CliResult], repo_spec: str, harbour: Path, jpeg: Path, tmp_path: Path
) -> None:
    done = cli("repo", "add", repo_spec, harbour)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"added {harbour} (") and "1 added, 0 already kept, 0 refused" in done.stderr
    again = cli("repo", "add", repo_spec, harbour, jpeg)
    assert again.returncode == 1 and again.stdout.startswith(f"already kept {harbour}")
    refused = [line for line in again.stderr.splitlines() if line.startswith("rightsmark: ")]
    assert len(refused) == 1 and str(jpeg) in refused[0] and "no C2PA manifest" in refused[0]
    assert "Traceback" not in again.stderr
    info = cli("repo", "info", repo_spec)
    assert info.returncode == 0 and "manifests: 1" in info.stdout and f"{ISCC_ALG}: 1 values" in info.stdout
    assert PASSWORD not in info.stdout + info.stderr + done.stdout + done.stderr
    assert cli("repo", "info", repo_spec, "--json").json()["manifests"] == 1


def test_repo_cli_on_what_is_not_a_repository(cli: Callable[..., CliResult], tmp_path: Path, harbour: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database, plainly\n" * 50)
    one_error_line(cli("repo", "info", text), "notes.txt", "not a rightsmark repository")
    one_error_line(cli("repo", "info", tmp_path / "none.db"), "none.db", "no such repository")
    one_error_line(cli("repo", "add", text, harbour), "notes.txt", "not a rightsmark repository")
    assert not (tmp_path / "none.db").exists()


def test_one_repository_serves_lookups_from_many_threads(repo_spec: str, harbour: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    (result,) = register(repo_spec, [harbour])
    query = iscc.fingerprint(harbour)
    with closing(open_repository(repo_spec)) as repo, ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: [c.manifest_id for c in repo.find(query)], range(40)))
    assert found == [[result.manifest_id]] * 40
