"""Session settings: the defaults connect() clients and compare use, validated like ak.Routing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from traitlets import TraitError

import auriko_nb as ak
from auriko_nb.notebook.connect import connect
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import GatewayHandle, serve


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=11, speed=0.02) as g:
        yield g


def test_invalid_routing_is_refused_and_nothing_changes() -> None:
    settings.routing = {"optimize": "ttft"}
    with pytest.raises(TraitError, match="gateway.routing.optimize"):
        settings.routing = {"optimize": "fastest"}
    with pytest.raises(TraitError, match="mutually exclusive"):
        settings.routing = {"only_byok": True, "only_platform": True}
    with pytest.raises(TraitError, match="max_tokens"):
        settings.max_tokens = 0
    assert settings.routing == {"optimize": "ttft"}


def test_connect_clients_follow_the_session_settings(gw: GatewayHandle) -> None:
    client = connect(mode="live", api_key="ak_test_session", base_url=gw.base_url)
    sent = lambda: gw.stats.requests[-1]["body"]  # noqa: E731
    client.chat("a")
    assert sent()["model"] == "gpt-4o-mini" and "gateway" not in sent()
    settings.model, settings.routing, settings.max_tokens = "llama-3.3-70b", {"optimize": "tps", "max_ttft_ms": 900}, 33
    client.chat("b")
    assert sent()["model"] == "llama-3.3-70b" and sent()["gateway"]["routing"] == {"optimize": "tps", "max_ttft_ms": 900}
    assert sent()["max_tokens"] == 33
    settings.optimize_enabled = False
    client.chat("c")
    assert "gateway" not in sent()
    settings.optimize_enabled = True
    client.chat("d", routing={})  # an explicit "no preference" for one call
    assert "gateway" not in sent()
    client.chat("e", model="gpt-4o", routing={"optimize": "cost"}, max_tokens=5)
    assert sent()["model"] == "gpt-4o" and sent()["gateway"]["routing"] == {"optimize": "cost"} and sent()["max_tokens"] == 5
    plain = ak.Client("ak_test_session", base_url=gw.base_url)
    with pytest.raises(ak.RequestValidationError, match="model"):
        plain.chat("plain clients do not use session defaults")


def test_compare_uses_the_session_defaults(gw: GatewayHandle) -> None:
    settings.model, settings.routing = "deepseek-chat", {"optimize": "ttft-focus"}
    df = ak.compare(["x"], client=ak.Client("ak_test_session", base_url=gw.base_url), ledger=None, progress=False)
    assert df["model_requested"].iloc[0] == "deepseek-chat" and df["optimize"].iloc[0] == "ttft-focus"
    assert gw.stats.requests[-1]["body"]["gateway"]["routing"] == {"optimize": "ttft-focus"}
