"""The notebook conveniences, in one place: the session ledger hook and the session defaults (`ak.settings`).

A plain `Client` has neither; `ak.connect()`, the magics, the panels and `ak.compare` without a client get
both through `attach`.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..client.base import BaseClient, Record
from ..measure.ledger import Ledger, session_ledger
from .settings import settings

C = TypeVar("C", bound=BaseClient)


class _SessionLedger:
    def __repr__(self) -> str:
        return "SESSION_LEDGER"


SESSION_LEDGER: Any = _SessionLedger()  # `attach(client)`'s default: the calls go to the session ledger


def session_ledger_as_set() -> Ledger | None:
    """The session ledger (None when off), storing prompt and answer text as `ak.settings.store_text` says."""
    ledger = session_ledger()
    if ledger is not None:
        ledger.store_text = settings.store_text
    return ledger


def session_ledger_hook(record: Record) -> None:
    """Append a record to the session ledger, if one is on; a storage failure warns instead of failing the call."""
    ledger = session_ledger_as_set()
    if ledger is None:
        return
    try:
        ledger.append(record)
    except (sqlite3.Error, OSError) as e:  # LedgerError (a database down) is an OSError; its text is redacted
        warnings.warn(f"auriko_nb: could not write the call to the session ledger {ledger.location}: {e}",
                      stacklevel=2)


def ledger_hook(ledger: Ledger) -> Callable[[Record], None]:
    """A record hook appending to `ledger`; like the session ledger's, a storage failure warns, the call stands."""
    def hook(record: Record) -> None:
        try:
            ledger.append(record)
        except (sqlite3.Error, OSError) as e:
            warnings.warn(f"auriko_nb: could not write the call to the ledger {ledger.location}: {e}", stacklevel=2)

    hook.ledger = ledger  # type: ignore[attr-defined]  # which ledger a client's hook writes, for a reader
    return hook


def attach(client: C, ledger: Any = SESSION_LEDGER) -> C:
    """Give a client a ledger (first of its hooks) and the session defaults; returns the client.

    `ledger`: the session ledger (default), a file path, a postgresql:// URL or a `Ledger` for this client's
    calls instead, or None for no ledger. A target that cannot be opened raises here, before any call.
    """
    if ledger is SESSION_LEDGER:
        if session_ledger_hook not in client.record_hooks:
            client.record_hooks.insert(0, session_ledger_hook)
    elif (opened := open_ledger(ledger)) is not None:
        client.record_hooks.insert(0, ledger_hook(opened))
    client.defaults = settings
    return client


def open_ledger(target: Any) -> Ledger | None:
    """A `Ledger` for a file path or postgresql:// URL (storing text as `ak.settings.store_text` says); a `Ledger`
    or None as given. Raises `LedgerError` (one line, no password) when it cannot be opened."""
    if target is None or isinstance(target, Ledger):
        return target
    return Ledger(os.fspath(target) if isinstance(target, os.PathLike) else target, store_text=settings.store_text)


def session_ledger_path() -> Path | None:
    """The absolute path of the session ledger file, or None when it is off or not a file (a database URL)."""
    ledger = session_ledger()
    path = getattr(ledger, "path", None)
    return Path(path).resolve() if ledger is not None and path is not None else None


def session_ledger_location() -> str | None:
    """Where the session ledger is, for display: its absolute file path or its URL without the password; None: off."""
    ledger = session_ledger()
    if ledger is None:
        return None
    path = getattr(ledger, "path", None)
    return str(Path(path).resolve()) if path is not None else ledger.location
