"""What may enter a repository: a manifest store that validates on its own, found by the soft bindings it records.

A signed file is read with the engine; its manifest must be VALID, hard binding included (trust is not
asked for: whoever recovers a manifest judges its signer again). The raw store the engine validated is
then read again *detached* (:func:`rightsmark.engine.detached.read_detached`), as it will be read when
recovered, and must be VALID there too, with the same active manifest: what is kept is exactly what will
validate later. An ISCC fingerprint the manifest records must match the file's own pixels. Each refusal
is an :class:`IngestError` naming the file.

:func:`register` is ``rightsmark repo add`` (and ``sign --register``): every file checked, the valid ones
added in batches of one transaction each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.repository.base import (
    MAX_STORE_BYTES,
    Added,
    BatchRepository,
    ConflictError,
    Entry,
    Repository,
    RepositoryError,
)
from rightsmark.softbinding.model import ISCC_ALG, KINDS, SoftBinding

if TYPE_CHECKING:
    from rightsmark.engine.reading import EngineReading

#: entries (or bytes of stores) added in one transaction by :func:`register`
BATCH_ENTRIES = 256
BATCH_BYTES = 64 * 1024 * 1024


#: how far (over 256 bits) a manifest's recorded ISCC code may be from the pixels of the very file it signs:
#: computed from the same pixels, it is 0 unless another decoder rounds differently
RECORDED_MAX_DISTANCE = 8


class IngestError(RepositoryError):
    """A file or manifest store that cannot be kept: no manifest, one that does not validate, no soft binding."""

    exit_code = 1


@dataclass(frozen=True)
class Registered:
    """What became of one file given to :func:`register`: ``outcome`` is ``added``, ``present`` or
    ``refused`` (then ``message`` says why, in one line naming the file)."""

    path: str
    outcome: str
    manifest_id: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"


def entry_from_file(path: str | Path, context: Any = None) -> Entry:
    """The repository entry of the signed file ``path``; :class:`IngestError` where it cannot be one."""
    from rightsmark.engine import adapter as engine
    from rightsmark.engine.reading import read_manifest_store
    from rightsmark.models import Integrity
    from rightsmark.sources.guard import ItemRefusedError, read_regular

    name = str(path)
    try:
        data = read_regular(name)
    except FileNotFoundError:
        raise IngestError("no such file", path=name, hint="check the path") from None
    except IsADirectoryError:
        raise IngestError("is a directory where a signed file was expected", path=name) from None
    except ItemRefusedError as exc:
        raise IngestError(str(exc), path=name, hint="name the signed file itself") from None
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror or exc}", path=name) from None
    stores: list[bytes] = []
    ctx = context if context is not None else engine.reading_context(None, verify_trust=False)
    reading = read_manifest_store(data, name, ctx, False, store_sink=stores.append)
    if reading.integrity is Integrity.ABSENT:
        raise IngestError("carries no C2PA manifest", path=name, hint="sign it first, then add the signed file")
    if reading.integrity is not Integrity.VALID or reading.ingredient_codes:
        problems = ", ".join([*reading.integrity_failures, *reading.ingredient_codes]) or reading.message
        raise IngestError(f"its manifest does not validate ({problems}); not kept", path=name)
    label = reading.store.get("active_manifest") if reading.store else None
    if len(stores) != 1 or not isinstance(label, str):
        raise IngestError("the C2PA engine did not give its manifest store; not kept", path=name)
    entry = entry_from_store(stores[0], name, ctx)
    if entry.manifest_id != label:
        raise IngestError(
            f"its manifest store read alone names another active manifest ({entry.manifest_id}, not {label})",
            path=name,
        )
    _check_fingerprints(data, entry.bindings, name)
    return entry


def store_problem(reading: EngineReading) -> str | None:
    """Why a bare store's detached ``reading`` may not be kept or served (None: it may): the one rule the
    repository's intake and the resolution service apply. It must validate on its own, ingredients included,
    and name its active manifest."""
    from rightsmark.models import Integrity

    if reading.integrity is not Integrity.VALID or reading.ingredient_codes:
        problems = ", ".join([*reading.integrity_failures, *reading.ingredient_codes]) or reading.message
        return f"its manifest store does not validate on its own ({problems})"
    label = reading.store.get("active_manifest") if reading.store else None
    if not isinstance(label, str) or not label or reading.active is None:
        return "its manifest store names no active manifest"
    return None


def entry_from_store(store: bytes, source: str, context: Any = None) -> Entry:
    """The repository entry of a bare manifest ``store`` (an upload, say), validated detached; ``source``
    names it in errors."""
    from rightsmark.engine import adapter as engine
    from rightsmark.engine.detached import read_detached
    from rightsmark.softbinding.model import read_bindings

    if len(store) > MAX_STORE_BYTES:
        raise IngestError(f"its manifest store is larger than {MAX_STORE_BYTES} bytes; not kept", path=source)
    ctx = context if context is not None else engine.reading_context(None, verify_trust=False)
    reading = read_detached(store, ctx)
    problem = store_problem(reading)
    if problem is not None:
        raise IngestError(f"{problem}; not kept", path=source)
    label = str((reading.store or {}).get("active_manifest"))
    bindings = read_bindings(reading.active or {})
    if not any(b.alg in KINDS for b in bindings):
        raise IngestError(
            "its manifest records no soft binding rightsmark can look up (fingerprint or watermark); not kept",
            path=source,
            hint="sign it again with a soft binding",
        )
    return Entry(label, store, bindings)


def _check_fingerprints(data: bytes, bindings: Iterable[SoftBinding], name: str) -> None:
    """Each ISCC fingerprint the manifest records must be near the file's own: a repository never indexes a
    manifest under the fingerprint of another picture."""
    recorded = [b for b in bindings if b.alg == ISCC_ALG]
    if not recorded:
        return
    from rightsmark.softbinding import iscc
    from rightsmark.softbinding.model import SoftBindingError
    from rightsmark.softbinding.pixels import PixelsError

    try:
        own = iscc.fingerprint(data)
    except PixelsError as exc:
        raise IngestError(
            f"its pixels cannot be decoded to check its fingerprint ({exc}); not kept", path=name
        ) from None
    for b in recorded:
        try:
            near = iscc.within(own.value, b.value, RECORDED_MAX_DISTANCE)
        except SoftBindingError as exc:
            raise IngestError(
                f"its manifest records a fingerprint that cannot be read ({exc}); not kept", path=name
            ) from None
        if near is None:
            d = iscc.distance(own.value, b.value)
            raise IngestError(
                f"its manifest records a fingerprint {d} bits away from the picture's own; not kept", path=name
            )


def register(repo_spec: str | Repository, paths: Sequence[str | Path]) -> list[Registered]:
    """Check every file and add the valid ones to the repository ``repo_spec`` (created when it is a new
    path); one :class:`Registered` per path, in order. A repository that cannot be opened or written
    raises :class:`RepositoryError` (nothing of the batch in hand is then kept)."""
    from rightsmark.engine import adapter as engine

    results: list[Registered | None] = [None] * len(paths)
    repo: Repository
    if isinstance(repo_spec, str):
        from rightsmark.repository.open import open_repository

        repo = open_repository(repo_spec, create=True)
    else:
        repo = repo_spec
    try:
        with engine.reading_context(None, verify_trust=False) as context:
            batch: list[tuple[int, Entry]] = []
            size = 0
            for i, path in enumerate(paths):
                try:
                    entry = entry_from_file(path, context)
                except RepositoryError as exc:
                    results[i] = Registered(str(path), "refused", message=exc.one_line())
                    continue
                batch.append((i, entry))
                size += len(entry.store)
                if len(batch) >= BATCH_ENTRIES or size >= BATCH_BYTES:
                    _flush(repo, batch, paths, results)
                    batch, size = [], 0
            _flush(repo, batch, paths, results)
    finally:
        if isinstance(repo_spec, str):
            repo.close()
    return [r for r in results if r is not None]


def _flush(
    repo: Repository, batch: list[tuple[int, Entry]], paths: Sequence[str | Path], results: list[Registered | None]
) -> None:
    if not batch:
        return
    entries = [entry for _, entry in batch]
    if isinstance(repo, BatchRepository):
        outcomes = repo.add_many(entries)
    else:
        outcomes = []
        for entry in entries:
            try:
                outcomes.append(Added.ADDED if repo.add(entry) else Added.PRESENT)
            except ConflictError:
                outcomes.append(Added.CONFLICT)
    for (i, entry), outcome in zip(batch, outcomes, strict=True):
        name = str(paths[i])
        if outcome is Added.CONFLICT:
            message = (
                f"{name}: another manifest store is already kept under its manifest id {entry.manifest_id};"
                " nothing replaced"
            )
            results[i] = Registered(name, "refused", entry.manifest_id, message)
        else:
            results[i] = Registered(name, outcome.value, entry.manifest_id)
