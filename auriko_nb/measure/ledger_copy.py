"""Copy a ledger into another (SQLite file <-> PostgreSQL, either way) and export one to a file any tool reads.

A copy carries every column, prompt and answer text included, in append order and in batches; it is idempotent
(inserts skip call_ids the destination has), so a copy run twice, or resumed after a failure, adds no row twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..types.record_schema import TIME_COLUMN
from .ledger import Ledger, check_export_path, is_database_url, redact_url

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CopyResult", "copy_ledger", "export_ledger", "FORMATS"]

Target = str | os.PathLike[str] | Ledger
FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class CopyResult:
    """What a copy did: rows read from the source, rows new in the destination, rows it already had."""

    read: int
    added: int
    skipped: int

    def __str__(self) -> str:
        return f"{self.read} rows read, {self.added} added, {self.skipped} already there"


def _identity(target: Target) -> tuple[str, ...]:
    """What names the same stored ledger: (host, port, database) for a URL, the resolved path for a file."""
    where: Any = target
    if isinstance(target, Ledger):
        where = target.location
    if is_database_url(str(where)):
        parts = urlsplit(str(where))
        return ("pg", (parts.hostname or "localhost").lower(), str(parts.port or 5432), parts.path.strip("/"))
    return ("file", str(Path(where).expanduser().resolve()))


def _open(target: Target, stack: ExitStack, **kwargs: Any) -> Ledger:
    """`target` itself when it is a Ledger, else the ledger it names, closed when `stack` closes."""
    if isinstance(target, Ledger):
        return target
    return stack.enter_context(Ledger(os.fspath(target), **kwargs))


def _records(frame: pd.DataFrame, batch: int) -> Iterator[list[dict[str, Any]]]:
    """The frame's rows as plain-Python records (None for missing, canonical UTC text for times), `batch` at a time."""
    for start in range(0, len(frame), batch):
        chunk = frame.iloc[start:start + batch]
        if TIME_COLUMN in chunk.columns:
            times = chunk[TIME_COLUMN].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            chunk = chunk.assign(**{TIME_COLUMN: times})
        plain = chunk.astype(object)
        yield plain.where(plain.notna(), None).to_dict("records")


def copy_ledger(src: Target, dst: Target, *, batch: int = 10_000) -> CopyResult:
    """Copy every row of `src` into `dst` (paths, postgresql:// URLs or `Ledger`s), text columns included.

    Idempotent by call_id: rows `dst` already has are skipped (counted in `skipped`), so running it twice adds
    nothing. `dst` is created when missing; copying a ledger into itself is refused.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, not {batch}")
    if _identity(src) == _identity(dst):
        raise ValueError(f"cannot copy the ledger {_shown(src)} into itself: give another destination")
    read = added = 0
    with ExitStack() as stack:
        source = _open(src, stack, readonly=True)  # a missing file raises here, before `dst` is created
        target = _open(dst, stack, store_text=True)
        keep_text = target.store_text
        target.store_text = True  # a copy keeps prompt and answer text, whatever the destination was opened with
        try:
            # the frame is read once, in append order (kept in the copy); only one batch at a time is turned
            # into records, so a million rows are never in memory twice
            for records in _records(source.to_dataframe(), batch):
                read += len(records)
                added += int(target.append_many(records))
        finally:
            target.store_text = keep_text
    return CopyResult(read=read, added=added, skipped=read - added)


def _shown(target: Target) -> str:
    """A target for an error line: the ledger's location (a redacted URL), or the path/URL as given, redacted."""
    if isinstance(target, Ledger):
        return target.location
    return redact_url(os.fspath(target))


def export_ledger(src: Target, path: str | os.PathLike[str], fmt: str | None = None,
                  **filters: Any) -> Path:
    """Write the rows of `src` (filtered as in `Ledger.to_dataframe`) to a .csv or .parquet file; returns its path.

    `fmt` ("csv" or "parquet") adds that suffix to a path without one; by default the path's suffix decides.
    """
    out = Path(path).expanduser()
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        if not out.suffix:
            out = out.with_suffix("." + fmt)
        elif out.suffix.lower() != "." + fmt:
            raise ValueError(f"format {fmt!r} but the file name {out.name!r} ends in {out.suffix}: make them agree")
    check_export_path(out)  # a bad name fails before the ledger is read
    with ExitStack() as stack:
        return _open(src, stack, readonly=True).export(out, **filters)  # readonly: a missing file is not created
