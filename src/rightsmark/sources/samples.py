"""Sample identity: which files or members form one sample, its key, and which of them are images.

* **Tar shards** follow the WebDataset conventions: a member's sample key (``__key__``) is its name up
  to the first dot of its base name, directories kept (``a/b.output.png`` is sample ``a/b``; a name
  without a dot in its base name is its own key); consecutive members with the same key form one
  sample (:func:`wds_key`).
* **Folders** (and files named directly): a file's sample key is its path relative to the folder as
  given, ``/``-separated, without its last extension (``sub/0001.jpg`` is ``sub/0001``; ``a.v2.jpg`` is
  ``a.v2``); the files of one folder with the same stem form one sample (img2dataset's ``0001.jpg``,
  ``0001.json``, ``0001.txt``) (:func:`file_key`).

Which files of a folder are images (:func:`classify`): a file whose extension is one of
:data:`NON_IMAGE_EXTENSIONS` (``.json``, ``.txt``, ``.csv``, ...) is not an image: a *sidecar* when an
image of its folder has the same stem (a ``.json`` sidecar is read as that image's metadata), else an
*other* file. Every other file, whatever its extension or none, is an image to verify (the verifier says
when it is not one), so a file is never left unverified for a name it merely lacks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rightsmark.sources.base import IMAGE, OTHER, SIDECAR

#: Extensions of image formats: tar members named so are yielded as images whatever their bytes.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".tif", ".tiff", ".dng", ".avif", ".heic", ".heif", ".jxl"}
    | {".svg"}
)

#: Extensions of files that are not images: captions, labels, metadata, checksums, arrays.
NON_IMAGE_EXTENSIONS = frozenset(
    {".json", ".jsonl", ".ndjson", ".txt", ".text", ".caption", ".cls", ".cls2", ".cbor", ".csv", ".tsv"}
    | {".md", ".rst", ".html", ".htm", ".xml", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".log", ".xmp"}
    | {".npy", ".npz", ".pkl", ".pickle", ".pyd", ".pth", ".pt", ".mp", ".msgpack", ".sha256", ".md5"}
)


def wds_key(name: str) -> str:
    """The WebDataset sample key (``__key__``) of a tar member name."""
    folder, _, base = name.rpartition("/")
    stem = base.split(".", 1)[0]
    if not stem or stem == base:
        return name
    return f"{folder}/{stem}" if folder else stem


def wds_suffix(name: str) -> str:
    """The part of a member name after its sample key (``json``, ``output.png``), lower case."""
    key = wds_key(name)
    return name[len(key) + 1 :].lower() if key != name else ""


def file_key(relative: str) -> str:
    """The sample key of a file from its path relative to the folder as given (or its base name)."""
    return os.path.splitext(relative.replace(os.sep, "/"))[0]


def split_name(name: str) -> tuple[str, str]:
    """``os.path.splitext`` of a base name that does not start with a dot (a walk skips those), faster."""
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def classify(names: Sequence[str]) -> list[tuple[str, tuple[int, ...], str]]:
    """For each base name of one folder: its role, for an image the indices of its ``.json`` sidecars, and
    its stem.

    Containers (tar shards, Parquet files) count as images here; the walk opens them instead."""
    split = [split_name(n) for n in names]
    non_image = [ext.lower() in NON_IMAGE_EXTENSIONS for _, ext in split]
    if not any(non_image):  # a folder of images only: the common case, kept cheap
        return [(IMAGE, (), stem) for stem, _ in split]
    image_stems = {stem for (stem, _), non in zip(split, non_image, strict=True) if not non}
    jsons: dict[str, list[int]] = {}
    for index, (stem, ext) in enumerate(split):
        if ext.lower() == ".json" and stem in image_stems:
            jsons.setdefault(stem, []).append(index)
    out: list[tuple[str, tuple[int, ...], str]] = []
    for (stem, _), non in zip(split, non_image, strict=True):
        if not non:
            out.append((IMAGE, tuple(jsons.get(stem, ())), stem))
        else:
            out.append((SIDECAR if stem in image_stems else OTHER, (), stem))
    return out
