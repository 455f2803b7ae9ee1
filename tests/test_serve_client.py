"""RemoteRepository, the client verify uses to query a resolution service: against the real `rightsmark serve`,
and against real servers on 127.0.0.1 that are down, slow, or answer garbage. Also the command's own errors."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rightsmark.keys.devca import KeyFiles
from rightsmark.repository.base import ConflictError, Entry, RepositoryError
from rightsmark.repository.ingest import entry_from_file
from rightsmark.repository.open import open_repository
from rightsmark.repository.remote import RemoteRepository
from rightsmark.repository.wire import distance_from_score, similarity_score
from rightsmark.serve.run import is_loopback
from rightsmark.softbinding import iscc
from rightsmark.softbinding.model import ISCC_ALG, WATERMARK_ALG, SoftBinding

from .conftest import one_error_line
from .test_serve import TOKEN, Fixture, Server, filled, reencoded, server  # noqa: F401 - module fixtures

Cli = Callable[..., Any]


def test_the_client_speaks_to_the_real_service(server: Server, filled: Fixture) -> None:  # noqa: F811
    remote = open_repository(server.url)
    assert isinstance(remote, RemoteRepository) and remote.location == server.url
    harbour = iscc.fingerprint(filled.signed["harbour.jpg"])
    (found,) = remote.find(harbour)
    assert (found.manifest_id, found.alg, found.distance, found.repository) == (
        filled.ids["harbour.jpg"],
        ISCC_ALG,
        0,
        server.url,
    )
    near = iscc.fingerprint(reencoded(filled.signed["harbour.jpg"], quality=50))
    (found,) = remote.find(near)
    assert found.manifest_id == filled.ids["harbour.jpg"] and found.distance == iscc.distance(harbour.value, near.value)
    if found.distance:
        assert remote.find(near, max_distance=found.distance - 1) == []
    # a value too long for a URL goes by POST and finds the same
    long_value = SoftBinding(WATERMARK_ALG, b"\x01" * 900)
    assert remote.find(long_value) == []
    assert remote.find(SoftBinding("com.example.unknown", b"x")) == []  # not listed by the service: nothing
    store = remote.manifest(filled.ids["harbour.jpg"])
    assert store == entry_from_file(filled.signed["harbour.jpg"]).store
    assert remote.manifest("urn:c2pa:00000000-0000-0000-0000-000000000000") is None
    assert remote.manifest("a/b?c#d") is None  # quoted into one path segment
    with pytest.raises(RepositoryError, match="does not say how many"):
        remote.count()
    entry = entry_from_file(filled.signed["market.png"])
    with pytest.raises(RepositoryError, match="RIGHTSMARK_REPO_TOKEN"):
        RemoteRepository(server.url, token="").add(entry)
    with pytest.raises(RepositoryError, match="HTTP 403: the token is not"):
        RemoteRepository(server.url, token="x" * 20).add(entry)
    assert RemoteRepository(server.url, token=TOKEN).add(entry) is False  # already kept
    # another valid store under that id (its signature box's unsigned padding differs): a conflict, as locally
    padding = entry.store.rfind(b"\x00" * 64)
    assert padding > 0
    other = entry.store[:padding] + b"\x01" + entry.store[padding + 1 :]
    with pytest.raises(ConflictError, match="different manifest store"):
        RemoteRepository(server.url, token=TOKEN).add(Entry(entry.manifest_id, other, entry.bindings))


def test_score_and_distance_are_one_mapping() -> None:
    assert [distance_from_score(similarity_score(d)) for d in range(65)] == list(range(65))
    assert similarity_score(0) == 100 and similarity_score(64) == 0 and similarity_score(200) == 0


# ---------------------------------------------------------------------------------------------------------
# services that are down, slow, or answer garbage: one line naming the URL


@contextmanager
def http_server(answer: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 whose every GET and POST is answered by ``answer``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def reply(status: int, kind: str, body: bytes, **headers: str) -> Callable[[http.server.BaseHTTPRequestHandler], None]:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return answer


@contextmanager
def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that does ``behaviour`` with each connection (not HTTP)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                behaviour(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def one_line(exc: pytest.ExceptionInfo[RepositoryError], url: str, *needles: str) -> str:
    line = exc.value.one_line()
    assert "\n" not in line and line.startswith(url + ": "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


ALG_LIST = json.dumps({"fingerprints": [{"alg": ISCC_ALG}], "watermarks": []}).encode()
QUERY = SoftBinding(ISCC_ALG, iscc.fingerprint(Path(__file__).parents[1] / "examples" / "images" / "harbour.jpg").value)


def test_a_closed_port_is_one_line_naming_the_url() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(RepositoryError) as exc:
        RemoteRepository(f"http://user:secret@127.0.0.1:{port}?k=v").find(QUERY)
    line = one_line(exc, url, "cannot be reached", "connection refused", "is the service running")
    assert "secret" not in line and "user" not in line


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (reply(200, "text/html", b"<html>hello</html>"), "text/html, not application/json"),
        (reply(200, "application/json", b"{not json"), "not JSON"),
        (reply(200, "application/json", b'{"matches": "all of them"}'), "'matches' is not a list"),
        (reply(200, "application/json", b'{"matches": [{"manifestId": 7}]}'), "no usable 'manifestId'"),
        (
            reply(200, "application/json", b'{"matches": [{"manifestId": "urn:x", "similarityScore": 900}]}'),
            "not an integer from 0 to 100",
        ),
        (reply(200, "application/json", b"[" * 2_000_000), "more than 1048576 bytes"),
        (reply(500, "application/json", b'{"error": "database\\non fire"}'), "HTTP 500: database on fire"),
        (reply(302, "text/plain", b"", Location="http://127.0.0.2:9/matches"), "redirected to another host"),
    ],
)
def test_a_service_answering_garbage_is_one_line_naming_the_url(answer: Any, needle: str) -> None:
    def routed(handler: http.server.BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/services/supportedAlgorithms"):
            reply(200, "application/json", ALG_LIST)(handler)
        else:
            answer(handler)

    with http_server(routed) as url:
        with pytest.raises(RepositoryError) as exc:
            RemoteRepository(url).find(QUERY)
        one_line(exc, url, "the resolution service", needle)


def test_a_manifest_answer_must_be_a_bounded_c2pa_store() -> None:
    with http_server(reply(200, "text/plain", b"store")) as url:
        with pytest.raises(RepositoryError) as exc:
            RemoteRepository(url).manifest("urn:x")
        one_line(exc, url, "text/plain, not application/c2pa")
    with http_server(reply(200, "application/c2pa", b"\0" * (4 * 1024 * 1024 + 1))) as url:
        with pytest.raises(RepositoryError) as exc:
            RemoteRepository(url).manifest("urn:x")
        one_line(exc, url, "more than 4194304 bytes")


def test_a_server_that_is_not_http_is_one_line() -> None:
    def garbage(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"\x00\x01garbage that is no status line\r\n\r\n")

    with raw_server(garbage) as url:
        with pytest.raises(RepositoryError) as exc:
            RemoteRepository(url).manifest("urn:x")
        one_line(exc, url, "not HTTP")


def test_a_service_that_does_not_answer_times_out_in_one_line() -> None:
    def silent(conn: socket.socket) -> None:
        conn.recv(65536)
        time.sleep(1.5)

    with raw_server(silent) as url:
        started = time.monotonic()
        with pytest.raises(RepositoryError) as exc:
            RemoteRepository(url, timeout=0.5).manifest("urn:x")
        assert time.monotonic() - started < 1.4
        one_line(exc, url, "within 0.5 s")


def test_only_http_urls_and_tokens_only_where_they_cannot_be_overheard() -> None:
    for bad in ("ftp://example.org/", "http://", "http://host:port/"):
        with pytest.raises(RepositoryError):
            RemoteRepository(bad)
    entry = Entry("urn:x", b"store", ())  # refused before anything is sent
    with pytest.raises(RepositoryError, match="only over https"):
        RemoteRepository("http://repository.example.org", token="t" * 20).add(entry)


# ---------------------------------------------------------------------------------------------------------
# the command's own errors, before anything is bound


def test_serve_refuses_what_it_cannot_serve_in_one_line(cli: Cli, tmp_path: Path) -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.8.0.1", "::1", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "192.168.1.5", "example.org")))
    one_error_line(cli("serve", "--repo", tmp_path / "missing.db", "--port", "0"), "missing.db", "no such repository")
    (tmp_path / "not.db").write_text("hello")
    one_error_line(cli("serve", "--repo", tmp_path / "not.db", "--port", "0"), "not.db", "not a rightsmark repository")
    one_error_line(cli("serve", "--repo", "http://127.0.0.1:9/", "--port", "0"), "not a service URL")
    one_error_line(cli("serve", "--repo", "x.db", "--rate", "fast"), "--rate", "not a rate")
    (tmp_path / "token").write_text("short\n")
    one_error_line(cli("serve", "--repo", "x.db", "--token-file", tmp_path / "token"), "shorter than 16")
    one_error_line(cli("serve", "--repo", "x.db", "--token-file", tmp_path / "nope"), "nope", "cannot read")


def test_serve_without_the_web_stack_names_the_extra(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "from rightsmark._cli import main\n"
        "sys.argv = ['rightsmark', 'serve', '--repo', 'x.db']\nmain()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    line = one_error_line(done, "starlette and uvicorn")
    assert "pip install 'rightsmark[serve]'" in line


def test_verify_recovers_a_stripped_copy_through_the_service(
    cli: Cli,
    server: Server,  # noqa: F811
    filled: Fixture,  # noqa: F811
    keys: KeyFiles,
    tmp_path: Path,
) -> None:
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(reencoded(filled.signed["harbour.jpg"]))
    done = cli("verify", "--format", "jsonl", stripped, "--recover", server.url, "--trust", keys.ca)
    record = json.loads(done.stdout.splitlines()[0])
    assert done.returncode == 1 and record["decision"] == "drop", done.stderr
    assert [r["code"] for r in record["reasons"]] == ["integrity-absent", "recovered-only"]
    recovered = record["recovered"]
    assert recovered["manifest_id"] == filled.ids["harbour.jpg"] and recovered["repository"] == server.url
    assert recovered["trust"] == "trusted" and recovered["author"] == ["Jane Doe"]
