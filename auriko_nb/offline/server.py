"""Serve the offline gateway with uvicorn on loopback, in a background thread (or the foreground, for the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from starlette.applications import Starlette

from .app import create_app
from .budget import BudgetConfig
from .emit import install_log_filter
from .faults import FaultConfig
from .state import Stats

__all__ = ["GatewayHandle", "serve", "bind_socket", "make_server"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (port 0 picks a free one), so the port is known before the server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # proto lets asyncio set TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(app: Starlette, *, log_level: str = "warning", embedded: bool = True) -> Any:
    """A uvicorn Server for the app: h11, no lifespan, quick graceful shutdown, no global logging changes."""
    import uvicorn  # heavy import, only when serving

    install_log_filter()
    config = uvicorn.Config(
        app, log_config=None if embedded else uvicorn.config.LOGGING_CONFIG, log_level=log_level, access_log=False,
        lifespan="off", http="h11", ws="none", loop="asyncio", timeout_graceful_shutdown=1, server_header=False,
        backlog=4096, timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class GatewayHandle:
    """A running embedded gateway: its URLs, stats and app; a context manager that stops it on exit."""

    def __init__(self, app: Starlette, server: Any, thread: threading.Thread, sock: socket.socket, host: str) -> None:
        self.app = app
        self.host = host
        self.port: int = sock.getsockname()[1]
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{self.port}"
        self.base_url = self.url + "/v1"
        self._server = server
        self._thread = thread
        self._sock = sock
        self._lock = threading.Lock()

    @property
    def stats(self) -> Stats:
        """The gateway's live stats (thread-safe)."""
        stats: Stats = self.app.state.sim.stats
        return stats

    @property
    def running(self) -> bool:
        """Whether the server thread is still alive."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (idempotent); open requests get about a second, then are cancelled."""
        with self._lock:
            self._server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(2.0)
            self._sock.close()

    def __enter__(self) -> GatewayHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<auriko_nb offline gateway (simulation) {self.base_url} {state}>"


def serve(seed: int = 0, speed: float = 1.0, faults: FaultConfig | Mapping[str, Any] | None = None, port: int = 0,
          host: str = "127.0.0.1", rpm: int | None = None, credit_usd: float = 25.0,
          startup_timeout: float = 10.0, fixed_latency_ms: float | None = None,
          budget: BudgetConfig | float | Mapping[str, Any] | None = None) -> GatewayHandle:
    """Start the offline gateway in a daemon thread; returns once it accepts connections.

    `fixed_latency_ms` pins every call's TTFT (times `speed`), with the rest of the answer right after.
    `budget` simulates a spending cap (USD or {limit_usd, period, scope}; see `auriko_nb.offline.budget`).
    """
    app = create_app(seed=seed, speed=speed, faults=faults, rpm=rpm, credit_usd=credit_usd,
                     fixed_latency_ms=fixed_latency_ms, budget=budget)
    sock = bind_socket(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"auriko-offline-{sock.getsockname()[1]}")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"offline gateway failed to start on {host}:{port}")
        time.sleep(0.005)
    return GatewayHandle(app, server, thread, sock, host)
