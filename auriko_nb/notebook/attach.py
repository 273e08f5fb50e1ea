"""The notebook conveniences, in one place: the session ledger hook and the session defaults (`ak.settings`).

A plain `Client` has neither; `ak.connect()`, the magics, the panels and `ak.compare` without a client get
both through `attach`.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import TypeVar

from ..client.base import BaseClient, Record
from ..measure.ledger import Ledger, session_ledger
from .settings import settings

C = TypeVar("C", bound=BaseClient)


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
    except (sqlite3.Error, OSError) as e:
        warnings.warn(f"auriko_nb: could not write the call to the session ledger {ledger.path}: {e}", stacklevel=2)


def attach(client: C) -> C:
    """Give a client the session ledger (first of its hooks) and the session defaults; returns the client."""
    if session_ledger_hook not in client.record_hooks:
        client.record_hooks.insert(0, session_ledger_hook)
    client.defaults = settings
    return client


def session_ledger_path() -> Path | None:
    """The absolute path of the session ledger file the notebook entry points write, or None when it is off."""
    ledger = session_ledger()
    return Path(ledger.path).resolve() if ledger is not None else None
