"""The ledger: every call as one row in an append-only SQLite file (WAL), safe across kernels and crashes.

Each `append` is its own short committed transaction, so a killed process loses at most the calls in
flight, and several notebooks or processes can write the same file (WAL plus a busy timeout). Only the
columns of `RECORD_COLUMNS` are ever written, so nothing else (an API key above all) can reach the file.
The file is plain SQLite: pandas, DuckDB or Spark can read the `calls` table directly.
Prompt and answer text (`TEXT_COLUMNS`) are stored only with `store_text=True`, because ledgers get shared.
Inserts are idempotent by `call_id`: a retried write or a copy run twice adds no row.
`Ledger("postgresql://user@host:5432/db")` opens the same ledger in PostgreSQL (`ledger_postgres`, which
registers itself for those URL schemes with `register_url_ledger`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..errors import LedgerError
from ..types.record_schema import (  # coerce_types, record_dtypes and to_frame are re-exported: they lived here first
    RECORD_COLUMNS,
    TIME_COLUMN,
    TIME_DTYPE,
    coerce_types,
    columns_of,
    dtype_of,
    record_dtypes,
    sql_type,
    to_frame,
)
from . import _ledger_arrow

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Ledger", "session_ledger", "set_session_ledger", "to_frame", "coerce_types", "record_dtypes",
           "DEFAULT_LEDGER_PATH", "LEDGER_ENV", "OFF_VALUES", "TEXT_COLUMNS", "URL_SCHEMES", "redact_url",
           "url_password", "scrub", "is_database_url", "register_url_ledger", "record_values", "check_columns",
           "filter_clause"]

TABLE = "calls"
LEDGER_ENV = "AURIKO_NB_LEDGER"
DEFAULT_LEDGER_PATH = "auriko_ledger.sqlite"
OFF_VALUES = frozenset({"off", "none", "0", "false", "no"})  # `AURIKO_NB_LEDGER` values that turn it off
BUSY_TIMEOUT_S = 30.0

_FLOAT = columns_of("float")
_INT = columns_of("int", "bool")
_JSON = columns_of("json")
TEXT_COLUMNS = ("prompt_text", "answer_text")  # stored only by a ledger with store_text=True
URL_SCHEMES = ("postgresql://", "postgres://")  # a ledger target starting so is a database URL, not a file


# -- database URLs: which targets are URLs, and their passwords never shown ---------------------------------

def is_database_url(target: object) -> bool:
    """Whether a ledger target is a database URL (`postgresql://...` or `postgres://...`), not a file path."""
    return isinstance(target, str) and target.strip().lower().startswith(URL_SCHEMES)


def url_password(url: str) -> str | None:
    """The password in a URL's user info (as written, not decoded), or None."""
    _, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0 or ":" not in rest[:at]:
        return None
    return rest[:at].split(":", 1)[1] or None


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def redact_url(url: str) -> str:
    """The URL with its password (user info or `?password=`) as `***`: what a repr, error or log may show.

    Pure and total: text that is not a URL comes back unchanged, except a `password=` parameter.
    """
    password = url_password(url)
    if password is not None:
        scheme, _, rest = url.partition("://")
        at = rest.rfind("@")
        url = f"{scheme}://{rest[:at].split(':', 1)[0]}:***{rest[at:]}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def scrub(text: str, url: str) -> str:
    """`text` (a driver's error message, say) with every form of the URL's password replaced by `***`."""
    secrets = {url_password(url) or ""} | {m.group(0).split("=", 1)[1] for m in _QUERY_PASSWORD.finditer(url)}
    secrets |= {unquote(s) for s in secrets}
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text.replace(url, redact_url(url))


_URL_LEDGERS: dict[str, type[Ledger]] = {}


def register_url_ledger(schemes: Sequence[str], cls: type[Ledger]) -> None:
    """Make `Ledger(url)` build a `cls` for URLs starting with one of `schemes` (e.g. "postgresql://")."""
    for scheme in schemes:
        _URL_LEDGERS[scheme.lower()] = cls


# -- values in: one canonical SQLite value per column ------------------------------------------------------

_NATIVE = frozenset((type(None), str, int, float, bool))  # bound by sqlite3 as is (a NaN float becomes NULL)


def utc_text(value: Any) -> str | None:
    """A timestamp as canonical UTC ISO-8601 text (microseconds, +00:00) so SQL string order is time order.

    Accepts ISO-8601 text, `datetime`, `pd.Timestamp` or `np.datetime64`; naive times are taken as UTC.
    """
    if isinstance(value, str):
        if len(value) == 32 and value.endswith("+00:00") and value[19] == "." and value[10] == "T":
            return value  # the common case: already canonical (what `CallContext` writes)
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value != value:  # NaT is a datetime; pandas reads the rest
        import pandas as pd

        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return None
        try:
            value = pd.Timestamp(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"started_at: cannot read {value!r} as a timestamp") from e
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")


def _coerce(col: str, value: Any) -> Any:
    """Turn a non-native value (numpy scalar, bool, NA, dict, list) into what SQLite stores for `col`."""
    if col in _JSON and isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if col in _INT:
        return int(value)
    if col in _FLOAT:
        return float(value)
    return str(value)


def record_values(record: Mapping[str, Any], columns: Sequence[str], time_index: int) -> list[Any]:
    """The record's values for `columns`, in order, each one SQLite can store (fast path: all native).

    `time_index` is the position of `started_at` in `columns` (-1: absent); it becomes canonical UTC text.
    """
    values = list(map(record.get, columns))
    if not _NATIVE.issuperset(map(type, values)):
        values = [v if type(v) in _NATIVE else _coerce(c, v) for c, v in zip(columns, values, strict=True)]
    if time_index >= 0:
        values[time_index] = utc_text(values[time_index])
    return values


def check_columns(columns: Sequence[str]) -> list[str]:
    """`columns` as a list, or a one-line error naming the ones that are not record columns."""
    cols = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in cols if c not in RECORD_COLUMNS]
    if unknown:
        raise ValueError(f"columns: {unknown} are not record columns (see ak.RECORD_COLUMNS)")
    if not cols:
        raise ValueError("columns: give at least one record column, or None for all")
    return cols


def filter_clause(mark: Callable[[], str], run_id: Any = None, since: Any = None, until: Any = None,
                  status: Any = None, source: Any = None, time_cast: str = "") -> tuple[str, list[Any]]:
    """`to_dataframe`'s filters as ` WHERE ...` (or "") and its parameters; `mark()` gives each placeholder.

    `time_cast` wraps the time placeholders (PostgreSQL compares a TIMESTAMPTZ column with a cast value).
    """
    where: list[str] = []
    params: list[Any] = []
    for col, want in (("run_id", run_id), ("status", status), ("source", source)):
        if want is not None:
            values = [want] if isinstance(want, str) else list(want)
            where.append(f"{col} IN ({', '.join(mark() for _ in values)})" if values else "1 = 0")
            params += values
    for op, when in ((">=", since), ("<", until)):
        if when is not None:
            where.append(f"started_at {op} {time_cast.format(mark()) if time_cast else mark()}")
            params.append(utc_text(when))
    return (" WHERE " + " AND ".join(where) if where else ""), params


# -- the ledger -------------------------------------------------------------------------------------------

def check_export_path(path: str | os.PathLike[str]) -> Path:
    """`path` if rows can be written there (.csv, or .parquet with pyarrow installed); else a one-line error."""
    out = Path(path).expanduser()
    ext = out.suffix.lower()
    if ext not in (".csv", ".parquet"):
        raise ValueError(f"cannot export to {out.name!r}: use a .csv or .parquet file name")
    if ext == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError("Parquet export needs pyarrow: pip install pyarrow")
    return out


def write_rows(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write call rows to .csv or .parquet by the file's suffix (the ledger's and a comparison's export)."""
    out = check_export_path(path)
    if out.suffix.lower() == ".csv":
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    return out


class Ledger:
    """An append-only SQLite file of call records; pass it as a client's `on_record` hook.

    `store_text=False` (the default) stores `prompt_text` and `answer_text` as NULL: a ledger file gets shared,
    and the prompts and answers may be private. `store_text=True` keeps them.
    A `postgresql://` URL instead of a path gives a `PostgresLedger` (same API; `pip install 'auriko-nb[postgres]'`).
    """

    def __new__(cls, target: Any = None, *args: Any, **kwargs: Any) -> Ledger:
        target = kwargs.get("path") if target is None else target
        if cls is Ledger and is_database_url(target):
            scheme = str(target).strip().lower().split("://", 1)[0] + "://"
            impl = _URL_LEDGERS.get(scheme)
            if impl is None:
                raise LedgerError(f"no ledger backend for {redact_url(str(target))}", code="ledger_unavailable")
            return super().__new__(impl)
        return super().__new__(cls)

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, store_text: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self.store_text = store_text
        self._lock = threading.Lock()
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no ledger at {self.path}")
            uri = self.path.resolve().as_uri() + "?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                             check_same_thread=False)
            except (OSError, sqlite3.OperationalError) as e:
                raise LedgerError(f"cannot open the ledger {self.path}: {e}", code="ledger_unavailable") from None
        self._columns: tuple[str, ...] = ()
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not readonly:
                self._setup()
            self._columns = self._table_columns()
        except sqlite3.DatabaseError as e:
            self._conn.close()
            if isinstance(e, sqlite3.OperationalError):  # locked, unreadable, ...: SQLite's own words say it
                raise
            raise ValueError(f"{self.path} is not a ledger ({e})") from None
        self._time_index = self._columns.index(TIME_COLUMN) if TIME_COLUMN in self._columns else -1
        self._text_indexes = tuple(self._columns.index(c) for c in TEXT_COLUMNS if c in self._columns)
        self._unique = readonly or self._unique_call_id()

    def _setup(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: every commit survives a crash of the process
        cols = ", ".join(f'"{c}" {sql_type(c)}' for c in RECORD_COLUMNS)
        with self._transaction():
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
            for c in RECORD_COLUMNS:  # a ledger written by an older version gains newer columns
                if c not in have:
                    conn.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{c}" {sql_type(c)}')
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_run ON {TABLE}(run_id)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE}(started_at)")
            try:  # inserts skip a call_id already there (INSERT OR IGNORE)
                conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_call_id ON {TABLE}(call_id)")
            except sqlite3.IntegrityError:
                # A file an older version wrote may hold one call_id twice: it keeps its rows and gets a plain
                # index; `_insert_sql` then skips a known call_id with `WHERE NOT EXISTS` instead.
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_call ON {TABLE}(call_id)")

    def _unique_call_id(self) -> bool:
        """Whether the table has the UNIQUE index on call_id (every file this version created has it)."""
        for row in self._conn.execute(f"PRAGMA index_list({TABLE})").fetchall():
            if row[2] and [r[2] for r in self._conn.execute(f'PRAGMA index_info("{row[1]}")')] == ["call_id"]:
                return True
        return False

    def _table_columns(self) -> tuple[str, ...]:
        have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({TABLE})")}
        return tuple(c for c in RECORD_COLUMNS if c in have)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def location(self) -> str:
        """Where the rows are, for display: the file's path (a database ledger: its URL without the password)."""
        return str(self.path)

    def _insert_sql(self) -> str:
        """The insert of one row, skipping a call_id already stored (with the plain index: one more parameter)."""
        if self.readonly:
            raise PermissionError(f"ledger {self.location} is open readonly")
        names = ", ".join(f'"{c}"' for c in self._columns)
        marks = ", ".join("?" * len(self._columns))
        if self._unique:
            return f"INSERT OR IGNORE INTO {TABLE} ({names}) VALUES ({marks})"
        return (f"INSERT INTO {TABLE} ({names}) SELECT {marks} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE call_id = ?)")

    def _with_key(self, values: list[Any]) -> list[Any]:
        """The row's parameters for `_insert_sql` (without the UNIQUE index, its call_id once more at the end)."""
        if not self._unique:
            values.append(values[self._columns.index("call_id")] if "call_id" in self._columns else None)
        return values

    # -- writing --------------------------------------------------------------------------------------

    def _values(self, record: Mapping[str, Any]) -> list[Any]:
        """A record's SQLite values; without `store_text`, its prompt and answer text as NULL."""
        values = record_values(record, self._columns, self._time_index)
        if not self.store_text:
            for i in self._text_indexes:
                values[i] = None
        return values

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record and commit at once (unknown keys ignored; missing ones stored as NULL).

        A record whose call_id is already in the ledger is skipped: writing it again changes nothing.
        """
        sql, row = self._insert_sql(), self._with_key(self._values(record))
        with self._lock:
            self._conn.execute(sql, row)

    __call__ = append

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write many records in one transaction (fast: for benchmarks and imports); returns how many were new.

        Records whose call_id is already stored (or earlier in `records`) are skipped and not counted.
        """
        sql, cols, ti = self._insert_sql(), self._columns, self._time_index
        rows = [record_values(r, cols, ti) for r in records]
        blank = () if self.store_text else self._text_indexes
        for values in rows if blank else ():
            for i in blank:
                values[i] = None
        if not self._unique:
            rows = [self._with_key(values) for values in rows]
        with self._lock, self._transaction():
            before = self._conn.total_changes
            self._conn.executemany(sql, rows)
            added = self._conn.total_changes - before
        return added

    # -- reading --------------------------------------------------------------------------------------

    def to_dataframe(self, run_id: str | Sequence[str] | None = None, since: Any = None, until: Any = None,
                     status: str | Sequence[str] | None = None,
                     source: str | Sequence[str] | None = None,
                     columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows in append order as a typed DataFrame; `since` is inclusive, `until` exclusive (UTC).

        `columns` reads only those record columns (faster on big ledgers), in that order.
        """
        import pandas as pd

        wanted = list(RECORD_COLUMNS) if columns is None else check_columns(columns)
        where, params = filter_clause(lambda: "?", run_id, since, until, status, source)
        with self._lock:
            have = self._table_columns()  # also what another process's newer version may have added
        cols = [c for c in wanted if c in have]
        if not cols:
            return to_frame([])[wanted]
        sql = f"SELECT {', '.join(cols)} FROM {TABLE}{where} ORDER BY id"
        fast = _ledger_arrow.read(self.path, sql, params, {c: dtype_of(c) for c in cols})
        if fast is None:
            with self._lock:
                rows = self._conn.execute(sql, params).fetchall()
            fast = pd.DataFrame.from_records(rows, columns=cols)
        return coerce_types(fast.reindex(columns=wanted))

    def run_ids(self) -> pd.DataFrame:
        """One row per run, in order of first appearance: run_id, calls, ok, errors, cancelled, first/last."""
        import pandas as pd

        df = pd.DataFrame.from_records(self._run_id_rows(), columns=["run_id", "calls", "ok", "errors", "cancelled",
                                                                     "first_started_at", "last_started_at"])
        for c in ("calls", "ok", "errors", "cancelled"):
            df[c] = df[c].fillna(0).astype("int64")
        for c in ("first_started_at", "last_started_at"):
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").astype(TIME_DTYPE)
        return df

    def _run_id_rows(self) -> list[Any]:
        """(run_id, calls, ok, errors, cancelled, first, last) per run, in order of first appearance."""
        sql = (f"SELECT run_id, COUNT(*), SUM(status = 'ok'), SUM(status = 'error'), SUM(status = 'cancelled'), "
               f"MIN(started_at), MAX(started_at) FROM {TABLE} GROUP BY run_id ORDER BY MIN(id)")
        with self._lock:
            return self._conn.execute(sql).fetchall() if self._table_columns() else []

    def export(self, path: str | os.PathLike[str], **filters: Any) -> Path:
        """Write the rows (optionally filtered as in `to_dataframe`) to .csv or .parquet; returns the path."""
        check_export_path(path)  # before reading: a bad name fails at once
        return write_rows(self.to_dataframe(**filters), path)

    def __len__(self) -> int:
        with self._lock:
            if not self._table_columns():
                return 0
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def __bool__(self) -> bool:
        return True  # an empty ledger is still a ledger (and a valid `on_record` hook)

    def close(self) -> None:
        """Close the connection (idempotent); committed rows are already on disk."""
        with self._lock:
            self._conn.close()

    def __del__(self) -> None:
        with suppress(Exception):  # a ledger dropped without close() must not warn (ResourceWarning, 3.13+)
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            text = ", store_text=True" if self.store_text else ""
            return f"Ledger({self.location!r}, rows={len(self)}{text})"
        except sqlite3.ProgrammingError:
            return f"Ledger({self.location!r}, closed)"


# -- the session ledger -----------------------------------------------------------------------------------

_session: Ledger | None = None
_session_off = False
_session_lock = threading.Lock()


def session_ledger() -> Ledger | None:
    """The process-wide default ledger, opened on first use; None when turned off.

    Its file is `$AURIKO_NB_LEDGER` (a path or a postgresql:// URL) or `./auriko_ledger.sqlite`;
    `AURIKO_NB_LEDGER=off` starts with it off.
    """
    global _session, _session_off
    with _session_lock:
        if _session is None and not _session_off:
            env = os.environ.get(LEDGER_ENV, "").strip()
            if env.lower() in OFF_VALUES:
                return None
            try:
                _session = Ledger(env or DEFAULT_LEDGER_PATH)
            except (OSError, sqlite3.Error, ImportError) as e:  # an unwritable directory must not break every call
                # LedgerError (a database that is down, a wrong password) is an OSError; its text is redacted
                where = redact_url(env) if is_database_url(env) else env or DEFAULT_LEDGER_PATH
                warnings.warn(f"auriko_nb: session ledger turned off, cannot open {where}: {scrub(str(e), env)}",
                              stacklevel=2)
                _session_off = True
        return _session


def set_session_ledger(target: str | os.PathLike[str] | Ledger | None) -> Ledger | None:
    """Point the session ledger at a file, a postgresql:// URL or a `Ledger`, or turn it off with None."""
    global _session, _session_off
    ledger = target if isinstance(target, Ledger) or target is None else Ledger(target)
    with _session_lock:
        _session, _session_off = ledger, ledger is None
    return ledger
