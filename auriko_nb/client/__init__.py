"""The HTTP client layer: `Client` and `AsyncClient` over httpx, streaming, retries, and one record per call.

It imports only `auriko_nb.types` and `auriko_nb.errors`: no session, ledger, notebook or widget code.
"""

from .clients import AsyncClient, Client

__all__ = ["AsyncClient", "Client"]
