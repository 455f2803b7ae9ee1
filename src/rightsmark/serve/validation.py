"""The service's check of every manifest store before it names or returns it.

A repository is storage, not a judge: a store may have been altered in the database after it was added, or
put there by something other than the service. The service therefore reads each store it is about to return
or list with :func:`rightsmark.engine.detached.read_detached` (signature and claim; trust is left to whoever
uses the manifest) and accepts it only when it validates, names the manifest id it is kept under as its active
manifest, and records the soft binding it was found by. Verdicts are remembered by the SHA-256 of the bytes,
so a store is read by the engine once an hour while it stays unchanged; a changed store has another digest.
What may be served is the rule the repository's intake applies too (:func:`rightsmark.repository.ingest.store_problem`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from rightsmark.softbinding.model import SoftBinding, read_bindings

#: verdicts remembered (about 200 bytes each)
CACHE_ENTRIES = 65536
#: how long a verdict is remembered: a store's validity changes with time (a certificate expires)
CACHE_SECONDS = 3600.0


@dataclass(frozen=True)
class Verdict:
    """The engine's judgement of one store: valid or not, the active manifest id and its soft bindings."""

    valid: bool
    manifest_id: str | None
    bindings: tuple[SoftBinding, ...]
    reason: str | None = None


class StoreValidator:
    """Validates manifest stores, remembering each verdict by the digest of the bytes. Thread-safe."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._cache: OrderedDict[bytes, tuple[float, Verdict]] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _context(self) -> Any:
        context = getattr(self._local, "context", None)
        if context is None:
            from rightsmark.engine import adapter as engine

            context = self._local.context = engine.reading_context(None, verify_trust=False)
        return context

    def verdict(self, store: bytes) -> Verdict:
        """The verdict on ``store`` (remembered, or read by the engine now); never raises for the bytes."""
        digest = hashlib.sha256(store).digest()
        now = time.monotonic()
        with self._lock:
            known = self._cache.get(digest)
            if known is not None and now - known[0] < CACHE_SECONDS:
                self._cache.move_to_end(digest)
                return known[1]
        found = self._read(store)
        with self._lock:
            self._cache[digest] = (now, found)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return found

    def _read(self, store: bytes) -> Verdict:
        from rightsmark.engine.detached import read_detached

        try:
            reading = read_detached(store, self._context())
        except Exception as exc:  # the engine failing on bytes is a store that is not served
            return Verdict(False, None, (), f"the engine could not read it ({type(exc).__name__})")
        from rightsmark.repository.ingest import store_problem

        label = reading.store.get("active_manifest") if reading.store else None
        problem = store_problem(reading)
        if problem is not None or not isinstance(label, str):
            return Verdict(False, label if isinstance(label, str) else None, (), problem or "does not validate")
        return Verdict(True, label, read_bindings(reading.active or {}))

    def accepts(self, store: bytes, manifest_id: str) -> Verdict:
        """The verdict on ``store`` as the store of ``manifest_id``: invalid too when it validates but is the
        store of another manifest."""
        found = self.verdict(store)
        if found.valid and found.manifest_id != manifest_id:
            return Verdict(False, found.manifest_id, (), "it is the store of another manifest")
        return found
