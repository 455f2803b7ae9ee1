"""A real RFC 3161 timestamp authority on 127.0.0.1, for tests.

:class:`LocalTSA` makes its own CA and TSA certificate (cryptography), writes an ``openssl ts``
configuration, and serves ``POST`` requests with a ``ThreadingHTTPServer`` bound to 127.0.0.1 on a
free port: each request body (a DER TimeStampReq) is answered by ``openssl ts -reply`` run as a
subprocess. It counts the requests it answers, so a test can prove the TSA was contacted.

Use it as a context manager, or through the ``tsa`` fixture of ``conftest.py``::

    with LocalTSA(tmp_path / "tsa") as tsa:
        Signer(material, tsa_url=tsa.url)
        trust = [keys.ca, tsa.ca_pem]      # the TSA root goes into the trust anchors
        tsa.requests                       # how many timestamp requests were answered so far
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OPENSSL = shutil.which("openssl") or "openssl"
#: How long one ``openssl ts -reply`` may take; after that the request is answered with HTTP 400 like a bad one.
OPENSSL_TIMEOUT = 15.0
TSA_POLICY = "1.3.6.1.4.1.99999.1.1"  # a private-arc policy OID; any OID works for openssl ts


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rightsmark test TSA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_tsa_certificates(
    directory: Path, valid: tuple[dt.datetime, dt.datetime] | None = None
) -> tuple[Path, Path, Path]:
    """Write ``tsa-ca.pem`` (root), ``tsa.pem`` (TSA certificate) and ``tsa.key`` into ``directory``.

    The TSA certificate carries what RFC 3161 section 2.3 asks: the timeStamping extended key usage,
    critical, and digitalSignature + nonRepudiation key usage. It is valid from five minutes ago for
    ten years, or over ``valid`` (openssl ts signs with it all the same).
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    tsa_from, tsa_until = valid or (now, now + dt.timedelta(days=3650))
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("rightsmark test TSA root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("rightsmark test TSA"))
        .issuer_name(root_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(tsa_from)
        .not_valid_after(tsa_until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem, cert_pem, key_pem = directory / "tsa-ca.pem", directory / "tsa.pem", directory / "tsa.key"
    ca_pem.write_bytes(_pem(root))
    cert_pem.write_bytes(_pem(tsa))
    key_pem.write_bytes(
        tsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_pem.chmod(0o600)
    return ca_pem, cert_pem, key_pem


def _config(directory: Path, cert: Path, key: Path, chain: Path, digests: tuple[str, ...]) -> str:
    return f"""\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {directory}
serial = $dir/serial
crypto_device = builtin
signer_cert = {cert}
certs = {chain}
signer_key = {key}
signer_digest = sha256
default_policy = {TSA_POLICY}
digests = {", ".join(digests)}
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class LocalTSA:
    """An RFC 3161 timestamp authority (``openssl ts -reply``) on ``http://127.0.0.1:<port>/``.

    Attributes: :attr:`url`, :attr:`ca_pem` (the root to trust), :attr:`cert_pem` (the TSA
    certificate), :attr:`requests` (POSTs answered so far), :attr:`queries` (their bodies).
    ``digests`` lists the message-imprint hashes it grants; any other is answered with a real
    ``rejection`` (badAlg) reply, which tests use to see a TSA refuse. ``content_type`` is the
    Content-Type of its replies, and ``rewrite_query`` (if given) changes each request before openssl
    answers it: both make a misbehaving TSA whose replies are still real ``openssl ts`` replies.
    ``rewrite_reply`` changes each reply openssl gives, and ``valid`` sets when the TSA certificate is
    valid (:func:`make_tsa_certificates`): a TSA that answers with a damaged or unusable token.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        digests: tuple[str, ...] = ("sha256", "sha384", "sha512"),
        content_type: str = "application/timestamp-reply",
        rewrite_query: Callable[[bytes], bytes] | None = None,
        rewrite_reply: Callable[[bytes], bytes] | None = None,
        valid: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> None:
        self.content_type = content_type
        self.rewrite_query = rewrite_query
        self.rewrite_reply = rewrite_reply
        self._own_dir = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="rightsmark-tsa-")) if directory is None else Path(directory)
        self.ca_pem, self.cert_pem, self.key_pem = make_tsa_certificates(self.directory, valid)
        (self.directory / "serial").write_text("01\n", encoding="ascii")
        self.config = self.directory / "openssl-ts.cnf"
        self.config.write_text(
            _config(self.directory, self.cert_pem, self.key_pem, self.ca_pem, digests), encoding="ascii"
        )
        self._openssl = threading.Lock()  # openssl ts updates the serial file: one reply at a time
        self._lock = threading.Lock()  # guards the counter and the list of queries
        self._count = 0
        self.queries: list[bytes] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the TSA itself -------------------------------------------------------------------------

    def reply(self, query: bytes) -> bytes | None:
        """The DER TimeStampResp ``openssl ts -reply`` gives for ``query``, or None if openssl failed."""
        with self._openssl, tempfile.TemporaryDirectory(dir=self.directory) as work:
            tsq, tsr = Path(work) / "q.tsq", Path(work) / "r.tsr"
            tsq.write_bytes(query)
            try:
                proc = subprocess.run(
                    [OPENSSL, "ts", "-reply", "-config", str(self.config), "-queryfile", str(tsq), "-out", str(tsr)],
                    capture_output=True,
                    timeout=OPENSSL_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return None
            if proc.returncode != 0 or not tsr.is_file():
                return None
            return tsr.read_bytes()

    @property
    def requests(self) -> int:
        """How many timestamp requests (POSTs) the server has received."""
        with self._lock:
            return self._count

    def _record(self, body: bytes) -> None:
        with self._lock:
            self._count += 1
            self.queries.append(body)

    # -- HTTP -----------------------------------------------------------------------------------

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                tsa._record(body)
                query = tsa.rewrite_query(body) if tsa.rewrite_query and body else body
                answer = tsa.reply(query) if query else None
                if answer is not None and tsa.rewrite_reply:
                    answer = tsa.rewrite_reply(answer)
                if answer is None:
                    self._send(400, "text/plain", b"openssl ts could not parse the request\n")
                else:
                    self._send(200, tsa.content_type, answer)

            def do_GET(self) -> None:
                self._send(405, "text/plain", b"POST an application/timestamp-query\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the TSA is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> LocalTSA:
        if self._server is not None:
            return self
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="local-tsa", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalTSA:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@pytest.fixture(scope="session")
def direct_loopback() -> Iterator[None]:
    """Add 127.0.0.1 and localhost to NO_PROXY for the session.

    The engine sends timestamp requests through a proxy named in the environment (http_proxy, ...),
    even to 127.0.0.1, and reads those settings once per process, at its first request: a test run
    started behind a proxy would otherwise send the local TSA's requests to the proxy.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NO_PROXY", "no_proxy"):
            current = os.environ.get(name)
            patch.setenv(name, ",".join(filter(None, (current, "127.0.0.1", "localhost"))))
        yield


@pytest.fixture(scope="session")
def tsa(tmp_path_factory: pytest.TempPathFactory, direct_loopback: None) -> Iterator[LocalTSA]:
    """A running :class:`LocalTSA` for the session: ``tsa.url``, ``tsa.ca_pem`` (root to trust), ``tsa.requests``."""
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as authority:
        yield authority


@contextlib.contextmanager
def fixed_reply_server(status: int, body: bytes, content_type: str | None = None) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering every POST with ``status`` and ``body``: a URL that is not a TSA."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + content


def tokenless_reply(status: int, *text: str) -> bytes:
    """A DER TimeStampResp holding only a PKIStatusInfo: ``status`` and ``text`` as its statusString."""
    strings = _der(0x30, b"".join(_der(0x0C, t.encode()) for t in text)) if text else b""
    return _der(0x30, _der(0x30, _der(0x02, bytes([status])) + strings))


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port refuses connections: bound (so nobody else takes it) but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()
