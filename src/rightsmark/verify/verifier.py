"""Verification: integrity, trust, what the file says, and the keep/drop decision.

The order of checks, each independent and reported separately:

1. read the bytes (``error`` when unreadable);
2. a cheap scan recognises files with no manifest at all without calling the engine;
3. the engine validates the manifest store offline (``absent`` when there is none;
   a remote-only reference is reported, never fetched);
4. integrity comes from the active manifest's own failure codes; problems of
   ingredients are collected separately (the engine's overall state ignores them);
5. trust is ``trusted`` only when the signing chain reaches an anchor the user gave
   (evaluated once per distinct chain);
6. assertions are read only from a manifest whose integrity is valid;
7. the policy (:mod:`rightsmark.verify.policy`) decides keep or drop, fail closed.

Steps 1-6 produce :class:`~rightsmark.verify.facts.Facts`; step 7 is :func:`make_record`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rightsmark.models import Purpose, Reason, Trust, VerifyRecord
from rightsmark.rights.signals import declared_beside
from rightsmark.verify.facts import FactReader, Facts, error_facts
from rightsmark.verify.policy import Policy, judge

if TYPE_CHECKING:
    from rightsmark.engine.reading import EngineReading
    from rightsmark.sources.base import Item
    from rightsmark.verify.recover import Recoverer


def make_record(
    key: str, facts: Facts, policy: Policy, now: dt.datetime | None = None, *, item: Item | None = None
) -> VerifyRecord:
    """The verify record for ``facts`` judged under ``policy`` at ``now``; ``item`` (the source's item,
    when there is one) gives the sample it belongs to, the values recorded beside it (declared signals,
    judged with the file's own), and for an item the source could not produce its own reason code
    (``duplicate-key``) in place of ``integrity-error``."""
    if item is not None and item.sidecar_files:  # named, not yet read: read here, never judged without them
        from rightsmark.sources.fs import take_sidecars

        item = take_sidecars(item)
    if item is not None and item.sidecar:
        facts = facts.with_declared(declared_beside(item.sidecar))
    consent, decision, reasons = judge(facts, policy, now)
    record = VerifyRecord(
        path=key,
        integrity=facts.integrity,
        trust=Trust.TRUSTED if facts.trusted else Trust.UNTRUSTED,
        decision=decision,
        reasons=tuple(reasons),
        signer=facts.signer,
        author=facts.authors,
        license=facts.license,
        training=facts.training,
        consent=consent,
        engine_state=facts.state,
        engine_codes=facts.failure_codes,
        ingredient_codes=facts.ingredient_codes,
        remote_manifest=facts.remote_manifest,
        format=facts.format,
        error=facts.message if facts.integrity.value == "error" else None,
        metadata_drift=facts.metadata_drift,
        declared=facts.declared,
        sample=item.sample if item is not None else None,
    )
    if facts.recovery is not None:
        from rightsmark.verify.recovered import recovered_manifest

        record = replace(record, recovered=recovered_manifest(facts, policy, now))
    if item is not None and item.error is not None and item.reason is not None:
        record = replace(record, reasons=(Reason(item.reason, record.error or item.reason),))
    return record


def read_file(path: str | Path, max_size: int | None = None) -> tuple[bytes | None, Facts | None]:
    """The bytes of ``path``, or error facts saying why they cannot be read.

    Only a regular file of at most ``max_size`` bytes (default 512 MiB) is read: a FIFO, a device
    (``/dev/zero``) or a socket gives error facts instead of blocking or filling memory."""
    from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, ItemRefusedError, read_regular

    try:
        return read_regular(str(path), DEFAULT_MAX_ITEM_SIZE if max_size is None else max_size), None
    except ItemRefusedError as exc:
        return None, error_facts(str(exc))
    except FileNotFoundError:
        return None, error_facts("no such file")
    except IsADirectoryError:
        return None, error_facts("is a directory where a file was expected")
    except OSError as exc:
        return None, error_facts(f"cannot read: {exc.strerror or exc}")


class Verifier:
    """Verifies files one at a time in this process. For many files use :mod:`rightsmark.verify.bulk`.

    Give either a :class:`Policy` or just trust anchors (then the strict default policy applies
    with those anchors).
    """

    def __init__(
        self,
        trust: Sequence[str | Path] = (),
        *,
        policy: Policy | None = None,
        purpose: Purpose | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        base = policy or Policy()
        # replace(), not Policy(**base.__dict__): a policy that has decided holds its memoised checks there
        if trust:
            base = replace(base, anchors=(*base.anchors, *(Path(t) for t in trust)))
        if purpose is not None:
            base = replace(base, purpose=purpose)
        self.policy = base
        self.trust = base.trust_sources()
        self._reader = FactReader(self.trust, fingerprints=base.needs_fingerprints)
        self._recoverer: Recoverer | None = None
        if base.recover:
            from rightsmark.verify.recover import Recoverer

            self._recoverer = Recoverer(base.recover, self._reader)
        self.now = now

    @property
    def purpose(self) -> Purpose:
        return self.policy.purpose

    def close(self) -> None:
        if self._recoverer is not None:
            self._recoverer.close()
        self._reader.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def facts(self, data: bytes, name: str | Path = "") -> Facts:
        facts = self._reader.read(data, name)
        return self._recoverer.apply(facts, data, str(name)) if self._recoverer is not None else facts

    def read(self, data: bytes, name: str | Path) -> EngineReading:
        """The engine's full reading of ``data`` (with trust), for inspection."""
        return self._reader.examine(data, name)[1]

    def verify_bytes(self, data: bytes, path: str) -> VerifyRecord:
        return make_record(path, self.facts(data, path), self.policy, self.now)

    def examine(self, data: bytes, path: str) -> tuple[VerifyRecord, EngineReading]:
        """The record for ``data`` together with the engine reading it was made from."""
        facts, reading = self._reader.examine(data, path)
        return make_record(path, facts, self.policy, self.now), reading

    def verify_file(self, path: str | Path, display: str | None = None) -> VerifyRecord:
        shown = display if display is not None else str(path)
        data, failed = read_file(path)
        if failed is not None or data is None:
            return make_record(shown, failed or error_facts("unreadable"), self.policy, self.now)
        return self.verify_bytes(data, shown)

    def verify_paths(self, paths: Iterable[str | Path]) -> Iterator[VerifyRecord]:
        """One record per file: files as given, directories walked (:func:`rightsmark.sources.fs.walk_files`)."""
        from rightsmark.sources.fs import walk_files

        for given in paths:
            text = str(given)
            if os.path.isdir(text):
                for file in walk_files(text):
                    yield self.verify_file(file, display=file)
            else:
                yield self.verify_file(text)


def verify_file(path: str | Path, trust: Sequence[str | Path] = ()) -> VerifyRecord:
    """Verify one file (convenience wrapper around :class:`Verifier`)."""
    with Verifier(trust) as verifier:
        return verifier.verify_file(path)


__all__ = ["Verifier", "make_record", "verify_file"]
