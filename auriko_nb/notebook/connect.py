"""`connect()`: the live API when a key is set, otherwise the embedded offline gateway, started on demand.

The toolkit's surfaces (magics, widgets, sweeps) all go through here, so "no key" always means "offline
simulation", said visibly in every display and recorded as `source = "offline"`.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING, Any, Literal

from ..client.clients import AsyncClient, Client

if TYPE_CHECKING:
    from ..offline import OfflineGateway

Mode = Literal["auto", "live", "offline"]
OFFLINE_KEY = "ak_offline_simulation"  # not a secret: the offline gateway accepts any ak_ key
SESSION: Any = type("SessionLedger", (), {"__repr__": lambda self: "SESSION"})()  # `ledger=` default: the session's

_lock = threading.Lock()
_gateways: dict[tuple[int, float], OfflineGateway] = {}


def offline_gateway(seed: int | None = None, speed: float | None = None) -> OfflineGateway:
    """The process-wide offline gateway for (seed, speed), started on first use and reused after."""
    from ..offline import serve

    seed = int(os.environ.get("AURIKO_NB_OFFLINE_SEED", "0")) if seed is None else seed
    speed = float(os.environ.get("AURIKO_NB_OFFLINE_SPEED", "1.0")) if speed is None else speed
    with _lock:
        gw = _gateways.get((seed, speed))
        if gw is None:
            if not _gateways:
                atexit.register(stop_offline_gateways)
            gw = _gateways[(seed, speed)] = serve(seed=seed, speed=speed)
        return gw


def stop_offline_gateways() -> None:
    """Stop every gateway `offline_gateway()` started (registered to run at interpreter exit)."""
    with _lock:
        started = list(_gateways.values())
        _gateways.clear()
    for gw in started:
        gw.stop()


def _resolve(api_key: str | None, base_url: str | None, mode: Mode, seed: int | None,
             speed: float | None) -> tuple[str | None, str | None, str]:
    if mode not in ("auto", "live", "offline"):
        raise ValueError(f"mode must be 'auto', 'live' or 'offline', not {mode!r}")
    key = api_key or os.environ.get("AURIKO_API_KEY")
    if mode == "live" or (mode == "auto" and key):
        return key, base_url, "live"
    gw = offline_gateway(seed, speed)
    return OFFLINE_KEY, gw.base_url, "offline"


def connect(api_key: str | None = None, *, mode: Mode = "auto", base_url: str | None = None,
            seed: int | None = None, speed: float | None = None, ledger: Any = SESSION,
            **client_kwargs: Any) -> Client:
    """A `Client` on the live API if a key is given or set, else on the offline gateway (`mode` forces one).

    A notebook entry point: its calls default to the session settings (`ak.settings`: model, routing, max tokens;
    pass `routing={}` for no routing preference on one call) and are appended to the session ledger, besides any
    `on_record` hooks given (see `notebook.attach.attach`). `ledger=` (a file, a postgresql:// URL or a
    `Ledger`; None: none) sends this client's calls there instead; one that cannot be opened raises here.
    """
    # notebook.attach (traitlets, sqlite) loads on the first connect, not on `import auriko_nb`
    from .attach import attach, open_ledger

    ledger = ledger if ledger is SESSION else open_ledger(ledger)  # a bad target fails before a client exists
    key, url, source = _resolve(api_key, base_url, mode, seed, speed)
    client = Client(key, base_url=url, **client_kwargs)
    client.source = source
    return attach(client) if ledger is SESSION else attach(client, ledger=ledger)


def connect_async(api_key: str | None = None, *, mode: Mode = "auto", base_url: str | None = None,
                  seed: int | None = None, speed: float | None = None, ledger: Any = SESSION,
                  **client_kwargs: Any) -> AsyncClient:
    """The async twin of `connect` (`ledger=` as there)."""
    from .attach import attach, open_ledger

    ledger = ledger if ledger is SESSION else open_ledger(ledger)
    key, url, source = _resolve(api_key, base_url, mode, seed, speed)
    client = AsyncClient(key, base_url=url, **client_kwargs)
    client.source = source
    return attach(client) if ledger is SESSION else attach(client, ledger=ledger)
