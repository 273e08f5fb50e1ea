"""The record schema, defined once: each column's name, kind and meaning; dtypes and SQL types derive from it.

`records` builds rows with these columns, `ledger` stores them (SQL types), `_ledger_arrow` and `coerce_types`
read them back (pandas dtypes). The README's record table documents every column (a test checks it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Column", "COLUMNS", "RECORD_COLUMNS", "TIME_COLUMN", "TIME_DTYPE", "columns_of", "dtype_of",
           "sql_type", "text_dtype", "record_dtypes", "coerce_types", "to_frame"]

TIME_DTYPE = "datetime64[us, UTC]"
_SQL = {"text": "TEXT", "json": "TEXT", "category": "TEXT", "time": "TEXT", "float": "REAL", "int": "INTEGER",
        "bool": "INTEGER"}
_DTYPE = {"float": "float64", "int": "Int64", "bool": "boolean", "category": "category", "time": TIME_DTYPE}


@dataclass(frozen=True)
class Column:
    """One record column: `kind` (text, json, category, time, float, int, bool) fixes its dtype and SQL type."""

    name: str
    kind: str
    meaning: str


def _c(name: str, kind: str, meaning: str) -> Column:
    return Column(name, kind, meaning)


COLUMNS: tuple[Column, ...] = (
    _c("run_id", "text", "the sweep or run the call belongs to"),
    _c("call_id", "text", "a unique id per call"),
    _c("cell", "text", "the sweep grid cell (prompt, model, strategy, repeat)"),
    _c("started_at", "time", "UTC time the call started (ISO-8601 text in SQLite)"),
    _c("source", "category", "`live` or `offline` (the embedded simulation)"),
    _c("endpoint", "category", "`chat.completions` or `responses`"),
    _c("prompt_id", "text", "hash of the messages: equal prompts share it"),
    _c("model_requested", "text", "the model asked for (or the `gateway.models` list)"),
    _c("optimize", "category", "the strategy asked for (routing.optimize, `custom` for weights, or a `:suffix`)"),
    _c("routing", "json", "the routing options asked for, as JSON"),
    _c("provider", "category", "the provider that served the call"),
    _c("provider_model_id", "text", "the provider's own model id"),
    _c("model_canonical", "category", "the gateway's canonical model name"),
    _c("routing_strategy", "category", "the strategy the gateway applied"),
    _c("ttft_ms_server", "float", "time to first token reported by the gateway (streamed calls)"),
    _c("ttft_ms_client", "float", "request sent -> first content delta, measured by the client (streamed calls)"),
    _c("headers_ms_client", "float", "request sent -> response headers, measured by the client"),
    _c("latency_ms", "float", "request sent -> last byte, measured by the client"),
    _c("throughput_tps", "float", "tokens per second reported by the gateway"),
    _c("prompt_tokens", "int", "usage: prompt tokens"),
    _c("completion_tokens", "int", "usage: completion tokens"),
    _c("cached_tokens", "int", "usage: cached prompt tokens"),
    _c("cost_usd", "float", "billed cost in USD as the gateway reported it"),
    _c("cost_estimated_usd", "float", "a sweep's reserved estimate for a call that reported no cost"),
    _c("cache_savings_usd", "float", "cache savings in USD as the gateway reported them"),
    _c("warnings", "json", "routing and client-side warnings as JSON ({type, code, message})"),
    _c("warning_count", "int", "how many warnings"),
    _c("status", "category", "`ok`, `error` or `cancelled`"),
    _c("error_code", "text", "the error's code"),
    _c("error_type", "text", "the error's type"),
    _c("error_message", "text", "the error's one-line message"),
    _c("http_status", "int", "the HTTP status of a failed call"),
    _c("attempts", "int", "HTTP attempts, retries included"),
    _c("request_id", "text", "the gateway's X-Request-ID"),
    _c("tags", "json", "request metadata tags, as JSON"),
    _c("trace_id", "text", "request metadata trace id"),
    _c("stream", "bool", "whether the call was streamed"),
    _c("finish_reason", "text", "how the answer finished"),
    _c("prompt_label", "text", "a sweep's prompt label: its `id` from a task set, else p1, p2, ... by position"),
    _c("prompt_text", "text", "the prompt as sent (the last user message's text); a Ledger stores it only "
       "with store_text=True"),
    _c("answer_text", "text", "the answer's text; a Ledger stores it only with store_text=True"),
    _c("passed", "bool", "every check passed (empty when no checks ran or the call failed)"),
    _c("score", "float", "mean of the checks' scores in [0, 1] (empty when no checks ran)"),
    _c("checks_failed", "json", "the checks that failed or raised, as JSON ({check, reason, errored}); [] when "
       "all passed"),
)
RECORD_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)
TIME_COLUMN = "started_at"
_KIND = {c.name: c.kind for c in COLUMNS}


def columns_of(*kinds: str) -> frozenset[str]:
    """The names of the columns of these kinds (e.g. `columns_of("int", "bool")`)."""
    return frozenset(c.name for c in COLUMNS if c.kind in kinds)


def text_dtype() -> str:
    """pandas' text dtype: `str` from pandas 3, `object` before."""
    import pandas as pd

    return "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"


def dtype_of(col: str) -> str:
    """The pandas dtype of a record column, as `Ledger.to_dataframe` returns it."""
    return _DTYPE.get(_KIND[col]) or text_dtype()


def sql_type(col: str) -> str:
    """The SQLite type of a record column in the ledger's `calls` table."""
    return _SQL[_KIND[col]]


def record_dtypes() -> dict[str, str]:
    """The pandas dtype of each record column, as `to_dataframe` returns them."""
    return {c: dtype_of(c) for c in RECORD_COLUMNS}


def _to_bool(v: Any) -> Any:
    if isinstance(v, str):
        return {"true": True, "1": True, "false": False, "0": False}.get(v.strip().lower())
    return bool(v)


def _json_text(v: Any) -> Any:
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v


def _coerce_series(col: str, s: pd.Series, want: str) -> pd.Series:
    import pandas as pd

    kind = _KIND[col]
    if kind == "time":
        s = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
    elif kind in ("float", "int"):
        s = pd.to_numeric(s, errors="coerce")
        if kind == "int":
            s = s.round()
    elif kind == "json" and s.dtype == object:
        s = s.map(_json_text)
    elif kind == "bool":
        s = s.map(_to_bool, na_action="ignore") if s.dtype == object or str(s.dtype) == "str" else s
    elif kind == "category":
        s = s.astype(text_dtype())  # categories are text even when every value is missing
    return s.astype(want)


def coerce_types(df: pd.DataFrame) -> pd.DataFrame:
    """The known record columns of `df` converted to ledger dtypes (other columns left alone); a new frame."""
    out = df.copy()
    for col in out.columns:
        if col in _KIND and str(out[col].dtype) != (want := dtype_of(col)):
            out[col] = _coerce_series(col, out[col], want)
    return out


def to_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Records (dicts, or a DataFrame of them) as a typed frame with exactly the `RECORD_COLUMNS`, in order."""
    import pandas as pd

    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    return coerce_types(df.reindex(columns=list(RECORD_COLUMNS)).reset_index(drop=True))
