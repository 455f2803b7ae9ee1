"""What ``rightsmark filter`` did, input by input, and the error that stops it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rightsmark.errors import InputError


class FilterInputError(InputError):
    """An input cannot be filtered (damaged, changed while read, not readable): no copy of it is written."""

    exit_code = 2


@dataclass
class Counts:
    """Samples (tar) or rows (Parquet) of one input, by what became of them."""

    kept: int = 0  # copied: every image has one record, and it says keep
    dropped: int = 0  # a record says drop
    unmatched: int = 0  # an image without exactly one record, or whose record names another sample
    refused: int = 0  # unsafe in the shard itself: members sharing a name, a split sample, a link, an unsafe name
    no_image: int = 0  # a tar sample without an image (only sidecars): nothing vouches for it
    outside: int = 0  # tar members in no sample (no dot in the base name, as WebDataset reads them)
    unclaimed: int = 0  # records of the report naming nothing in the input (or the input itself)

    @property
    def mismatched(self) -> bool:
        """Whether the report does not describe this input exactly."""
        return bool(self.unmatched or self.unclaimed)

    def describe(self, unit: str) -> str:
        parts = [f"{self.kept} {unit} kept", f"{self.dropped} dropped", f"{self.unmatched} unmatched"]
        extra = (
            (self.refused, "refused (unsafe in the shard)"),
            (self.no_image, "without an image"),
            (self.outside, "members in no sample"),
            (self.unclaimed, "report records naming nothing in it"),
        )
        return ", ".join(parts + [f"{n} {what}" for n, what in extra if n])


@dataclass(frozen=True)
class InputResult:
    """One input filtered."""

    input: str  # as given
    output: Path
    kind: str  # "tar" or "parquet"
    report_name: str  # the input's name in the report
    by_sample: bool  # matched by the records' sample identity (else by their item keys)
    counts: Counts

    def line(self) -> str:
        unit = "samples" if self.kind == "tar" else "rows"
        named = f" (as {self.report_name} in the report)" if self.report_name != self.input else ""
        how = "sample" if self.by_sample else "item key"
        return f"{self.input}{named} -> {self.output}: {self.counts.describe(unit)}; matched by {how}"


@dataclass
class FilterResult:
    """Every input filtered, in the order given."""

    inputs: list[InputResult] = field(default_factory=list)
    allow_unmatched: bool = False

    @property
    def total(self) -> Counts:
        out = Counts()
        for result in self.inputs:
            for name in vars(out):
                setattr(out, name, getattr(out, name) + getattr(result.counts, name))
        return out

    @property
    def exit_code(self) -> int:
        """0 when the report described every input exactly (or ``allow_unmatched``), else 1."""
        return 1 if self.total.mismatched and not self.allow_unmatched else 0
