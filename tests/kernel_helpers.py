"""A real Jupyter kernel for widget tests: run cells in it and send it the comm messages a browser would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def kernel() -> Iterator[tuple[Callable[[str], str], Callable[[str, dict[str, Any]], None]]]:
    """A fresh python3 kernel: (run(code) -> what it printed, failing on an error; comm(model_id, data))."""
    jupyter_client = pytest.importorskip("jupyter_client")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")

    def run(code: str) -> str:
        out: list[str] = []
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
            m["content"].get("text", "") if m["msg_type"] == "stream" else
            m["content"].get("ename", "") + m["content"].get("evalue", "") if m["msg_type"] == "error" else ""))
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)

    def comm(model_id: str, data: dict[str, Any]) -> None:
        kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": model_id, "data": data}))

    try:
        yield run, comm
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
