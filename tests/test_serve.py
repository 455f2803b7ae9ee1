"""The resolution service: the real `rightsmark serve` on 127.0.0.1 over a real SQLite repository of real
signed files, spoken to over HTTP with urllib, http.client and the RemoteRepository client."""

from __future__ import annotations

import copy
import hashlib
import http.client
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

from rightsmark.engine import adapter as engine
from rightsmark.engine.detached import read_detached
from rightsmark.models import Integrity
from rightsmark.repository.ingest import entry_from_file
from rightsmark.repository.sqlite import SqliteRepository
from rightsmark.serve import openapi
from rightsmark.sign.signer import Signer
from rightsmark.softbinding import iscc
from rightsmark.softbinding.model import ISCC_ALG, SoftBinding

from .conftest import EXAMPLE_IMAGES, open_rights

TOKEN = "t0ken-for-the-tests-0123456789"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running(repo: Path | str, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`rightsmark serve --repo REPO --port 0 ARGS` as a real process, until the block ends (SIGTERM)."""
    out, log = tmp / f"serve-{time.monotonic_ns()}.out", tmp / f"serve-{time.monotonic_ns()}.err"
    full_env = {k: v for k, v in os.environ.items() if k not in ("RIGHTSMARK_DEBUG", "RIGHTSMARK_SERVE_TOKEN")}
    full_env.update(env or {})
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rightsmark", "serve", "--repo", str(repo), "--port", "0", *args],
            stdout=stdout,
            stderr=stderr,
            env=full_env,
        )
    try:
        deadline = time.monotonic() + 60
        while "\n" not in out.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)
        line = out.read_text().splitlines()[0]
        assert line.startswith("serving on http://127.0.0.1:"), line
        yield Server(line.removeprefix("serving on "), proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request: status, headers, body (an error status is an answer too)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def json_error(status: int, headers: dict[str, str], body: bytes) -> str:
    """The message of a JSON error answer (and the answer is one)."""
    assert headers["content-type"] == "application/json", (status, headers, body)
    document = json.loads(body)
    assert set(document) == {"error"} and isinstance(document["error"], str), document
    assert "Traceback" not in document["error"] and 'File "' not in document["error"]
    return str(document["error"])


def check_schema(instance: object, name: str, document: dict[str, Any] | None = None) -> None:
    """``instance`` against ``components/schemas/NAME`` of the published document (or ``document``)."""
    components = (document or openapi.published())["components"]
    jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{name}", "components": components}).validate(instance)


def alg_list_document() -> dict[str, Any]:
    """The published document with its one known defect mended (see sbr-openapi.provenance.txt): the
    'oneOf' of the watermark items belongs to the list object, as 'at least one of the two lists'."""
    document = copy.deepcopy(openapi.published())
    schema = document["components"]["schemas"]["c2pa.softBindingAlgList"]
    items = schema["properties"]["watermarks"]["items"]
    schema["anyOf"] = items.pop("oneOf")
    return document


def reencoded(path: Path, quality: int = 75) -> bytes:
    """The picture of ``path`` without its metadata, resized to 80% and saved as a new JPEG."""
    with Image.open(path) as im:
        small = im.convert("RGB").resize((im.width * 4 // 5, im.height * 4 // 5))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality)
    return out.getvalue()


@dataclass
class Fixture:
    repo: Path
    signed: dict[str, Path]
    ids: dict[str, str]
    extra: Path  # a signed file not in the repository (for uploads)
    tmp: Path


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Fixture:
    tmp = tmp_path_factory.mktemp("serve")
    signed = {}
    for name in ("harbour.jpg", "market.png", "street.webp"):
        signer.sign_file(EXAMPLE_IMAGES / name, tmp / name, open_rights())
        signed[name] = tmp / name
    repo = tmp / "repo.db"
    ids = {}
    with SqliteRepository(repo, create=True) as repository:
        for name in ("harbour.jpg", "market.png"):
            entry = entry_from_file(signed[name])
            assert repository.add(entry)
            ids[name] = entry.manifest_id
    return Fixture(repo, signed, ids, signed["street.webp"], tmp)


@pytest.fixture(scope="module")
def server(filled: Fixture) -> Iterator[Server]:
    token_file = filled.tmp / "token"
    token_file.write_text(TOKEN + "\n")
    with running(filled.repo, filled.tmp, "--token-file", str(token_file), "--rate", "1000/s") as server:
        yield server


def by_binding(server: Server, binding: SoftBinding, **params: Any) -> tuple[int, dict[str, str], bytes]:
    query = urllib.parse.urlencode({"value": binding.b64, "alg": binding.alg, **params})
    return call(f"{server.url}/matches/byBinding?{query}")


def fingerprint_of(path: Path) -> SoftBinding:
    return iscc.fingerprint(path)


# ---------------------------------------------------------------------------------------------------------
# the routes, as the published document describes them


def test_every_route_answers_as_the_published_document_says(server: Server, filled: Fixture) -> None:
    status, headers, body = call(f"{server.url}/services/supportedAlgorithms")
    assert status == 200 and headers["content-type"] == "application/json"
    listing = json.loads(body)
    check_schema(listing, "c2pa.softBindingAlgList", alg_list_document())
    assert {"alg": ISCC_ALG} in listing["fingerprints"]
    with pytest.raises(jsonschema.ValidationError):  # the published defect the test mends, shown to be one
        check_schema({"watermarks": [{"alg": "x.y"}]}, "c2pa.softBindingAlgList")

    harbour = fingerprint_of(filled.signed["harbour.jpg"])
    status, headers, body = by_binding(server, harbour, maxResults=5)
    assert status == 200 and headers["content-type"] == "application/json"
    result = json.loads(body)
    check_schema(result, "c2pa.softBindingQueryResult")
    assert result["matches"][0] == {"manifestId": filled.ids["harbour.jpg"], "similarityScore": 100}
    assert filled.ids["market.png"] not in [m["manifestId"] for m in result["matches"]]

    query = json.dumps({"alg": harbour.alg, "value": harbour.b64}).encode()
    check_schema(json.loads(query), "c2pa.softBindingQuery")
    status, _, body = call(
        f"{server.url}/matches/byBinding?maxResults=1", "POST", query, {"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body) == result

    manifest_id = filled.ids["harbour.jpg"]
    for suffix in ("", "?returnActiveManifest=true", "?returnActiveManifest=false"):
        status, headers, store = call(f"{server.url}/manifests/{urllib.parse.quote(manifest_id, safe='')}{suffix}")
        assert status == 200 and headers["content-type"] == "application/c2pa"
        reading = read_detached(store, engine.reading_context(None, verify_trust=False))
        assert reading.integrity is Integrity.VALID and reading.store is not None
        assert reading.store["active_manifest"] == manifest_id

    status, headers, body = call(f"{server.url}/openapi.json")
    served = json.loads(body)
    published = openapi.published()
    assert status == 200 and served["openapi"] == "3.0.3"
    for path, operations in published["paths"].items():
        assert served["paths"][path] == operations  # the published routes, as published
    assert (
        served["components"]["schemas"]["c2pa.softBindingQueryResult"]
        == (published["components"]["schemas"]["c2pa.softBindingQueryResult"])
    )
    assert served["paths"]["/manifests"]["post"]["x-rightsmark-extension"] is True
    assert "returnActiveManifest" in served["x-rightsmark"]
    assert served["servers"] == [{"url": server.url}]


def test_by_content_finds_the_manifest_of_a_stripped_reencoded_copy(server: Server, filled: Fixture) -> None:
    copy_bytes = reencoded(filled.signed["market.png"])
    assert b"c2pa" not in copy_bytes  # no manifest left in the copy
    status, _, body = call(f"{server.url}/matches/byContent", "POST", copy_bytes, {"Content-Type": "image/jpeg"})
    assert status == 200, body
    result = json.loads(body)
    check_schema(result, "c2pa.softBindingQueryResult")
    assert result["matches"] and result["matches"][0]["manifestId"] == filled.ids["market.png"]
    assert 80 <= result["matches"][0]["similarityScore"] <= 100
    # an unrelated picture finds nothing
    unrelated = io.BytesIO()
    Image.radial_gradient("L").resize((640, 480)).save(unrelated, "PNG")
    status, _, body = call(
        f"{server.url}/matches/byContent?alg={ISCC_ALG}",
        "POST",
        unrelated.getvalue(),
        {"Content-Type": "image/png"},
    )
    assert status == 200 and json.loads(body) == {"matches": []}


# ---------------------------------------------------------------------------------------------------------
# bad requests: a JSON error with the published code, and the service keeps serving


def test_bad_requests_answer_json_errors_and_the_service_keeps_serving(server: Server, filled: Fixture) -> None:
    harbour = fingerprint_of(filled.signed["harbour.jpg"])
    value = urllib.parse.quote(harbour.b64, safe="")
    base = server.url
    cases: list[tuple[str, str, bytes | None, dict[str, str], int, str]] = [
        ("GET", "/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000", None, {}, 404, "no manifest"),
        ("GET", f"/manifests/{urllib.parse.quote(' bad id')}", None, {}, 400, "not a manifest id"),
        ("GET", "/manifests/x?returnActiveManifest=maybe", None, {}, 400, "returnActiveManifest"),
        ("GET", f"/matches/byBinding?alg={ISCC_ALG}&value=not*base64", None, {}, 400, "base64"),
        ("GET", f"/matches/byBinding?alg={ISCC_ALG}", None, {}, 400, "'value' is missing"),
        ("GET", f"/matches/byBinding?alg=com.example.phash&value={value}", None, {}, 400, "not supported"),
        ("GET", f"/matches/byBinding?alg={ISCC_ALG}&value=AQID", None, {}, 400, "ISCC"),
        ("GET", f"/matches/byBinding?alg={ISCC_ALG}&value={value}&maxResults=0", None, {}, 400, "maxResults"),
        ("GET", f"/matches/byBinding?alg={ISCC_ALG}&value={'A' * 9000}", None, {}, 414, "POST"),
        ("POST", "/matches/byBinding", b"{not json", {"Content-Type": "application/json"}, 400, "not JSON"),
        ("POST", "/matches/byBinding", b"[1, 2]", {"Content-Type": "application/json"}, 400, "softBindingQuery"),
        ("POST", "/matches/byBinding", b"{}", {"Content-Type": "text/plain"}, 415, "application/json"),
        ("POST", "/matches/byContent", b"hello", {"Content-Type": "text/plain"}, 415, "image"),
        ("POST", "/matches/byContent", b"\xff\xd8\xff garbage", {"Content-Type": "image/jpeg"}, 415, "not an image"),
        ("POST", "/matches/byContent", b"", {"Content-Type": "image/jpeg"}, 415, "empty"),
        ("POST", "/matches/byContent?alg=com.example.phash", b"x", {"Content-Type": "image/jpeg"}, 400, "supported"),
        ("POST", "/matches/byContent?hintAlg=io.iscc.v0", b"x", {"Content-Type": "image/jpeg"}, 400, "hintValue"),
        ("GET", "/no/such/route", None, {}, 404, "no such route"),
        ("DELETE", "/manifests/x", None, {}, 405, "method"),
    ]
    for method, path, body, headers, code, needle in cases:
        status, answer_headers, answer = call(base + path, method, body, headers)
        assert status == code, (method, path, status, answer)
        assert needle.lower() in json_error(status, answer_headers, answer).lower(), (path, answer)
    status, _, body = by_binding(server, harbour)
    assert status == 200 and json.loads(body)["matches"]
    assert server.proc.poll() is None
    assert "Traceback" not in server.stderr()


def raw_request(server: Server, method: str, path: str, headers: dict[str, str], chunks: list[bytes]) -> Any:
    """A request written by hand (a declared length, or chunks), then its answer read; sending stops at the
    first chunk the service no longer reads."""
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest(method, path)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    for chunk in chunks:
        try:
            connection.send(chunk)
        except OSError:  # the service answered and closed: what it answered is still to be read
            break
    answer = connection.getresponse()
    status, answer_headers, body = answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    connection.close()
    return status, answer_headers, body


def test_oversized_uploads_are_refused_while_they_arrive_and_the_service_keeps_serving(
    server: Server, filled: Fixture
) -> None:
    # a declared length over the bound is refused before any of the body is read
    status, headers, body = raw_request(
        server,
        "POST",
        "/matches/byContent",
        {"Content-Type": "image/jpeg", "Content-Length": str(1 << 30)},
        [],
    )
    assert status == 413 and "larger" in json_error(status, headers, body)
    # a chunked body (no declared length) is cut off once it passes the bound: 9 MiB sent of a stream with no end
    chunk = os.urandom(1 << 20)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    status, headers, body = raw_request(
        server,
        "POST",
        "/matches/byContent",
        {"Content-Type": "image/jpeg", "Transfer-Encoding": "chunked"},
        [framed] * 9,
    )
    assert status == 413 and "larger" in json_error(status, headers, body)
    # a store over MAX_STORE_BYTES, declared: refused before it is read, token or not
    status, headers, body = raw_request(
        server,
        "POST",
        "/manifests",
        {"Content-Type": "application/c2pa", "Authorization": f"Bearer {TOKEN}", "Content-Length": str(5 << 20)},
        [b"\0" * 65536],
    )
    assert status == 413 and "larger" in json_error(status, headers, body)
    status, _, body = by_binding(server, fingerprint_of(filled.signed["harbour.jpg"]))
    assert status == 200 and json.loads(body)["matches"]


# ---------------------------------------------------------------------------------------------------------
# writing: the token, and what is validated before it is kept


def store_of(path: Path) -> bytes:
    return entry_from_file(path).store


def test_writes_need_the_token_and_a_store_that_validates(server: Server, filled: Fixture) -> None:
    store = store_of(filled.extra)
    url = f"{server.url}/manifests"
    c2pa_type = {"Content-Type": "application/c2pa"}
    status, headers, body = call(url, "POST", store, c2pa_type)
    assert status == 401 and "Bearer" in json_error(status, headers, body)
    assert headers["www-authenticate"] == "Bearer"
    status, headers, body = call(url, "POST", store, {**c2pa_type, "Authorization": "Bearer " + TOKEN[:-1] + "X"})
    assert status == 403 and "not this service's write token" in json_error(status, headers, body)
    status, headers, body = call(url, "POST", store, {**c2pa_type, "Authorization": "Basic " + TOKEN})
    assert status == 401
    auth = {**c2pa_type, "Authorization": f"Bearer {TOKEN}"}
    # a store that does not validate is refused: garbage, and a real store with one byte of its claim changed
    status, headers, body = call(url, "POST", b"\0" * 100, auth)
    assert status == 400 and "not a manifest store that validates" in json_error(status, headers, body)
    forged = bytearray(store)
    where = forged.find(b"Jane Doe")
    assert where > 0
    forged[where] = ord("X")
    status, headers, body = call(url, "POST", bytes(forged), auth)
    assert status == 400 and "not a manifest store that validates" in json_error(status, headers, body)
    status, headers, body = call(
        url, "POST", store, {"Content-Type": "image/jpeg", **{"Authorization": auth["Authorization"]}}
    )
    assert status == 415
    # the real store is kept, once
    status, headers, body = call(url, "POST", store, auth)
    assert status == 201, body
    added = json.loads(body)
    assert added["added"] is True and added["manifestId"].startswith("urn:")
    status, _, body = call(url, "POST", store, auth)
    assert status == 200 and json.loads(body) == {**added, "added": False}
    # and found again from a stripped copy of its picture
    status, _, body = call(
        f"{server.url}/matches/byContent", "POST", reencoded(filled.extra), {"Content-Type": "image/jpeg"}
    )
    assert [m["manifestId"] for m in json.loads(body)["matches"]] == [added["manifestId"]]


def test_a_service_without_a_token_refuses_every_write(filled: Fixture, tmp_path: Path) -> None:
    with running(filled.repo, tmp_path) as server:
        status, headers, body = call(
            f"{server.url}/manifests",
            "POST",
            store_of(filled.signed["harbour.jpg"]),
            {"Content-Type": "application/c2pa", "Authorization": f"Bearer {TOKEN}"},
        )
        assert status == 403 and "writes are disabled" in json_error(status, headers, body)
    assert server.proc.returncode == 0 and server.stderr() == ""  # SIGTERM: a normal, quiet stop


# ---------------------------------------------------------------------------------------------------------
# what the repository holds is checked again on the way out


def test_a_store_tampered_in_the_repository_is_never_served_nor_listed(
    filled: Fixture, tmp_path: Path, signer: Signer
) -> None:
    repo = tmp_path / "tampered.db"
    pictures = {}
    with SqliteRepository(repo, create=True) as repository:
        for name in ("harbour.jpg", "market.png"):
            entry = entry_from_file(filled.signed[name])
            repository.add(entry)
            pictures[name] = entry
    harbour, market = pictures["harbour.jpg"], pictures["market.png"]
    forged = bytearray(harbour.store)
    where = forged.find(b"Jane Doe")
    forged[where : where + 8] = b"Jane Roe"
    context = engine.reading_context(None, verify_trust=False)
    assert read_detached(bytes(forged), context).integrity is not Integrity.VALID
    with sqlite3.connect(repo) as db:  # a writer that keeps the digest column consistent
        db.execute(
            "UPDATE manifests SET store = ?, sha256 = ? WHERE manifest_id = ?",
            (bytes(forged), hashlib.sha256(forged).hexdigest(), harbour.manifest_id),
        )
        # and market's id now holds harbour's genuine store: valid, but not the store of that manifest
        db.execute(
            "UPDATE manifests SET store = ?, sha256 = ? WHERE manifest_id = ?",
            (harbour.store, hashlib.sha256(harbour.store).hexdigest(), market.manifest_id),
        )
    db.close()
    with running(repo, tmp_path) as server:
        for entry in (harbour, market):
            status, headers, body = call(f"{server.url}/manifests/{urllib.parse.quote(entry.manifest_id, safe='')}")
            assert status == 500 and "does not validate" in json_error(status, headers, body)
            assert body != entry.store and harbour.store not in body
            for name in pictures:  # the query that would list it fails whole: a partial answer could hide it
                status, headers, body = by_binding(server, fingerprint_of(filled.signed[name]))
                assert status == 500 and "does not validate" in json_error(status, headers, body)
        assert server.proc.poll() is None
    log = server.stderr()
    assert f"manifest {harbour.manifest_id}: its kept store does not validate" in log
    assert f"manifest {market.manifest_id}: its kept store does not validate" in log
    assert "Traceback" not in log


def test_a_store_damaged_behind_the_repositorys_back_is_not_served(filled: Fixture, tmp_path: Path) -> None:
    repo = tmp_path / "damaged.db"
    with SqliteRepository(repo, create=True) as repository:
        entry = entry_from_file(filled.signed["harbour.jpg"])
        repository.add(entry)
    with sqlite3.connect(repo) as db:  # the digest column left as it was
        db.execute(
            "UPDATE manifests SET store = ? WHERE manifest_id = ?",
            (entry.store[:-1] + bytes([entry.store[-1] ^ 0xFF]), entry.manifest_id),
        )
    db.close()
    with running(repo, tmp_path) as server:
        status, headers, body = call(f"{server.url}/manifests/{urllib.parse.quote(entry.manifest_id, safe='')}")
        assert status == 500 and "does not validate" in json_error(status, headers, body)
        status, headers, body = by_binding(server, fingerprint_of(filled.signed["harbour.jpg"]))
        assert status == 500 and "does not validate" in json_error(status, headers, body)


# ---------------------------------------------------------------------------------------------------------
# rate


def test_a_client_over_its_rate_is_answered_429_with_retry_after(filled: Fixture, tmp_path: Path) -> None:
    with running(filled.repo, tmp_path, "--rate", "2/s") as server:
        answers = [call(f"{server.url}/services/supportedAlgorithms") for _ in range(12)]
        limited = [a for a in answers if a[0] == 429]
        assert limited and answers[0][0] == 200
        status, headers, body = limited[0]
        assert "too many requests" in json_error(status, headers, body)
        assert int(headers["retry-after"]) >= 1
        # spoofed forwarding headers change nothing: the address that connected is counted
        status, _, _ = call(f"{server.url}/services/supportedAlgorithms", headers={"X-Forwarded-For": "10.1.2.3"})
        assert status == 429
        time.sleep(1.1)
        assert call(f"{server.url}/services/supportedAlgorithms")[0] == 200
