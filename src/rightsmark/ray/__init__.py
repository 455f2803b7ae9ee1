"""Ray: verification inside a Ray Data pipeline (:func:`verify`, in :mod:`rightsmark.ray.data`), a reader of
tar shards for it that turns damage into error records (:func:`read_shards`, in :mod:`rightsmark.ray.read`)
and the ``rightsmark verify --engine ray`` runner (:mod:`rightsmark.ray.engine`).

    import ray, rightsmark.ray
    ds = rightsmark.ray.read_shards("s3://bucket/shards/{00000..00999}.tar")
    ds = rightsmark.ray.verify(ds, load_policy("policy.toml"))

Names load lazily, so ``import rightsmark.ray.engine`` does not pull in the Ray Data adapter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where each name lives.
_NAMES = {
    **dict.fromkeys(
        ("IMAGE_COLUMNS", "KEY_COLUMN", "READ_ERROR_COLUMN", "RECORD_COLUMN", "RowVerifier", "find_image", "row_key"),
        "rightsmark.ray.data",
    ),
    "verify": "rightsmark.ray.data",
    "read_shards": "rightsmark.ray.read",
}

__all__ = [
    "IMAGE_COLUMNS",
    "KEY_COLUMN",
    "READ_ERROR_COLUMN",
    "RECORD_COLUMN",
    "RowVerifier",
    "find_image",
    "read_shards",
    "row_key",
    "verify",
]

if TYPE_CHECKING:  # pragma: no cover
    from rightsmark.ray.data import (
        IMAGE_COLUMNS,
        KEY_COLUMN,
        READ_ERROR_COLUMN,
        RECORD_COLUMN,
        RowVerifier,
        find_image,
        row_key,
        verify,
    )
    from rightsmark.ray.read import read_shards


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'rightsmark.ray' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
