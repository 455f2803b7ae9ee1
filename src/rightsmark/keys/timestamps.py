"""RFC 3161 timestamp authorities: check a TSA URL, and probe the TSA before any file is signed.

The C2PA engine asks the TSA for one timestamp per signature while it signs. When the TSA is down
or answers something else, every signature fails with an engine message such as ``Signature:
internal error (service responded with an HTTP error ...)``. :func:`probe_tsa` sends the TSA one real
minimal request first, so the user hears once, before any file is touched, what is wrong and what
to do.

What the engine (c2pa-python 0.38.1) accepts, and so what the probe insists on: HTTP status 200 and
the Content-Type exactly ``application/timestamp-reply`` (no parameters, lower case; anything else
is refused as an HTTP error), then a DER TimeStampResp whose status is granted, whose token
timestamps the digest sent, echoes the nonce and carries the certificate of its one signer, valid
when it stamped. The probe also wants that certificate issued for timestamping (the critical
id-kp-timeStamping extended key usage of RFC 3161 section 2.3), without which no verifier trusts the
timestamp. The signature and the chain up to a trusted root are not checked here (signing has no
TSA anchors): the engine checks the signature on every timestamp it embeds, and verification checks
the chain against the TSA anchors.

Requests are built and replies parsed by rfc3161-client (the library sigstore-python uses); the one
hand-written step, :func:`_certificates_in_der_order`, sorts a token's certificate SET that OpenSSL's
``ts`` writes in chain order (not DER, which the library refuses) so that the library can parse the
reply again, as strictly, since sorting that SET changes no length and no signed byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from rightsmark.errors import TimestampError

if TYPE_CHECKING:
    from cryptography import x509
    from rfc3161_client import TimeStampRequest, TimeStampResponse, TimeStampTokenInfo

#: The Content-Type an RFC 3161 reply must carry (the engine compares it exactly).
REPLY_CONTENT_TYPE = "application/timestamp-reply"
QUERY_CONTENT_TYPE = "application/timestamp-query"

#: What the probe asks the TSA to timestamp (its SHA-256 digest): fixed, so a probe never reveals anything.
PROBE_DATA = b"rightsmark timestamp authority probe"
PROBE_DIGEST = hashlib.sha256(PROBE_DATA).digest()

_SHA256_OID = "2.16.840.1.101.3.4.2.1"
_STATUS_NAMES = {
    0: "granted",
    1: "grantedWithMods",
    2: "rejection",
    3: "waiting",
    4: "revocationWarning",
    5: "revocationNotification",
}
_HINT_URL = "give the http:// or https:// URL of an RFC 3161 timestamp authority"
_HINT_TSA = "check the --tsa URL and that the TSA is up; untimestamped signatures fail once the certificate expires"
_HINT_CERT = "use a timestamp authority whose certificate is issued for timestamping (RFC 3161 section 2.3)"
_MAX_REPLY = 1 << 20
_WHEN = "%Y-%m-%dT%H:%M:%SZ"


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
# Requests and replies (rfc3161-client)


def probe_request() -> TimeStampRequest:
    """A new TimeStampReq for :data:`PROBE_DIGEST` (SHA-256) with a random nonce, asking for the TSA's certificate."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    builder = TimestampRequestBuilder().data(PROBE_DATA).hash_algorithm(HashAlgorithm.SHA256)
    return builder.nonce(nonce=True).cert_request(cert_request=True).build()


def decode_reply(body: bytes) -> TimeStampResponse:
    """The TimeStampResp in ``body``, parsed by rfc3161-client; ValueError when it is not one.

    A reply whose only flaw is a certificate SET in OpenSSL's chain order is parsed with the SET sorted.
    """
    from rfc3161_client import decode_timestamp_response

    try:
        return decode_timestamp_response(body)
    except Exception as exc:  # the library raises ValueError; any failure to parse is "not a reply"
        sorted_body = _certificates_in_der_order(body)
        if sorted_body is None or sorted_body == body:
            raise ValueError(f"not a DER TimeStampResp: {exc}") from None
    try:
        return decode_timestamp_response(sorted_body)
    except Exception as exc:
        raise ValueError(f"not a DER TimeStampResp: {exc}") from None


def _element(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of the content, end of the content) of the DER element at ``pos``."""
    if pos + 2 > end or data[pos] & 0x1F == 0x1F:
        raise ValueError("truncated, or a multi-byte tag")
    first, content = data[pos + 1], pos + 2
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 4 or content + count > end:
            raise ValueError("bad length")
        length = int.from_bytes(data[content : content + count], "big")
        content += count
    else:
        length = first
    if content + length > end:
        raise ValueError("truncated")
    return data[pos], content, content + length


def _inside(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, start of the element, start of its content, end) of each element from ``start`` to ``end``."""
    found = []
    while start < end:
        tag, content, stop = _element(data, start, end)
        found.append((tag, start, content, stop))
        start = stop
    return found


def _certificates_in_der_order(body: bytes) -> bytes | None:
    """``body`` with the certificates of its token (TimeStampResp, ContentInfo, [0], SignedData, [0]
    certificates) sorted as DER sorts a SET; None when they cannot be found."""
    try:
        ((tag, _, c0, c1),) = _inside(body, 0, len(body))
        resp = _inside(body, c0, c1) if tag == 0x30 else []
        token = _inside(body, *resp[1][2:]) if len(resp) == 2 and resp[1][0] == 0x30 else []
        wrapper = _inside(body, *token[1][2:]) if len(token) == 2 and token[1][0] == 0xA0 else []
        signed = _inside(body, *wrapper[0][2:]) if len(wrapper) == 1 and wrapper[0][0] == 0x30 else []
        sets = [(s0, s1) for tag, _, s0, s1 in signed[3:4] if tag == 0xA0]
        if not sets:
            return None
        s0, s1 = sets[0]
        certificates = sorted(body[e0:e1] for _, e0, _, e1 in _inside(body, s0, s1))
    except ValueError:
        return None
    return body[:s0] + b"".join(certificates) + body[s1:]


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


def _shown(text: str, limit: int = 160) -> str:
    """``text`` from the network made safe for a one-line message: control characters escaped, length capped."""
    safe = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def _subject(certificate: x509.Certificate) -> str:
    try:
        return _shown(certificate.subject.rfc4514_string(), 120)
    except ValueError:
        return "(a subject that cannot be read)"


def _check_token(target: str, reply: TimeStampResponse, nonce: int | None) -> None:
    """Refuse a granted reply whose token is not for this request, or whose signer cannot be used."""
    if not reply.time_stamp_token():
        raise _fail(target, "not a timestamp reply (status granted but no timestamp token)")
    try:
        info = reply.tst_info
        algorithm, digest = info.message_imprint.hash_algorithm.dotted_string, info.message_imprint.message
        echoed, stamped = info.nonce, info.gen_time
        signers = list(reply.signed_data.signer_infos)
        certificates = reply.signed_data.certificates
    except ValueError:
        raise _fail(target, "not a timestamp reply (its timestamp token cannot be read)") from None
    if algorithm != _SHA256_OID or digest != PROBE_DIGEST:
        raise _fail(target, "the timestamp token is for another digest than the one sent")
    if echoed != nonce:
        what = "does not echo the nonce sent" if echoed is None else "echoes another nonce than the one sent"
        raise _fail(target, f"the timestamp token {what} (a replayed or foreign reply?)")
    if len(signers) != 1:
        raise _fail(target, f"the timestamp token has {len(signers)} signatures; RFC 3161 allows one, the TSA's")
    signer = _signer_certificate(target, certificates, signers[0].issuer, signers[0].serial_number)
    _check_signer(target, signer, stamped, _accuracy(info))


def _accuracy(info: TimeStampTokenInfo) -> dt.timedelta:
    """How far the TSA says its time may be off (RFC 3161 accuracy); none when it does not say."""
    try:
        accuracy = info.accuracy
        return dt.timedelta(seconds=accuracy.seconds + (1 if accuracy.millis or accuracy.micros else 0))
    except (ValueError, AttributeError, TypeError):
        return dt.timedelta(0)


def _signer_certificate(target: str, certificates: set[bytes], issuer: x509.Name, serial: int) -> x509.Certificate:
    """The certificate among ``certificates`` that the token's SignerInfo names (the engine needs it)."""
    from cryptography import x509

    try:
        loaded = [x509.load_der_x509_certificate(der) for der in certificates]
    except ValueError:
        raise _fail(target, "not a timestamp reply (a certificate in its token cannot be read)") from None
    signer = next((c for c in loaded if c.issuer == issuer and c.serial_number == serial), None)
    if signer is None:
        raise _fail(
            target,
            "the timestamp token does not carry the TSA certificate (the request asks for it; the engine needs it)",
        )
    return signer


def _check_signer(target: str, signer: x509.Certificate, stamped: dt.datetime, margin: dt.timedelta) -> None:
    """The TSA certificate is issued for timestamping (RFC 3161 section 2.3) and was valid when it stamped."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        usage = None
    except ValueError:
        raise _fail(target, f"the TSA certificate {_subject(signer)} has extensions that cannot be read") from None
    if usage is None or not usage.critical or ExtendedKeyUsageOID.TIME_STAMPING not in usage.value:
        raise _fail(
            target,
            f"the TSA certificate {_subject(signer)} is not for timestamping "
            "(no critical id-kp-timeStamping extended key usage); verifiers will not trust its timestamps",
            hint=_HINT_CERT,
        )
    if not signer.not_valid_before_utc - margin <= stamped <= signer.not_valid_after_utc + margin:
        raise _fail(
            target,
            f"the TSA certificate {_subject(signer)} was not valid when it stamped ({stamped:{_WHEN}}; valid "
            f"{signer.not_valid_before_utc:{_WHEN}} to {signer.not_valid_after_utc:{_WHEN}})",
            hint="the authority's certificate has expired or its clock is wrong; ask its operator, or use another TSA",
        )


def probe_tsa(url: str, timeout: float = 10) -> None:
    """Ask the TSA at ``url`` for one timestamp of a fixed digest; :class:`TimestampError` if it cannot serve.

    Checks what the C2PA engine will need: HTTP 200, Content-Type ``application/timestamp-reply``, a
    TimeStampResp with status granted or grantedWithMods whose token timestamps the digest sent,
    echoes the nonce and carries its signer's certificate, issued for timestamping and valid when it
    stamped. It takes the route the engine will take: through ``http_proxy``/``https_proxy`` from the
    environment unless ``NO_PROXY`` names the host (the engine honours both).
    """
    target = validate_tsa_url(url)
    query = probe_request()
    request = urllib.request.Request(
        target,
        data=query.as_bytes(),
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
            f"not a timestamp reply (Content-Type {_shown(content_type or 'missing')}, expected {REPLY_CONTENT_TYPE})",
        )
    if len(body) > _MAX_REPLY:
        raise _fail(target, "not a timestamp reply (more than 1 MiB)")
    try:
        reply = decode_reply(body)
    except ValueError:
        raise _fail(target, "not a timestamp reply (the body is not a DER TimeStampResp)") from None
    if reply.status not in (0, 1):
        name = _STATUS_NAMES.get(reply.status, f"status {reply.status}")
        try:
            detail = _shown("; ".join(reply.status_string))
        except ValueError:
            detail = ""
        raise _fail(
            target,
            f"refused the request: {name}" + (f" ({detail})" if detail else ""),
            hint="the authority must grant SHA-256 timestamp requests; check the URL or ask its operator",
        )
    _check_token(target, reply, query.nonce)
