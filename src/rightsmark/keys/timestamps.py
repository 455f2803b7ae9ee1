"""RFC 3161 timestamp authorities: check a TSA URL, and probe the TSA before any file is signed.

The C2PA engine asks the TSA for one timestamp per signature while it signs. When the TSA is down
or answers something else, every signature fails with an engine message such as ``Signature:
internal error (service responded with an HTTP error ...)``. :func:`probe_tsa` sends the TSA one real
minimal request first, so the user hears once, before any file is touched, what is wrong and what
to do.

What the engine (c2pa-python 0.38.1) accepts, and so what the probe insists on: HTTP status 200 and
the Content-Type exactly ``application/timestamp-reply`` (no parameters, lower case; anything else
is refused as an HTTP error), then a DER TimeStampResp whose status is granted.

The request is built by hand (a few DER SEQUENCEs): no ASN.1 library is needed for it, and the
reply is read only as far as the status, the message imprint and the nonce.
"""

from __future__ import annotations

import hashlib
import http.client
import secrets
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

from rightsmark.errors import TimestampError

#: The Content-Type an RFC 3161 reply must carry (the engine compares it exactly).
REPLY_CONTENT_TYPE = "application/timestamp-reply"
QUERY_CONTENT_TYPE = "application/timestamp-query"

#: The digest the probe asks the TSA to timestamp: fixed, so a probe never reveals anything.
PROBE_DIGEST = hashlib.sha256(b"rightsmark timestamp authority probe").digest()

# AlgorithmIdentifier for SHA-256 (OID 2.16.840.1.101.3.4.2.1, NULL parameters)
_SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")
_ID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_ID_CT_TST_INFO = bytes.fromhex("2a864886f70d0109100104")  # 1.2.840.113549.1.9.16.1.4

_STATUS_NAMES = {
    0: "granted",
    1: "grantedWithMods",
    2: "rejection",
    3: "waiting",
    4: "revocationWarning",
    5: "revocationNotification",
}
# PKIFailureInfo bits (RFC 3161 section 2.4.2)
_FAILURE_BITS = {
    0: "badAlg",
    2: "badRequest",
    5: "badDataFormat",
    14: "timeNotAvailable",
    15: "unacceptedPolicy",
    16: "unacceptedExtension",
    17: "addInfoNotAvailable",
    25: "systemFailure",
}
_HINT_URL = "give the http:// or https:// URL of an RFC 3161 timestamp authority"
_HINT_TSA = "check the --tsa URL and that the TSA is up; untimestamped signatures fail once the certificate expires"
_MAX_REPLY = 1 << 20


def validate_tsa_url(url: str) -> str:
    """``url`` stripped, if it can name a timestamp authority (http or https with a host).

    Raises :class:`TimestampError` otherwise.
    """
    text = url.strip()
    if not text or any(c.isspace() for c in text):
        raise TimestampError(f"not a timestamp authority URL: {url!r}", hint=_HINT_URL)
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"}:
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise TimestampError(f"not a timestamp authority URL: {text} ({shown}; only http and https)", hint=_HINT_URL)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise TimestampError(f"not a timestamp authority URL: {text} (bad port)", hint=_HINT_URL) from None
    if not host:
        raise TimestampError(f"not a timestamp authority URL: {text} (no host)", hint=_HINT_URL)
    return text


# ---------------------------------------------------------------------------------------------
# DER, just enough of it


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + value


def _der_integer(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return _tlv(0x02, raw)


def timestamp_request(digest: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq (RFC 3161 section 2.4.1) for a SHA-256 ``digest``, with ``nonce`` and certReq."""
    imprint = _tlv(0x30, _SHA256_ALGORITHM + _tlv(0x04, digest))
    return _tlv(0x30, _der_integer(1) + imprint + _der_integer(nonce) + _tlv(0x01, b"\xff"))


class _DerError(ValueError):
    pass


def _read(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the element at ``pos``; single-byte tags only."""
    if pos + 2 > end:
        raise _DerError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:
        raise _DerError("multi-byte tag")
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise _DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise _DerError("truncated")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        tag, v0, v1 = _read(data, pos, end)
        yield tag, v0, v1
        pos = v1


def _expect(item: tuple[int, int, int] | None, tag: int) -> tuple[int, int]:
    if item is None or item[0] != tag:
        raise _DerError(f"expected tag {tag:#04x}")
    return item[1], item[2]


def _failure_names(bits: bytes) -> list[str]:
    if not bits:
        return []
    unused, flags = bits[0], bits[1:]
    names = []
    for i in range(len(flags) * 8 - unused):
        if flags[i // 8] & (0x80 >> (i % 8)):
            names.append(_FAILURE_BITS.get(i, f"bit {i}"))
    return names


def parse_timestamp_response(data: bytes) -> tuple[int, str | None, bytes | None, int | None]:
    """(PKIStatus, failure description, message imprint digest, nonce) of a DER TimeStampResp.

    The digest and nonce come from the TSTInfo of the token and are None when there is no token.
    Raises ValueError when ``data`` is not a TimeStampResp.
    """
    top = _read(data, 0, len(data))
    if top[0] != 0x30 or top[2] != len(data):
        raise _DerError("not a single DER SEQUENCE")
    resp = list(_children(data, top[1], top[2]))
    s0, s1 = _expect(resp[0] if resp else None, 0x30)
    status_info = list(_children(data, s0, s1))
    i0, i1 = _expect(status_info[0] if status_info else None, 0x02)
    status = int.from_bytes(data[i0:i1], "big", signed=True)
    details = []
    for tag, v0, v1 in status_info[1:]:
        if tag == 0x30:  # statusString: SEQUENCE OF UTF8String
            details += [data[c0:c1].decode("utf-8", "replace") for _, c0, c1 in _children(data, v0, v1)]
        elif tag == 0x03:  # failInfo: BIT STRING
            details += _failure_names(data[v0:v1])
    failure = "; ".join(details) or None
    if len(resp) < 2:
        return status, failure, None, None
    # timeStampToken: ContentInfo { signedData, [0] SignedData { version, digestAlgorithms,
    # encapContentInfo { id-ct-TSTInfo, [0] OCTET STRING TSTInfo }, ... } }
    c0, c1 = _expect(resp[1], 0x30)
    content_info = list(_children(data, c0, c1))
    o0, o1 = _expect(content_info[0] if content_info else None, 0x06)
    if data[o0:o1] != _ID_SIGNED_DATA:
        raise _DerError("token is not SignedData")
    e0, e1 = _expect(content_info[1] if len(content_info) > 1 else None, 0xA0)
    d0, d1 = _expect(next(_children(data, e0, e1), None), 0x30)
    signed = list(_children(data, d0, d1))
    p0, p1 = _expect(signed[2] if len(signed) > 2 else None, 0x30)
    encap = list(_children(data, p0, p1))
    t0, t1 = _expect(encap[0] if encap else None, 0x06)
    if data[t0:t1] != _ID_CT_TST_INFO:
        raise _DerError("token does not hold a TSTInfo")
    x0, x1 = _expect(encap[1] if len(encap) > 1 else None, 0xA0)
    q0, q1 = _expect(next(_children(data, x0, x1), None), 0x04)
    r0, r1 = _expect(next(_children(data, q0, q1), None), 0x30)
    tst = list(_children(data, r0, r1))
    # TSTInfo: version, policy, messageImprint, serialNumber, genTime, accuracy?, ordering?, nonce?, ...
    m0, m1 = _expect(tst[2] if len(tst) > 2 else None, 0x30)
    imprint = list(_children(data, m0, m1))
    h0, h1 = _expect(imprint[1] if len(imprint) > 1 else None, 0x04)
    _expect(tst[4] if len(tst) > 4 else None, 0x18)  # genTime
    nonce = None
    for tag, v0, v1 in tst[5:]:
        if tag == 0x02:
            nonce = int.from_bytes(data[v0:v1], "big", signed=True)
            break
    return status, failure, data[h0:h1], nonce


# ---------------------------------------------------------------------------------------------
# The probe


def _fail(url: str, what: str, hint: str = _HINT_TSA) -> TimestampError:
    return TimestampError(f"timestamp authority {url}: {what}", hint=hint)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "no answer in time (timed out)"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    text = getattr(reason, "strerror", None) or str(reason)
    return f"cannot connect: {text}"


def probe_tsa(url: str, timeout: float = 10) -> None:
    """Ask the TSA at ``url`` for one timestamp of a fixed digest; :class:`TimestampError` if it cannot serve.

    Checks what the C2PA engine will need: HTTP 200, Content-Type ``application/timestamp-reply``, a
    TimeStampResp with status granted or grantedWithMods whose token timestamps the digest sent and
    echoes the nonce. It takes the route the engine will take: through ``http_proxy``/``https_proxy``
    from the environment unless ``NO_PROXY`` names the host (the engine honours both).
    """
    target = validate_tsa_url(url)
    nonce = secrets.randbits(63) | 1
    request = urllib.request.Request(
        target,
        data=timestamp_request(PROBE_DIGEST, nonce),
        headers={"Content-Type": QUERY_CONTENT_TYPE, "Accept": REPLY_CONTENT_TYPE},
        method="POST",
    )
    opener = urllib.request.build_opener()  # environment proxies and NO_PROXY, like the engine
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            content_type = response.headers.get("Content-Type")
            body = response.read(_MAX_REPLY + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _fail(target, f"HTTP {exc.code} {exc.reason}".rstrip()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise _fail(target, _reason(exc)) from None
    except http.client.HTTPException as exc:
        raise _fail(target, f"not an HTTP server ({type(exc).__name__})") from None
    if status != 200:
        raise _fail(target, f"HTTP {status}")
    if content_type != REPLY_CONTENT_TYPE:
        raise _fail(
            target,
            f"not a timestamp reply (Content-Type {content_type or 'missing'}, expected {REPLY_CONTENT_TYPE})",
        )
    if len(body) > _MAX_REPLY:
        raise _fail(target, "not a timestamp reply (more than 1 MiB)")
    try:
        pki_status, failure, digest, echoed = parse_timestamp_response(body)
    except (_DerError, IndexError, ValueError):
        raise _fail(target, "not a timestamp reply (the body is not a DER TimeStampResp)") from None
    if pki_status not in (0, 1):
        name = _STATUS_NAMES.get(pki_status, f"status {pki_status}")
        raise _fail(
            target,
            f"refused the request: {name}" + (f" ({failure})" if failure else ""),
            hint="the authority must grant SHA-256 timestamp requests; check the URL or ask its operator",
        )
    if digest is None:
        raise _fail(target, "not a timestamp reply (status granted but no timestamp token)")
    if digest != PROBE_DIGEST:
        raise _fail(target, "the timestamp token is for another digest than the one sent")
    if echoed != nonce:
        what = "does not echo the nonce sent" if echoed is None else "echoes another nonce than the one sent"
        raise _fail(target, f"the timestamp token {what} (a replayed or foreign reply?)")
