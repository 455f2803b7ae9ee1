"""Reading PEM certificate files without importing a crypto library.

Trust anchors are handed to the C2PA engine as PEM text, and verification start-up matters
(a folder of unsigned files should cost little more than reading it), so the blocks are
only checked here for shape: base64 that decodes to a DER SEQUENCE. The engine parses them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from pathlib import Path

from rightsmark.errors import TrustError

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.DOTALL)


def read_pem_file(path: str | Path) -> bytes:
    """The bytes of a PEM file; :class:`TrustError` naming the file when it cannot be read."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise TrustError("no such file", path=p, hint="check the path of the certificate file") from None
    except IsADirectoryError:
        raise TrustError("is a directory, not a PEM file", path=p, hint="name the .pem file itself") from None
    except OSError as exc:
        raise TrustError(f"cannot read: {exc.strerror}", path=p) from None


def certificate_blocks(data: bytes, label: str | Path) -> list[tuple[str, bytes]]:
    """Each certificate in PEM ``data`` as (normalised PEM block, DER); :class:`TrustError` naming ``label``
    for a damaged block, a BEGIN line without its END line, or no certificate at all."""
    blocks = []
    for match in _BLOCK.finditer(data):
        body = b"".join(match.group(1).split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise TrustError("holds a damaged PEM certificate (bad base64)", path=label) from None
        if not der.startswith(b"\x30"):
            raise TrustError("holds a PEM block that is not a certificate", path=label)
        text = body.decode("ascii")
        lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
        blocks.append((f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n", der))
    if data.count(_BEGIN) != len(blocks):
        raise TrustError("holds a damaged PEM certificate (a BEGIN line without its END line)", path=label)
    if not blocks:
        raise TrustError("holds no PEM certificate", path=label, hint="expected '-----BEGIN CERTIFICATE-----' blocks")
    return blocks


def read_certificate_blocks(path: str | Path) -> list[str]:
    """Each certificate of a PEM file as a normalised PEM block; :class:`TrustError` when there is none."""
    p = Path(path)
    return [block for block, _ in certificate_blocks(read_pem_file(p), p)]


def load_trust_anchors(paths: Sequence[str | Path]) -> str:
    """Concatenate the PEM trust anchors in ``paths`` (each checked to hold certificates)."""
    return "".join(block for p in paths for block in read_certificate_blocks(p))
