"""Signing profiles: what a photographer sets once and every export is signed with.

A profile is plain data (TOML or JSON, ``schemas/profile.schema.json``). Every field is
optional; command-line flags are a second :class:`Profile` laid over the file's with
:meth:`Profile.overlay`. Paths in a profile file are relative to that file.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from rightsmark import schemas
from rightsmark.errors import ProfileError
from rightsmark.models import Purpose, Use

PROFILE = schemas.PROFILE
DEFAULT_NAMING = "{name}"
_NAMING_FIELDS = {"stem", "suffix", "name"}
_COPYRIGHT_FIELDS = {"year", "authors"}


@dataclass(frozen=True)
class Profile:
    """Signing settings; ``None`` means "not set here" (a later layer or the default decides)."""

    name: str | None = None
    authors: tuple[str, ...] | None = None
    author_url: str | None = None
    copyright: str | None = None
    license: str | None = None
    ai_training: Use | None = None
    ai_generative_training: Use | None = None
    ai_inference: Use | None = None
    data_mining: Use | None = None
    constraint_info: str | None = None
    source_type: str | None = None
    no_people: bool | None = None
    consent: Path | None = None
    consent_map: Path | None = None
    key: str | None = None
    cert: Path | None = None
    pkcs11_module: str | None = None
    tsa: str | None = None
    thumbnail: bool | None = None
    naming: str | None = None
    xmp: bool | None = None
    #: the fingerprint recorded as a soft binding: "iscc" (default) or "none"
    soft_binding: str | None = None
    #: an invisible watermark carrying the manifest's identifier, applied before signing
    watermark: bool | None = None
    source: str | None = None  # the file it came from, for messages

    def overlay(self, top: Profile) -> Profile:
        """This profile with every field ``top`` sets replacing ours."""
        changes = {f.name: getattr(top, f.name) for f in fields(top) if getattr(top, f.name) is not None}
        return replace(self, **changes)

    def use(self, purpose: Purpose) -> Use | None:
        value: Use | None = getattr(self, purpose.value)
        return value

    def copyright_notice(self, authors: tuple[str, ...], year: int | None = None) -> str | None:
        """The copyright line for a file signed in ``year`` (default: this year)."""
        year = year or dt.date.today().year
        if self.copyright is None:
            return f"© {year} {', '.join(authors)}" if authors else None
        return self.copyright.format(year=year, authors=", ".join(authors))

    def output_name(self, source: Path) -> str:
        """The output file name for ``source`` under :attr:`naming`."""
        return (self.naming or DEFAULT_NAMING).format(stem=source.stem, suffix=source.suffix, name=source.name)


def _template_fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def check_templates(profile: Profile, where: str | Path | None = None) -> None:
    """Refuse a naming or copyright template with unknown ``{fields}`` before any file is signed."""
    for value, allowed, what in (
        (profile.naming, _NAMING_FIELDS, "output naming"),
        (profile.copyright, _COPYRIGHT_FIELDS, "copyright"),
    ):
        if value is None:
            continue
        try:
            unknown = _template_fields(value) - allowed
        except ValueError as exc:
            raise ProfileError(f"{what} template '{value}' is malformed: {exc}", path=where) from None
        if unknown:
            raise ProfileError(
                f"{what} template '{value}' uses unknown field {{{sorted(unknown)[0]}}}",
                path=where,
                hint="allowed: " + ", ".join("{" + f + "}" for f in sorted(allowed)),
            )
    if profile.naming is not None:
        name = profile.output_name(Path("IMG_0001.jpg"))
        if "/" in name or "\\" in name or name in {"", ".", ".."}:
            raise ProfileError(
                f"output naming '{profile.naming}' must give a plain file name",
                path=where,
                hint="e.g. {stem}-signed{suffix}",
            )


def _get(data: dict[str, Any], section: str) -> dict[str, Any]:
    value = data.get(section) or {}
    return value if isinstance(value, dict) else {}


def profile_from_dict(data: dict[str, Any], *, base_dir: Path | None = None, source: str | None = None) -> Profile:
    """A profile from its parsed file content; schema violations are a :class:`ProfileError`."""
    problems = schemas.errors(PROFILE, data)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ProfileError(problems[0] + more, path=source, hint="see schemas/profile.schema.json")

    def path(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() or base_dir is None else base_dir / p

    def key(value: str | None) -> str | None:
        if value is None or value.startswith("pkcs11:"):
            return value
        return str(path(value))

    author, rights, people = _get(data, "author"), _get(data, "rights"), _get(data, "people")
    signing, output = _get(data, "signing"), _get(data, "output")
    uses = {p.value: Use(rights[p.value]) if p.value in rights else None for p in Purpose}
    profile = Profile(
        name=data.get("name"),
        authors=tuple(author["names"]) if "names" in author else None,
        author_url=author.get("url"),
        copyright=author.get("copyright"),
        license=rights.get("license"),
        constraint_info=rights.get("constraint_info"),
        source_type=rights.get("source_type"),
        no_people=people.get("no_people"),
        consent=path(people.get("consent")),
        consent_map=path(people.get("consent_map")),
        key=key(signing.get("key")),
        cert=path(signing.get("cert")),
        pkcs11_module=signing.get("pkcs11_module"),
        tsa=signing.get("tsa"),
        thumbnail=signing.get("thumbnail"),
        naming=output.get("naming"),
        xmp=output.get("xmp"),
        soft_binding=output.get("soft_binding"),
        watermark=output.get("watermark"),
        source=source,
        **uses,
    )
    check_templates(profile, source)
    check_author_url(profile, source)
    return profile


def check_author_url(profile: Profile, where: str | Path | None = None) -> None:
    """Refuse an author URL that is not http(s) (a ``javascript:`` or ``file:`` link) before any file is signed."""
    from rightsmark.rights.manifest import author_url_problem

    problem = author_url_problem(profile.author_url) if profile.author_url is not None else None
    if problem:
        raise ProfileError(problem, path=where, hint="give the author's web page, e.g. https://example.com/jane")


def load_profile(path: str | Path) -> Profile:
    """Read a profile file (TOML, or JSON by extension)."""
    from rightsmark.files import load_document

    p = Path(path)
    data = load_document(
        p, ProfileError, what="profile", missing_hint="check --profile, or create one with 'rightsmark init'"
    )
    if not isinstance(data, dict):
        raise ProfileError("must be a table of settings", path=p, hint="see schemas/profile.schema.json")
    return profile_from_dict(data, base_dir=p.resolve().parent, source=str(p))


# ---------------------------------------------------------------------------------------------
# Writing (rightsmark init)


_HEADER = "# rightsmark signing profile (schemas/profile.schema.json); command-line flags override it\n"


def _plain(key: str, value: object) -> object:
    """``value`` as tomli-w writes it: strings (refused when not encodable as UTF-8), booleans, lists of strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(key, v) for v in value]
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProfileError(
            f"cannot be written as TOML: {key} is not valid Unicode: {ascii(text)[:80]}",
            hint="give the value as text your terminal can type, or edit the profile file by hand",
        ) from None
    return text


def profile_toml(profile: Profile, *, relative_to: Path | None = None) -> str:
    """The TOML text of ``profile`` (paths relative to ``relative_to`` where they lie below it).

    Written by tomli-w, so that every value (control characters, quotes, non-BMP characters) reads back
    through ``tomllib`` as it was; the header comment is plain text before it. A value that is not valid
    Unicode (a lone surrogate from undecodable command-line bytes) is a :class:`ProfileError`.
    """

    def rel(p: Path | str | None) -> str | None:
        if p is None:
            return None
        if relative_to is not None and not str(p).startswith("pkcs11:"):
            try:
                return Path(p).resolve().relative_to(relative_to.resolve()).as_posix()
            except ValueError:
                return str(p)
        return str(p)

    sections: list[tuple[str, dict[str, object]]] = [
        ("author", {"names": profile.authors, "url": profile.author_url, "copyright": profile.copyright}),
        (
            "rights",
            {
                "license": profile.license,
                **{p.value: (u.value if (u := profile.use(p)) else None) for p in Purpose},
                "constraint_info": profile.constraint_info,
                "source_type": profile.source_type,
            },
        ),
        (
            "people",
            {"no_people": profile.no_people, "consent": rel(profile.consent), "consent_map": rel(profile.consent_map)},
        ),
        (
            "signing",
            {
                "key": rel(profile.key),
                "cert": rel(profile.cert),
                "pkcs11_module": profile.pkcs11_module,
                "tsa": profile.tsa,
                "thumbnail": profile.thumbnail,
            },
        ),
        (
            "output",
            {
                "naming": profile.naming,
                "xmp": profile.xmp,
                "soft_binding": profile.soft_binding,
                "watermark": profile.watermark,
            },
        ),
    ]
    import tomli_w  # only rightsmark init writes profiles

    document: dict[str, object] = {"name": _plain("name", profile.name)} if profile.name else {}
    for title, values in sections:
        present = {k: _plain(f"{title}.{k}", v) for k, v in values.items() if v is not None}
        if present:
            document[title] = present
    text = tomli_w.dumps(document)
    return _HEADER + ("\n" if text.startswith("[") else "") + text


def profile_text(path: Path, profile: Profile) -> str:
    """The TOML text :func:`write_profile` writes at ``path`` (paths relative to its folder), checked in
    memory to load back: bad templates, values the schema refuses (an empty author name) and text TOML
    cannot hold are each a :class:`ProfileError` before anything is written."""
    import tomllib

    check_templates(profile, path)
    base = path.resolve().parent
    text = profile_toml(profile, relative_to=base)
    try:
        profile_from_dict(tomllib.loads(text), base_dir=base, source=str(path))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"cannot be written as TOML: {exc}", path=path) from None
    return text


def write_profile(path: Path, profile: Profile) -> None:
    """Write ``profile`` to ``path`` (its folder created) atomically, once :func:`profile_text` has checked it;
    a failed write is a :class:`ProfileError` naming the file, and an existing profile is then left as it was."""
    from rightsmark.files import write_atomic

    text = profile_text(path, profile)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot write the profile: {exc.strerror}", path=path) from None
