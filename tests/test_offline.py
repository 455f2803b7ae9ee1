"""Verification never touches the network: a remote manifest is reported, not fetched.

A file whose only manifest lives on a server we run on 127.0.0.1 is verified; the server must see no
request at all, and the record must name the URL and drop the file.
"""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from rightsmark.engine import adapter as engine
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import SigningMaterial
from rightsmark.models import Decision, Integrity
from rightsmark.sign.signer import Signer
from rightsmark.verify.verifier import Verifier


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []
    body = b""

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/c2pa")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def manifest_server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _remote_only_jpeg(jpeg: Path, material: SigningMaterial, url: str) -> tuple[bytes, bytes]:
    """A JPEG carrying only a reference to ``url``, and the manifest store that belongs there."""
    c2pa = engine.c2pa()
    signer = Signer(material)  # rightsmark's engine signer and signing context
    builder = c2pa.Builder.from_json(
        {
            "claim_generator_info": [{"name": "test", "version": "1"}],
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                            }
                        ]
                    },
                }
            ],
        },
        context=signer._context,
    )
    builder.set_no_embed()
    builder.set_remote_url(url)
    out = io.BytesIO()
    store = builder.sign(signer._signer, "image/jpeg", io.BytesIO(jpeg.read_bytes()), out)
    signer.close()
    return out.getvalue(), bytes(store)


def test_remote_manifest_is_reported_and_never_fetched(
    tmp_path: Path, jpeg: Path, material: SigningMaterial, keys: KeyFiles, manifest_server: tuple[str, type[_Recorder]]
) -> None:
    base, handler = manifest_server
    url = f"{base}/manifests/photo.c2pa"
    image, handler.body = _remote_only_jpeg(jpeg, material, url)  # the server could answer, if anyone asked
    remote_only = tmp_path / "remote-only.jpg"
    remote_only.write_bytes(image)

    with Verifier([keys.ca]) as verifier:
        record = verifier.verify_file(remote_only)

    assert handler.requests == [], "verification fetched the remote manifest"
    assert record.remote_manifest == url
    assert record.integrity is Integrity.ABSENT
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == ["manifest-remote"]


def test_control_the_engine_defaults_would_fetch_it(
    jpeg: Path, material: SigningMaterial, manifest_server: tuple[str, type[_Recorder]]
) -> None:
    """Shows the test above can fail: without rightsmark's settings the engine does fetch."""
    base, handler = manifest_server
    image, handler.body = _remote_only_jpeg(jpeg, material, f"{base}/control.c2pa")
    c2pa = engine.c2pa()
    try:
        reader = c2pa.Reader("image/jpeg", io.BytesIO(image))
        reader.close()
    except c2pa.C2paError:
        pass
    assert handler.requests == ["/control.c2pa"]
