"""Ray: verification inside a Ray Data pipeline (:func:`verify`, in :mod:`rightsmark.ray.data`) and the
``rightsmark verify --engine ray`` runner (:mod:`rightsmark.ray.engine`).

    import ray, rightsmark.ray
    ds = rightsmark.ray.verify(ds, load_policy("policy.toml"))

Names load lazily, so ``import rightsmark.ray.engine`` does not pull in the Ray Data adapter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["IMAGE_COLUMNS", "KEY_COLUMN", "RECORD_COLUMN", "RowVerifier", "find_image", "row_key", "verify"]

if TYPE_CHECKING:  # pragma: no cover
    from rightsmark.ray.data import IMAGE_COLUMNS, KEY_COLUMN, RECORD_COLUMN, RowVerifier, find_image, row_key, verify


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("rightsmark.ray.data"), name)
    raise AttributeError(f"module 'rightsmark.ray' has no attribute {name!r}")
