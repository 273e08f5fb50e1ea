"""Shared helpers of the reliability suite (a uniquely named module; the test files import it directly).

`figure(section, name, value)` records a number for RELIABILITY.md: when AURIKO_NB_REL_FIGURES names a file,
each call appends one JSON line to it (tests/reliability/report.py sets it, runs the suite and writes the
document); otherwise it does nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

FIGURES_ENV = "AURIKO_NB_REL_FIGURES"
CHAT_PATH = "/v1/chat/completions"


def figure(section: str, name: str, value: Any) -> None:
    """Record one figure for the report (no-op unless AURIKO_NB_REL_FIGURES is set)."""
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"section": section, "name": name, "value": value}, default=str) + "\n")


def canary_key() -> str:
    """A fresh canary API key: `ak_test_canary_<random hex>` (the offline gateway accepts any ak_ key)."""
    return "ak_test_canary_" + secrets.token_hex(12)


def key_fragments(key: str) -> list[str]:
    """The key and the parts of it that would still identify it if printed (hex body, either half)."""
    body = key.removeprefix("ak_test_canary_")
    return [key, body, body[: len(body) // 2], body[len(body) // 2:]]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(step)
    return True


def chat_requests(stats: Any) -> list[dict[str, Any]]:
    """The gateway's records of inference requests, in arrival order."""
    return sorted((r for r in stats.requests if r["path"] == CHAT_PATH), key=lambda r: r["number"])


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def raw_http_server(handler: Callable[[socket.socket], None]) -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback TCP server running `handler(conn)` per connection in a thread; yields (base_url, connections).

    For what the offline gateway cannot do: a stream that stalls after it began, a body that drips forever.
    """
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        try:
            handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def accept_loop() -> None:
        srv.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept_loop, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1", conns
    finally:
        stop.set()
        t.join(2)
        srv.close()


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body) from a raw connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def peer_closed(conn: socket.socket, timeout: float) -> bool:
    """Whether the client closed this connection within `timeout` seconds (reads EOF or a reset)."""
    conn.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if conn.recv(65536) == b"":
                return True
    except TimeoutError:
        return False
    except OSError:
        return True
    return False


@contextmanager
def never_accepting() -> Iterator[str]:
    """A loopback port whose accept queue is full: connecting to it hangs until the client gives up."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        with suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for s in fillers:
            s.close()
        srv.close()
