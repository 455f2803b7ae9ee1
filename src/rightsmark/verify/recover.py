"""Finding the manifest of a file that lost it, or whose own fails, through its soft bindings.

For such a file :class:`Recoverer` computes the soft bindings of its pixels (the ISCC image code, and the
watermark's identifier where the pixels carry one), asks the repository for the manifests they point at,
fetches each store and validates it as any manifest is validated (signature, claim, the signer's trust;
the hard binding belongs to the original file and is set aside: :mod:`rightsmark.engine.detached`). A
repository is never believed: a candidate counts only if its validated store itself records a binding that
matches the file (the fingerprint within the radius, the watermark identifier exactly), and the distance
reported is the one computed here. Where the watermark and the fingerprint both find manifests, they must
name the same one.

Anything that keeps recovery from being complete (a repository that cannot be reached or answers garbage,
a listed store missing or no longer validating, an image that cannot be decoded) is a *problem*: the file
is dropped with its reason (:mod:`rightsmark.verify.recovered`), never judged as if nothing was found.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.models import Integrity
from rightsmark.softbinding.model import ISCC_ALG, WATERMARK_ALG, SoftBinding, read_bindings
from rightsmark.verify.facts import Facts, Match, Recovery

if TYPE_CHECKING:
    from rightsmark.repository.base import Repository
    from rightsmark.verify.reader import FactReader

#: candidates asked for per binding; more matching manifests than this is itself an ambiguity
LIMIT = 10
#: readings of a file after which recovery is tried
RECOVERABLE = (Integrity.ABSENT, Integrity.INVALID)


class Recoverer:
    """One process's recovery: its repository connection, opened on first use, and the engine front that
    reads recovered stores (``reader``: the process's :class:`~rightsmark.verify.reader.FactReader`).
    ``keep_stores``: each match carries its validated store and reading (the audit describes them)."""

    def __init__(
        self, spec: str, reader: FactReader, *, max_distance: int | None = None, keep_stores: bool = False
    ) -> None:
        from rightsmark.repository.base import DEFAULT_MAX_DISTANCE, shown_location

        self.spec = spec
        self.location = shown_location(spec)
        self.reader = reader
        self.max_distance = DEFAULT_MAX_DISTANCE if max_distance is None else max_distance
        self.keep_stores = keep_stores
        self._repository: Repository | None = None

    def close(self) -> None:
        if self._repository is not None:
            self._repository.close()
            self._repository = None

    def apply(self, facts: Facts, source: bytes | str | Path, key: str) -> Facts:
        """``facts`` with what recovery found, for a file without a valid manifest of its own."""
        if facts.integrity not in RECOVERABLE:
            return facts
        embedded = facts.integrity is Integrity.INVALID and isinstance(source, bytes)
        return replace(facts, recovery=self.recover_safely(source, key, embedded=embedded))

    def recover_safely(self, source: bytes | str | Path, key: str, *, embedded: bool = False) -> Recovery:
        """:meth:`recover` where anything unforeseen (a decoder, the engine, a damaged repository) is the
        problem ``recovery-failed``, never a crash; ``embedded``: hear the file's own manifest too."""
        try:
            recovery = self.recover(source, key)
            if embedded and recovery.matches and isinstance(source, bytes):
                recovery = self._with_embedded(recovery, source, key)
        except Exception as exc:
            if os.environ.get("RIGHTSMARK_DEBUG"):
                raise
            recovery = self._problem("recovery-failed", f"recovery failed: {type(exc).__name__}: {exc}")
        return recovery

    def recover(self, source: bytes | str | Path, key: str) -> Recovery:
        from rightsmark.repository.base import RepositoryError
        from rightsmark.softbinding.iscc import fingerprint
        from rightsmark.softbinding.pixels import PixelsError

        try:
            mine = fingerprint(source)
        except PixelsError as exc:
            return self._problem("recovery-failed", f"no soft binding can be computed from this file: {exc}")
        ident = _watermark(source)
        try:
            repo = self._repo()
            by_fingerprint = self._confirmed(repo, self._find(repo, mine, self.max_distance), mine)
            by_watermark = {}
            if ident is not None:
                by_watermark = self._confirmed(repo, self._find(repo, ident, 0), ident)
        except RepositoryError as exc:
            return self._problem("recovery-failed", exc.one_line())
        except _RecoveryProblemError as problem:
            return self._problem(problem.code, problem.message)
        agreed = set(by_fingerprint) & set(by_watermark)
        if by_fingerprint and by_watermark and not agreed:
            message = (
                f"the watermark points at {', '.join(sorted(by_watermark))} and the fingerprint at"
                f" {', '.join(sorted(by_fingerprint))}"
            )
            return self._problem("recovered-conflict", message)
        # every confirmed candidate is judged for what it forbids; the agreed ones first, then the nearest
        matches = [replace(by_fingerprint[i], method="fingerprint+watermark") for i in agreed]
        matches += [m for i, m in by_fingerprint.items() if i not in agreed]
        matches += [m for i, m in by_watermark.items() if i not in agreed]
        matches.sort(
            key=lambda m: (m.method != "fingerprint+watermark", m.distance is None, m.distance or 0, m.manifest_id)
        )
        return Recovery(self.location, tuple(matches))

    @staticmethod
    def _find(repo: Repository, binding: SoftBinding, max_distance: int) -> list[Any]:
        """The repository's candidates for ``binding``; more than :data:`LIMIT` of them is an ambiguity that
        could hide a manifest forbidding the use behind the others, never a list to judge in part."""
        found = repo.find(binding, max_distance=max_distance, limit=LIMIT + 1)
        if len(found) > LIMIT:
            what = "fingerprint" if binding.alg == ISCC_ALG else "watermark identifier"
            raise _RecoveryProblemError(
                "recovered-ambiguous", f"more than {LIMIT} manifests match this file's {what}: none is judged alone"
            )
        return found

    def _with_embedded(self, recovery: Recovery, data: bytes, key: str) -> Recovery:
        """``recovery`` with the file's own manifest heard too, where only its hard binding fails (its pixels
        changed, its signature holds): what it forbids still counts (:mod:`rightsmark.verify.recovered`)."""
        from rightsmark.verify.recovered import EMBEDDED

        store = self.reader.embedded_store(data, key)
        if store is None:
            return recovery
        facts, reading = self.reader.examine_detached(store, key)
        label = (reading.store or {}).get("active_manifest")
        if facts.integrity is not Integrity.VALID or not isinstance(label, str):
            return recovery  # a manifest whose own signature fails says nothing
        if any(m.manifest_id == label for m in recovery.matches):
            return recovery  # the very manifest recovered: heard already
        return replace(recovery, matches=(*recovery.matches, Match(label, EMBEDDED, None, facts)))

    def _problem(self, code: str, message: str) -> Recovery:
        return Recovery(self.location, problem=(code, message))

    def _repo(self) -> Repository:
        if self._repository is None:
            from rightsmark.repository.open import open_repository

            self._repository = open_repository(self.spec)
        return self._repository

    def _confirmed(self, repo: Repository, candidates: list[Any], binding: SoftBinding) -> dict[str, Match]:
        """The candidates whose validated store records a binding matching ``binding``, by manifest id."""
        out: dict[str, Match] = {}
        for candidate in candidates:
            manifest_id = candidate.manifest_id
            if manifest_id in out:
                continue
            store = repo.manifest(manifest_id)
            if store is None:
                raise _RecoveryProblemError(
                    "recovered-invalid", f"{self.location} lists manifest {manifest_id} but cannot give its store"
                )
            facts, reading = self.reader.examine_detached(store, manifest_id)
            if facts.integrity is not Integrity.VALID:
                why = facts.message or facts.integrity.value
                raise _RecoveryProblemError(
                    "recovered-invalid",
                    f"the store of manifest {manifest_id} in {self.location} does not validate: {why}",
                )
            label = (reading.store or {}).get("active_manifest")
            if label != manifest_id:
                message = f"{self.location} answered manifest {label} when asked for {manifest_id}"
                raise _RecoveryProblemError("recovered-invalid", message)
            distance = _matching(binding, read_bindings(reading.active or {}), self.max_distance)
            if distance is not None:
                method = "fingerprint" if binding.alg == ISCC_ALG else "watermark"
                match = Match(manifest_id, method, distance if binding.alg == ISCC_ALG else None, facts)
                out[manifest_id] = replace(match, store=store, reading=reading) if self.keep_stores else match
        return out


def check_repository(spec: str) -> None:
    """Fail now, with one line, where ``spec`` is no repository that can be asked (not a repository, a
    service that is down or answers garbage), rather than dropping every file of a run for it."""
    from rightsmark.repository.base import RepositoryError
    from rightsmark.repository.open import kind, open_repository

    repo = open_repository(spec)
    try:
        if kind(spec) == "http":
            from rightsmark.repository.remote import RemoteRepository

            if not isinstance(repo, RemoteRepository) or ISCC_ALG not in repo.algorithms():
                raise RepositoryError(
                    f"the resolution service does not look up {ISCC_ALG} fingerprints",
                    path=repo.location,
                    hint="give a service that does",
                )
        else:
            repo.count()
    finally:
        repo.close()


class _RecoveryProblemError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _matching(binding: SoftBinding, recorded: tuple[SoftBinding, ...], max_distance: int) -> int | None:
    """The distance from ``binding`` to the nearest of the same algorithm ``recorded`` within reach, or None."""
    best: int | None = None
    for other in recorded:
        if other.alg != binding.alg:
            continue
        if binding.alg == WATERMARK_ALG:
            if other.value == binding.value:
                return 0
            continue
        if binding.alg == ISCC_ALG:
            from rightsmark.softbinding.iscc import within
            from rightsmark.softbinding.model import SoftBindingError

            try:
                d = within(binding.value, other.value, max_distance)
            except SoftBindingError:
                continue
            if d is not None and (best is None or d < best):
                best = d
    return best


def _watermark(source: bytes | str | Path) -> SoftBinding | None:
    """The watermark identifier the pixels carry, as a binding, or None (none found, or none readable)."""
    from rightsmark.softbinding.watermark import detect

    ident = detect(source)
    return None if ident is None else SoftBinding(WATERMARK_ALG, ident)
