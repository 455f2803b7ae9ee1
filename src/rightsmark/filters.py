"""Keep/drop inside a training data pipeline (Hugging Face datasets, PyTorch, plain iterables).

Images must reach the filter undecoded: decoding and re-encoding drops the manifest. With
Hugging Face ``datasets`` cast the image column with ``Image(decode=False)`` (rows then hold
``{"bytes": ..., "path": ...}``); with WebDataset keep the raw ``.jpg`` bytes.

    from rightsmark.filters import KeepFilter
    keep = KeepFilter(load_policy("policy.toml"), column="image")
    ds = ds.cast_column("image", Image(decode=False)).filter(keep)    # datasets
    samples = keep.iter(webdataset_samples, data=lambda s: s["jpg"])   # any iterable, e.g. in an IterableDataset

Trust comes from the bundled C2PA trust lists by default (``trust_lists=["c2pa", "c2pa-tsa",
"interim"]`` adds the legacy interim list, ``["none"]`` uses none) and your own anchors (``trust=``).

The filter is picklable: each process (DataLoader worker, ``datasets.map`` process) opens its own
engine context on first use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rightsmark.models import VerifyRecord
from rightsmark.verify.facts import FactReader
from rightsmark.verify.policy import Policy
from rightsmark.verify.verifier import make_record

if TYPE_CHECKING:
    from rightsmark.verify.recover import Recoverer

T = TypeVar("T")


class KeepFilter:
    """A callable returning True for samples whose image the policy keeps."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        trust: Sequence[str | Path] = (),
        trust_lists: Sequence[str] | None = None,
        column: str = "image",
        now: dt.datetime | None = None,
    ) -> None:
        from rightsmark.trust.sources import enabled_lists

        base = policy or Policy()
        if trust:
            base = replace(base, anchors=(*base.anchors, *(Path(t) for t in trust)))
        if trust_lists is not None:
            base = replace(base, trust_lists=enabled_lists(trust_lists))
        base.trust_sources()  # a damaged or unknown list fails here, not on the first sample
        self.policy = base
        self.column = column
        self.now = now
        self._reader: FactReader | None = None
        self._recoverer: Recoverer | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None  # engine objects never cross a process boundary
        state["_recoverer"] = None
        return state

    def _facts_reader(self) -> FactReader:
        if self._reader is None:
            self._reader = FactReader(self.policy.trust_sources(), fingerprints=self.policy.needs_fingerprints)
        return self._reader

    def record(self, data: bytes, key: str = "") -> VerifyRecord:
        """The full verify record for one image's bytes (recovered through soft bindings where the policy
        names a repository and the image has no valid manifest of its own)."""
        reader = self._facts_reader()
        facts = reader.read(data, key)
        if self.policy.recover:
            if self._recoverer is None:
                from rightsmark.verify.recover import Recoverer

                self._recoverer = Recoverer(self.policy.recover, reader)
            facts = self._recoverer.apply(facts, data, key)
        return make_record(key, facts, self.policy, self.now)

    def image_bytes(self, sample: Any) -> bytes:
        value = sample[self.column] if isinstance(sample, Mapping) else sample
        if isinstance(value, Mapping):  # datasets Image(decode=False)
            value = value.get("bytes")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError(
            f"column {self.column!r} holds {type(value).__name__}, not image bytes;"
            " keep images undecoded (datasets: Image(decode=False))"
        )

    def __call__(self, sample: Any) -> bool:
        try:
            data = self.image_bytes(sample)
        except (TypeError, KeyError):
            return False  # fail closed: what cannot be checked is not kept
        return self.record(data).kept

    def iter(
        self,
        samples: Iterable[T],
        *,
        data: Callable[[T], bytes] | None = None,
        key: Callable[[T], str] | None = None,
    ) -> Iterator[T]:
        """The samples whose image is kept, lazily."""
        for sample in samples:
            try:
                raw = data(sample) if data is not None else self.image_bytes(sample)
            except (TypeError, KeyError):
                continue
            if self.record(raw, key(sample) if key is not None else "").kept:
                yield sample
