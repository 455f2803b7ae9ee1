"""Signing at export: from a profile, command-line overrides and the files given to the jobs to sign.

:class:`RightsResolver` decides what each file's manifest says: the profile's author,
license and permissions; its people from the consent mapping (per file), a single
consent file, or ``no_people``; and, for an edit (``parent``), the parent's permissions
and consent unless the signer overrode them, refusing to widen them without ``widen``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rightsmark.errors import ConsentError, RightsmarkError, UsageError
from rightsmark.media.formats import sniff_file
from rightsmark.models import Purpose, Training, Use
from rightsmark.rights.consent import ConsentDeclaration, check_consent_current, load_consent_file
from rightsmark.rights.consentmap import ConsentMap, load_consent_map
from rightsmark.rights.licenses import parse_license
from rightsmark.rights.manifest import SOURCE_TYPES, Rights
from rightsmark.rights.profile import Profile, load_profile
from rightsmark.sign.batch import Planned, SignJob, SignOutcome, rights_digest
from rightsmark.sign.edit import Overrides, check_widening, inherit, parent_rights

if TYPE_CHECKING:
    from rightsmark.keys.source import KeySource


def check_source_type(value: str) -> str:
    if value not in SOURCE_TYPES and not value.startswith("http"):
        raise UsageError(f"unknown source type '{value}'", hint="one of " + ", ".join(SOURCE_TYPES))
    return value


@dataclass
class RightsResolver:
    """Per-file rights for one signing run.

    ``settings`` is the profile with the command-line flags laid over it; ``explicit`` holds only
    what the command line said (it alone may override a parent's permissions and consent).
    """

    settings: Profile
    explicit: Profile = field(default_factory=Profile)
    parent: Path | None = None
    widen: bool = False

    def __post_init__(self) -> None:
        s = self.settings
        check_source_type(s.source_type or "digitalCapture")
        people = [x for x in (s.consent, s.consent_map) if x is not None]
        if s.consent is not None and s.no_people:
            raise UsageError("a consent file and no_people contradict each other", hint="give one of them")
        self._single: ConsentDeclaration | None = load_consent_file(s.consent) if s.consent else None
        if self._single is not None:
            check_consent_current(self._single, str(s.consent or ""))  # never sign consent that already ran out
        self._map: ConsentMap | None = load_consent_map(s.consent_map) if s.consent_map else None
        self._parent: Rights | None = parent_rights(self.parent) if self.parent is not None else None
        if not people and not s.no_people and self._parent is None:
            raise UsageError(
                "say who is pictured: --consent FILE or --consent-map FILE for identifiable people, or --no-people",
                hint="files without this are dropped by verifiers",
            )
        authors = s.authors or ()
        training = Training(
            **{p.value: s.use(p) or Use.NOT_ALLOWED for p in Purpose},
            constraint_info=s.constraint_info,
        )
        self._base = Rights(
            consent=ConsentDeclaration.no_people(),
            authors=tuple(authors),
            author_url=s.author_url,
            copyright=s.copyright_notice(tuple(authors)),
            license=parse_license(s.license) if s.license else None,
            training=training,
            source_type=s.source_type or "digitalCapture",
        )

    def consent_for(self, relative: str) -> ConsentDeclaration | None:
        """The people pictured in one file; ``None`` when nothing was said (a parent's then carries over)."""
        if self._map is not None:
            found = self._map.lookup(relative)
            if found is not None:
                return found
        if self._single is not None:
            return self._single
        if self.settings.no_people:
            return ConsentDeclaration.no_people()
        if self._parent is not None:
            return None
        assert self._map is not None
        raise ConsentError(
            f"{relative}: no entry in the consent mapping names this file",
            path=self._map.source,
            hint="add it (or a pattern matching it), or set no_people for files without people",
        )

    def rights_for(self, relative: str) -> tuple[Rights, tuple[str, ...]]:
        """The rights to sign one file with, and what they widen beyond the parent (edits only)."""
        consent = self.consent_for(relative)
        if consent is not None:
            check_consent_current(consent, relative)
        if self._parent is None:
            assert consent is not None
            return replace(self._base, consent=consent), ()
        e = self.explicit
        explicit_consent = consent if (self._map is not None or e.consent or e.no_people or e.consent_map) else None
        overrides = Overrides(
            uses={p: u for p in Purpose if (u := e.use(p)) is not None},
            constraint_info=e.constraint_info,
            consent=explicit_consent,
        )
        chosen = self._base
        if self.settings.authors is None:  # neither profile nor flags named an author: keep the parent's line
            chosen = replace(chosen, copyright=None)
        edit = inherit(self._parent, chosen, overrides)
        assert self.parent is not None
        widened = check_widening(self._parent, edit, allow=self.widen, parent_path=self.parent)
        return edit, widened


def build_jobs(
    planned: Iterator[Planned] | list[Planned],
    resolver: RightsResolver,
    *,
    settings: Mapping[str, object],
    in_place: bool = False,
    backup_suffix: str | None = None,
    force: bool = False,
) -> Iterator[SignJob | SignOutcome]:
    """A :class:`SignJob` per signable file, or an outcome for a file that cannot be: a non-image found in
    a folder is ``skipped``; a file named twice, a clash of outputs or a missing consent entry ``failed``."""
    seen: set[Path] = set()
    for item in planned:
        src, dest = item.source, item.dest
        notes: tuple[str, ...] = ()
        try:
            if item.refused is not None:
                yield SignOutcome(str(src), str(dest), "skipped", item.refused)
                continue
            if in_place and src.is_symlink():
                # the link's target is signed in place (atomically) and the link kept pointing at it
                target = Path(os.path.realpath(src))
                notes = (f"{src} is a symlink: its target {target} was signed in place; the link is kept",)
                src = dest = target
            if not item.explicit and sniff_file(src) is None:
                yield SignOutcome(str(src), str(dest), "skipped", "not an image")
                continue
            if dest in seen:
                raise UsageError(
                    "two inputs would be written to the same output",
                    path=dest,
                    hint="sign them into different directories, or change the output naming",
                )
            seen.add(dest)
            rights, widened = resolver.rights_for(item.relative)
        except RightsmarkError as exc:
            yield SignOutcome(str(src), str(dest), "failed", exc.one_line(), exit_code=exc.exit_code)
            continue
        except OSError as exc:
            yield SignOutcome(str(src), str(dest), "failed", f"{src}: {exc.strerror or exc}", exit_code=1)
            continue
        parent = resolver.parent
        extra = {**settings, "parent": _parent_key(parent), "widened": widened}
        yield SignJob(
            source=src,
            dest=dest,
            rights=rights,
            parent=parent,
            widened=widened,
            in_place=in_place,
            backup=src.with_name(src.name + backup_suffix) if in_place and backup_suffix else None,
            force=force,
            rights_digest=rights_digest(rights, settings=extra),
            notes=notes,
        )


def _parent_key(parent: Path | None) -> str | None:
    if parent is None:
        return None
    st = parent.stat()
    return f"{parent.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def check_destination(output: Path | None, in_place: bool, backup: bool) -> None:
    """Where signed files go: -o DIR or --in-place, exactly one; --backup only with --in-place; -o a directory."""
    if (output is None) == (not in_place):
        raise UsageError(
            "say where signed files go: -o DIR for signed copies, or --in-place to replace the originals"
            if output is None
            else "-o and --in-place contradict each other",
            hint="originals are never modified unless --in-place is given",
        )
    if backup and not in_place:
        raise UsageError("--backup only applies to --in-place", hint="-o never touches the originals")
    if output is not None and output.exists() and not output.is_dir():
        raise UsageError("exists and is not a directory", path=output, hint="-o names a directory")


def run_settings(profile_file: Path | None, explicit: Profile) -> Profile:
    """The profile (if any) with the command line laid over it; a signing key is required."""
    settings = with_people(load_profile(profile_file) if profile_file is not None else Profile(), explicit)
    if not settings.key:
        raise UsageError(
            "no signing key: pass --key (and --cert), or use a --profile that names one",
            hint="'rightsmark init' writes a profile; 'rightsmark keys init DIR' makes development keys",
        )
    return settings


def with_people(base: Profile, top: Profile) -> Profile:
    """``base`` overlaid with ``top``; people given on the command line replace the profile's whole [people]."""
    merged = base.overlay(top)
    if top.consent is not None or top.consent_map is not None or top.no_people is not None:
        merged = replace(merged, consent=top.consent, consent_map=top.consent_map, no_people=top.no_people)
    return merged


@dataclass
class ExportRun:
    """One signing run: settings resolved, key opened and checked, TSA probed, journal open. Call
    :meth:`sign` once (``rightsmark sign``) or for each batch of new files (``rightsmark watch``)."""

    settings: Profile
    source: KeySource
    explicit: Profile = field(default_factory=Profile)
    parent: Path | None = None
    widen: bool = False
    in_place: bool = False
    backup: bool = False
    force: bool = False
    resign: bool = False
    jobs: int = 0
    journal_path: Path | None = None

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives import hashes

        from rightsmark.sign.batch import SignJournal, default_journal_path
        from rightsmark.sign.workers import BatchSigner

        s = self.settings
        self.tsa_url: str | None = None
        if s.tsa:
            from rightsmark.keys.timestamps import probe_tsa, validate_tsa_url

            self.tsa_url = validate_tsa_url(s.tsa)
            probe_tsa(self.tsa_url)  # a timestamp server that is down fails here, before any file is touched
        self.resolver = RightsResolver(s, explicit=self.explicit, parent=self.parent, widen=self.widen)
        material = self.source.load()  # the certificate checks run here, before any file is touched
        self._settings_key = {
            "signer": material.leaf.fingerprint(hashes.SHA256()).hex(),
            "tsa": self.tsa_url,
            "xmp": s.xmp is not False,
            "thumbnail": bool(s.thumbnail),
            "soft_binding": s.soft_binding or "iscc",
            "watermark": bool(s.watermark),
        }
        self.journal = SignJournal(self.journal_path or default_journal_path())
        self.signer = BatchSigner(
            self.source,
            tsa=self.tsa_url,
            thumbnail=bool(s.thumbnail),
            xmp=s.xmp is not False,
            soft_binding=(s.soft_binding or "iscc") != "none",
            watermark=bool(s.watermark),
            jobs=self.jobs,
            journal=self.journal,
        )

    def jobs_for(self, inputs: list[Path], output: Path | None) -> tuple[list[SignJob], list[SignOutcome]]:
        """The jobs for ``inputs``, and the outcomes of files that cannot become jobs (non-images, clashes)."""
        from rightsmark.sign.batch import plan

        return self.jobs_from(plan(inputs, output=output, in_place=self.in_place, name_for=self.settings.output_name))

    def planned_in(self, root: Path, files: list[Path], output: Path | None) -> list[Planned]:
        """Files found below ``root`` (by ``rightsmark watch``), mirrored below ``output``."""
        from rightsmark.sign.batch import destination

        out = []
        for source in files:
            relative = source.relative_to(root)
            dest = destination(source, relative, None if self.in_place else output, self.settings.output_name)
            out.append(Planned(source, dest, relative.as_posix(), False))
        return out

    def jobs_from(self, planned: Iterator[Planned] | list[Planned]) -> tuple[list[SignJob], list[SignOutcome]]:
        from rightsmark.sign.batch import BACKUP_SUFFIX

        items = list(
            build_jobs(
                planned,
                self.resolver,
                settings=self._settings_key,
                in_place=self.in_place,
                backup_suffix=BACKUP_SUFFIX if self.backup else None,
                force=self.force or self.resign,
            )
        )
        return [i for i in items if isinstance(i, SignJob)], [i for i in items if not isinstance(i, SignJob)]

    def sign(self, jobs: list[SignJob]) -> Iterator[SignOutcome]:
        return self.signer.run(jobs, resign=self.resign)

    def close(self) -> None:
        self.journal.close()

    def __enter__(self) -> ExportRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
