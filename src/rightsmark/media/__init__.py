"""Media containers: format sniffing and the byte walkers (JPEG segments, PNG chunks, RIFF, BMFF boxes, TIFF IFDs).

Importing the package imports nothing else; import the module you need. Each walker raises
:class:`StructureError` when the bytes end or contradict themselves before the structure does.
"""


class StructureError(ValueError):
    """A container's bytes do not hold the structure their format requires; the message says how (one sentence)."""


__all__ = ["StructureError"]
