"""Consent of the people pictured: the input file, the assertion, and judging it.

The input file (``schemas/consent.schema.json``) is validated before anything is
signed. The assertion written into the manifest (label :data:`CONSENT_LABEL`,
``schemas/consent-assertion.schema.json``) carries only pseudonymous references.
At verification the assertion is judged for one purpose at one time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsmark import schemas
from rightsmark.errors import ConsentError
from rightsmark.models import ConsentResult, ConsentStatus, Purpose, SubjectConsent, Use

CONSENT_LABEL = "io.rightsmark.rights.consent"
CONSENT_VERSION = 1

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ConsentDeclaration:
    """What the signer declares about the people pictured; :meth:`assertion` is what gets signed."""

    identifiable_people: bool
    subjects: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def no_people(cls) -> ConsentDeclaration:
        return cls(identifiable_people=False)

    def assertion(self) -> dict[str, Any]:
        return {
            "version": CONSENT_VERSION,
            "identifiable_people": self.identifiable_people,
            "subjects": [dict(s) for s in self.subjects],
        }

    @property
    def release_ids(self) -> list[str]:
        return [str(s["release_id"]) for s in self.subjects]


def parse_time(value: str, *, end_of_day: bool = False) -> dt.datetime:
    """A date or RFC 3339 date-time as an aware UTC datetime.

    A bare date used as an expiry means "through the end of that day (UTC)".
    """
    if len(value) == 10:
        day = dt.date.fromisoformat(value)
        t = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0, 0)
        return dt.datetime.combine(day, t, tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _normalise_subject(raw: Mapping[str, Any], index: int, path: Path, base_dir: Path) -> dict[str, Any]:
    where = f"subjects/{index}"
    dates: dict[str, dt.datetime] = {}
    for key in ("granted", "expires"):
        if key in raw:
            try:
                dates[key] = parse_time(raw[key], end_of_day=key == "expires")
            except ValueError as exc:
                raise ConsentError(
                    f"{where}/{key}: '{raw[key]}' is not a real date ({exc})",
                    path=path,
                    hint="write dates as YYYY-MM-DD",
                ) from None
    granted, expires = dates["granted"], dates.get("expires")
    if expires is not None and expires < granted:
        raise ConsentError(f"{where}: expires before it was granted", path=path, hint="check 'granted' and 'expires'")
    out: dict[str, Any] = {
        "ref": raw["ref"],
        "release_id": raw["release_id"],
        "purposes": dict(raw["purposes"]),
        "commercial": bool(raw.get("commercial", False)),
        "granted": raw["granted"],
    }
    sha = raw.get("release_sha256")
    if sha and _HEX64.match(sha):
        out["release_sha256"] = sha.lower()
    if "release_document" in raw:
        digest = release_document_sha256(base_dir / raw["release_document"], where, path)
        if "release_sha256" in out and out["release_sha256"] != digest:
            raise ConsentError(
                f"{where}: release_sha256 does not match the release document {raw['release_document']}",
                path=path,
                hint="the document changed since its digest was written; check which one is the signed release",
            )
        out["release_sha256"] = digest
    for key in ("expires", "jurisdiction", "withdrawal_url", "constraint_info"):
        if key in raw:
            out[key] = raw[key]
    return out


def load_consent_file(path: str | Path) -> ConsentDeclaration:
    """Read and validate a consent input file; every problem is a :class:`ConsentError`."""
    from rightsmark.files import parse_document, read_text

    p = Path(path)
    text = read_text(
        p, ConsentError, what="consent file", missing_hint="check --consent", directory_hint="name the JSON file itself"
    )
    data = parse_document(text, p, ConsentError, syntax="json", hint="see schemas/consent.schema.json for the format")
    problems = schemas.errors(schemas.CONSENT_INPUT, data)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConsentError(
            f"does not match the consent schema: {problems[0]}{more}",
            path=p,
            hint="see schemas/consent.schema.json",
        )
    return declaration_from_dict(data, p, p.resolve().parent)


def release_document_sha256(document: Path, where: str, path: Path) -> str:
    """The sha256 of a signed release document (hashed in chunks; the document is never embedded)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with document.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise ConsentError(
            f"{where}: no such release document {document}", path=path, hint="paths are relative to this file"
        ) from None
    except OSError as exc:
        raise ConsentError(f"{where}: cannot read release document {document}: {exc.strerror}", path=path) from None
    return digest.hexdigest()


def declaration_from_dict(data: Mapping[str, Any], path: Path, base_dir: Path) -> ConsentDeclaration:
    """The declaration for consent data already checked against the schema (release documents hashed)."""
    subjects = tuple(_normalise_subject(s, i, path, base_dir) for i, s in enumerate(data["subjects"]))
    p = path
    refs = [s["ref"] for s in subjects]
    if len(set(refs)) != len(refs):
        raise ConsentError("two subjects share the same 'ref'", path=p, hint="give each person their own reference")
    return ConsentDeclaration(identifiable_people=True, subjects=subjects)


# ---------------------------------------------------------------------------------------------
# Judging the assertion found in a file

_USES = frozenset({"allowed", "notAllowed", "constrained"})
_PURPOSE_KEYS = frozenset(p.value for p in Purpose)
_SUBJECT_REQUIRED = ("ref", "release_id", "purposes", "commercial", "granted")
_SUBJECT_KEYS = frozenset(
    {*_SUBJECT_REQUIRED, "release_sha256", "constraint_info", "expires", "jurisdiction", "withdrawal_url"}
)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_URL = re.compile(r"^https?://")


def _text(value: object, low: int = 0, high: int | None = None, pattern: re.Pattern[str] | None = None) -> bool:
    return (
        isinstance(value, str)
        and len(value) >= low
        and (high is None or len(value) <= high)
        and (pattern is None or pattern.search(value) is not None)
    )


def _subject_problem(s: object) -> str | None:
    if not isinstance(s, dict):
        return "a subject is not an object"
    missing = [k for k in _SUBJECT_REQUIRED if k not in s]
    if missing:
        return f"a subject lacks {', '.join(missing)}"
    extra = set(s) - _SUBJECT_KEYS
    if extra:
        return f"a subject has unknown fields {', '.join(sorted(map(str, extra)))}"
    purposes = s["purposes"]
    checks = (
        (_text(s["ref"], 1, 200), "ref"),
        (_text(s["release_id"], 1, 200), "release_id"),
        (isinstance(s["commercial"], bool), "commercial"),
        (_text(s["granted"], pattern=_DATE), "granted"),
        ("expires" not in s or _text(s["expires"], pattern=_DATE), "expires"),
        ("release_sha256" not in s or _text(s["release_sha256"], pattern=_SHA256), "release_sha256"),
        ("constraint_info" not in s or _text(s["constraint_info"], 0, 2000), "constraint_info"),
        ("jurisdiction" not in s or _text(s["jurisdiction"], pattern=_JURISDICTION), "jurisdiction"),
        ("withdrawal_url" not in s or _text(s["withdrawal_url"], pattern=_URL), "withdrawal_url"),
        (
            isinstance(purposes, dict)
            and len(purposes) >= 1
            and set(purposes) <= _PURPOSE_KEYS
            and all(isinstance(v, str) and v in _USES for v in purposes.values()),
            "purposes",
        ),
    )
    for ok, name in checks:
        if not ok:
            return f"a subject has an invalid '{name}'"
    return None


def assertion_problem(assertion: object) -> str | None:
    """Why a consent assertion does not match ``schemas/consent-assertion.schema.json``, or None.

    Hand-written so that verification need not import a JSON Schema library (start-up time counts
    when verifying a folder); the tests check it agrees with the schema itself on generated cases.
    """
    if not isinstance(assertion, dict):
        return "not an object"
    if set(assertion) != {"version", "identifiable_people", "subjects"}:
        return "fields must be exactly version, identifiable_people, subjects"
    version = assertion["version"]
    if not (isinstance(version, (int, float)) and not isinstance(version, bool) and version == CONSENT_VERSION):
        return f"unsupported version {version!r}"
    people, subjects = assertion["identifiable_people"], assertion["subjects"]
    if not isinstance(people, bool):
        return "identifiable_people must be true or false"
    if not isinstance(subjects, list):
        return "subjects must be a list"
    if people and not subjects:
        return "identifiable people declared but no subject recorded"
    if not people and subjects:
        return "subjects recorded but no identifiable people declared"
    for subject in subjects:
        problem = _subject_problem(subject)
        if problem:
            return problem
    return None


_STATUS_ORDER = (
    ConsentStatus.INVALID,
    ConsentStatus.WITHDRAWN,
    ConsentStatus.EXPIRED,
    ConsentStatus.NOT_YET_VALID,
    ConsentStatus.NOT_COVERED,
)


def _judge_subject(
    subject: Mapping[str, Any], purpose: Purpose, now: dt.datetime, commercial: bool, withdrawn: frozenset[str]
) -> SubjectConsent:
    ref = str(subject.get("ref"))
    release = subject.get("release_id")
    expires_text = subject.get("expires")
    try:
        granted = parse_time(subject["granted"])
        expires = parse_time(expires_text, end_of_day=True) if expires_text else None
    except (KeyError, ValueError, TypeError):
        return SubjectConsent(ref, release, ConsentStatus.INVALID, expires_text)
    if release in withdrawn:
        status = ConsentStatus.WITHDRAWN
    elif granted > now:
        status = ConsentStatus.NOT_YET_VALID
    elif expires is not None and expires < now:
        status = ConsentStatus.EXPIRED
    elif subject.get("purposes", {}).get(purpose.value) != Use.ALLOWED.value:
        # constrained counts as not allowed (CAWG): the constraint cannot be checked by a machine.
        status = ConsentStatus.NOT_COVERED
    elif commercial and subject.get("commercial") is not True:
        status = ConsentStatus.NOT_COVERED
    else:
        status = ConsentStatus.GRANTED
    return SubjectConsent(ref, release, status, expires_text)


def judge_consent(
    assertion: object | None,
    purpose: Purpose = Purpose.AI_TRAINING,
    now: dt.datetime | None = None,
    *,
    commercial: bool = False,
    withdrawn: frozenset[str] = frozenset(),
) -> ConsentResult:
    """Judge a consent assertion (or its absence) for ``purpose`` (commercial or not) at ``now``. Fails closed."""
    if assertion is None:
        return ConsentResult(
            ConsentStatus.MISSING, message="the file does not say whether identifiable people are pictured"
        )
    problem = assertion_problem(assertion)
    if problem is not None or not isinstance(assertion, dict):
        return ConsentResult(
            ConsentStatus.INVALID,
            message=f"consent assertion is malformed: {problem or 'not an object'}",
        )
    if not assertion["identifiable_people"]:
        return ConsentResult(ConsentStatus.NOT_NEEDED, message="the signer declares no identifiable people")
    when = now or dt.datetime.now(dt.UTC)
    subjects = tuple(_judge_subject(s, purpose, when, commercial, withdrawn) for s in assertion["subjects"])
    for status in _STATUS_ORDER:
        failing = [s for s in subjects if s.status is status]
        if failing:
            refs = ", ".join(s.ref for s in failing)
            use = f"commercial {purpose.value}" if commercial else purpose.value
            return ConsentResult(status, subjects, message=f"{status.value} for {use}: {refs}")
    return ConsentResult(ConsentStatus.GRANTED, subjects)


# ---------------------------------------------------------------------------------------------
# At signing time


def check_consent_current(
    declaration: ConsentDeclaration | None, file: str | Path, *, now: dt.datetime | None = None
) -> None:
    """Refuse to sign ``file`` with a consent that expired before the signing date (``now``).

    A signature made with expired consent claims a permission the person no longer gives: every
    verifier judges it ``expired`` at once. There is no override; renew the release first. A consent
    that expires later is signed as it is (verifiers judge it again when they read the file).
    Raises :class:`ConsentError` naming the file, the person's ref and the expiry date.
    """
    if declaration is None or not declaration.identifiable_people:
        return
    when = now or dt.datetime.now(dt.UTC)
    for subject in declaration.subjects:
        expires = subject.get("expires")
        if not isinstance(expires, str) or not expires:
            continue
        try:
            end = parse_time(expires, end_of_day=True)
        except ValueError:
            continue  # checked when the consent was loaded
        if end < when:
            raise ConsentError(
                f"the consent of {subject.get('ref')} (release {subject.get('release_id')}) expired on {expires}; "
                "expired consent is never signed",
                path=file,
                hint="renew the release and update its 'expires' in the consent file or mapping, or leave the file out",
            )


def subject_entries(consent: Any) -> list[dict[str, Any]] | None:
    """The subjects of a consent assertion as read from a manifest, for display and audit; None when the
    assertion is not shaped as one (its ``subjects`` not a list of objects): shown as malformed, never trusted.
    """
    if not isinstance(consent, dict):
        return None
    subjects = consent.get("subjects", [])
    if not isinstance(subjects, list) or not all(isinstance(x, dict) for x in subjects):
        return None
    return subjects
