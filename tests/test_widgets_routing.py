"""The routing toggle: widgets drive `ak.settings`, and so what the gateway receives on the next default call;
invalid edits are shown inline and not applied; external changes to the settings show up in the widgets."""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kernel_helpers import kernel

import auriko_nb as ak
from auriko_nb.notebook.connect import connect
from auriko_nb.notebook.settings import settings
from auriko_nb.notebook.widgets import RoutingPanel, routing_panel
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_widgets"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=21, speed=0.02) as g:
        yield g


@pytest.fixture
def panel(gw: GatewayHandle) -> Iterator[RoutingPanel]:
    p = routing_panel(client=ak.Client(KEY, base_url=gw.base_url))
    yield p
    p.close()


def next_call_routing(gw: GatewayHandle) -> Any:
    """Make a default call as a `connect()` client does and return the `gateway.routing` the gateway received
    (the gateway may refuse a constraint it cannot meet: what matters here is what it was sent)."""
    before = len(gw.stats.requests)
    with contextlib.suppress(ak.AurikoError):
        connect(mode="live", api_key=KEY, base_url=gw.base_url, max_retries=0).chat("x")
    assert len(gw.stats.requests) == before + 1
    return gw.stats.requests[-1]["body"].get("gateway", {}).get("routing")


def preview(panel: RoutingPanel) -> str:
    m = re.fullmatch(r"<pre>(.*)</pre>", panel.preview.value, re.S)
    assert m, panel.preview.value
    return html.unescape(m.group(1))


def test_the_switch_turns_routing_off_and_on_for_the_next_call(panel: RoutingPanel, gw: GatewayHandle) -> None:
    panel.strategy.value = "cost"
    assert next_call_routing(gw) == {"optimize": "cost"}
    panel.enabled.value = False
    assert settings.optimize_enabled is False and settings.routing == {"optimize": "cost"}
    assert next_call_routing(gw) is None
    assert "gateway" not in gw.stats.requests[-1]["body"]
    assert preview(panel).startswith("no routing preference sent") and "off" in preview(panel)
    assert panel.enabled.description == "routing off"
    panel.enabled.value = True
    assert next_call_routing(gw) == {"optimize": "cost"}


def test_ttft_focus_with_a_max_ttft_sends_exactly_that_and_the_preview_shows_it(
        panel: RoutingPanel, gw: GatewayHandle) -> None:
    assert preview(panel) == "no routing preference sent (no options set)"
    assert next_call_routing(gw) is None
    panel.strategy.value = "ttft-focus"
    panel.max_ttft_ms.value = 750
    assert settings.routing == {"optimize": "ttft-focus", "max_ttft_ms": 750}
    sent = next_call_routing(gw)
    assert sent == {"optimize": "ttft-focus", "max_ttft_ms": 750}
    assert preview(panel) == json.dumps(sent, indent=2)
    assert panel.error == "" and panel.error_label.value == ""


def test_constraints_providers_and_data_policy_reach_the_gateway(panel: RoutingPanel, gw: GatewayHandle) -> None:
    assert "groq" in panel.providers.options and "openai" in panel.exclude_providers.options
    panel.strategy.value = "balanced"
    panel.max_cost_per_1m.value = 3.5
    panel.min_throughput_tps.value = 40
    panel.providers.value = ("azure", "openai")
    panel.exclude_providers.value = ("groq",)
    panel.data_policy.value = "zdr"
    want = {"optimize": "balanced", "max_cost_per_1m": 3.5, "min_throughput_tps": 40.0,
            "providers": ["azure", "openai"], "exclude_providers": ["groq"], "data_policy": "zdr"}
    sent = next_call_routing(gw)
    assert sent == want
    assert json.loads(preview(panel)) == sent
    # 0 and "(unset)" mean unset: the field disappears from what is sent
    panel.max_cost_per_1m.value = 0
    panel.data_policy.value = ""
    panel.providers.value = ()
    assert next_call_routing(gw) == {"optimize": "balanced", "min_throughput_tps": 40.0,
                                     "exclude_providers": ["groq"]}


def test_custom_weights_all_zero_show_an_inline_error_and_change_nothing(
        panel: RoutingPanel, gw: GatewayHandle) -> None:
    assert panel.weights_box.layout.display == "none"
    panel.strategy.value = "custom"
    assert panel.weights_box.layout.display == ""
    panel.weights["cost"].value = 0.0
    panel.weights["ttft"].value = 0.0
    valid = {"weights": {"cost": 0.0, "ttft": 0.0, "throughput": 0.5}}
    assert settings.routing == valid and panel.error == ""
    shown = preview(panel)
    panel.weights["throughput"].value = 0.0  # now all zero: invalid
    assert "at least one weight must be > 0" in panel.error
    assert "color:#b00020" in panel.error_label.value and "at least one weight" in panel.error_label.value
    assert "\n" not in panel.error and "Traceback" not in panel.error
    assert settings.routing == valid and settings.optimize_enabled is True
    assert preview(panel) == shown  # the preview keeps showing what is really sent
    assert next_call_routing(gw) == valid
    panel.weights["ttft"].value = 0.3  # fixed: applied, error gone
    assert panel.error == "" and panel.error_label.value == ""
    assert next_call_routing(gw) == {"weights": {"cost": 0.0, "ttft": 0.3, "throughput": 0.0}}


def test_include_and_exclude_overlapping_is_applied_with_a_warning(panel: RoutingPanel, gw: GatewayHandle) -> None:
    panel.providers.value = ("groq", "openai")
    panel.exclude_providers.value = ("groq",)
    assert "groq" in panel.warning and "groq" in panel.warning_label.value
    assert panel.error == ""
    assert next_call_routing(gw) == {"providers": ["groq", "openai"], "exclude_providers": ["groq"]}
    panel.exclude_providers.value = ()
    assert panel.warning == "" and panel.warning_label.value == ""


def test_external_changes_to_the_settings_update_the_widgets(panel: RoutingPanel, gw: GatewayHandle) -> None:
    settings.routing = {"optimize": "tps", "max_cost_per_1m": 2.5, "exclude_providers": ["groq"],
                        "data_policy": "no_training", "tier": "priority"}
    # the limit fields are text (issue 15: empty, not 0, when unset): 2.5 shows as "2.5"
    assert panel.strategy.value == "tps" and panel.max_cost_per_1m.value == "2.5"
    assert panel.exclude_providers.value == ("groq",) and panel.data_policy.value == "no_training"
    assert panel.max_ttft_ms.value == "" and panel.providers.value == ()
    assert json.loads(preview(panel)) == settings.routing
    # a field the panel does not edit survives an edit made in the panel
    panel.max_ttft_ms.value = 600
    assert next_call_routing(gw) == {"optimize": "tps", "max_cost_per_1m": 2.5, "max_ttft_ms": 600,
                                     "exclude_providers": ["groq"], "data_policy": "no_training",
                                     "tier": "priority"}
    settings.optimize_enabled = False
    assert panel.enabled.value is False and panel.enabled.description == "routing off"
    assert preview(panel).startswith("no routing preference sent")
    settings.optimize_enabled = True
    # weights from code: the picker shows custom weights, sliders follow (and widen past 1)
    settings.routing = {"weights": {"cost": 2.0, "ttft": 0.25}, "providers": ["not-in-registry"]}
    assert panel.strategy.value == "custom" and panel.weights_box.layout.display == ""
    assert panel.weights["cost"].value == 2.0 and panel.weights["ttft"].value == 0.25
    assert panel.weights["throughput"].value == 0.0
    assert panel.providers.value == ("not-in-registry",)
    assert settings.routing == {"weights": {"cost": 2.0, "ttft": 0.25}, "providers": ["not-in-registry"]}
    # a pending invalid edit is replaced by the external change, and its error cleared
    panel.weights["cost"].value = 0.0
    panel.weights["ttft"].value = 0.0
    assert panel.error
    settings.reset()
    assert panel.error == "" and panel.strategy.value == "" and panel.providers.value == ()
    assert panel.enabled.value is True and settings.routing == {}
    assert preview(panel) == "no routing preference sent (no options set)"


def test_a_separate_settings_object_is_left_alone_by_other_panels(gw: GatewayHandle) -> None:
    from auriko_nb.notebook.settings import Settings

    mine = Settings()
    p = routing_panel(settings=mine, client=ak.Client(KEY, base_url=gw.base_url))
    try:
        p.strategy.value = "cost"
        assert mine.routing == {"optimize": "cost"} and settings.routing == {}
    finally:
        p.close()
    mine.routing = {"optimize": "tps"}  # closed: no longer followed
    assert p.strategy.value == "cost"


def test_offline_clients_are_labelled(panel: RoutingPanel) -> None:
    assert "offline simulation" not in panel.header.value
    offline_client = connect(mode="offline", seed=21, speed=0.02)
    assert offline_client.source == "offline"
    p = routing_panel(client=offline_client)
    try:
        assert "offline simulation" in p.header.value
        assert len(p.providers.options) > 3
    finally:
        p.close()


def test_a_registry_failure_leaves_provider_choices_empty_with_a_note(gw: GatewayHandle) -> None:
    dead = ak.Client(KEY, base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    p = routing_panel(client=dead)
    try:
        assert p.providers.options == () and p.exclude_providers.options == ()
        assert "could not read providers" in p.providers_note.value
        p.strategy.value = "ttft"
        assert settings.routing == {"optimize": "ttft"}
    finally:
        p.close()


def test_the_panel_displays_itself(panel: RoutingPanel) -> None:
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert "RoutingPanel(routing on" in repr(panel)


def test_importing_the_package_does_not_import_widgets_or_matplotlib() -> None:
    code = ("import sys, auriko_nb; import auriko_nb.notebook.settings, auriko_nb.measure.sweep; "
            "bad = [m for m in ('ipywidgets', 'matplotlib') if m in sys.modules]; "
            "assert not bad, bad; import auriko_nb.notebook.widgets; assert 'ipywidgets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_a_client_the_panel_uses_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    monkeypatch.setenv("AURIKO_NB_OFFLINE_SPEED", "0.02")
    p = routing_panel()
    try:
        assert p.client is not None and p.client.source == "offline"
        assert "offline simulation" in p.header.value and "groq" in p.providers.options
    finally:
        p.close()


@pytest.mark.skipif(os.environ.get("AURIKO_NB_SKIP_KERNEL") == "1", reason="kernel test disabled")
def test_in_a_real_kernel_the_toggle_changes_the_next_cell(gw: GatewayHandle) -> None:
    """The browser's edits (comm `update` messages) change what the next `%%auriko` cell sends, in a kernel."""
    with kernel() as (run, comm):
        def update(model_id: str, state: dict[str, Any]) -> None:  # what the frontend sends when a user edits
            comm(model_id, {"method": "update", "state": state})

        ids = run(
            "import os, json\n"
            f"os.environ['AURIKO_API_KEY'] = 'ak_test_kernel_toggle'; os.environ['AURIKO_BASE_URL'] = {gw.base_url!r}\n"
            "os.environ['AURIKO_NB_LEDGER'] = 'off'\n"
            "%load_ext auriko_nb\n"
            "import auriko_nb as ak\n"
            "panel = ak.routing_panel()\n"
            "print(panel.enabled.model_id, panel.strategy.model_id, json.dumps(panel.strategy.options))\n"
        ).split(" ", 2)
        enabled_id, strategy_id, options = ids[0], ids[1], json.loads(ids[2])
        labels = [o[0] if isinstance(o, list) else o for o in options]
        values = [o[1] if isinstance(o, list) else o for o in options]
        update(strategy_id, {"index": values.index("ttft-focus")})
        run("%%auriko --no-stream --max-tokens 5\nfirst")
        first = next_call_body(gw)
        update(enabled_id, {"value": False})
        run("%%auriko --no-stream --max-tokens 5\nsecond")
        second = next_call_body(gw)
        assert first["gateway"]["routing"] == {"optimize": "ttft-focus"}, (first, labels)
        assert "gateway" not in second or "routing" not in second["gateway"], second


def next_call_body(gw: GatewayHandle) -> Any:
    """The body of the last chat request the gateway received."""
    return [r for r in gw.stats.requests if r["path"].endswith("/chat/completions")][-1]["body"]


def test_unset_limits_show_empty_fields_and_typed_text_is_read_as_numbers(panel: RoutingPanel, gw: GatewayHandle) -> None:
    """Issue 15: an unset limit is an empty field with the placeholder "unset", not "0" ("max TTFT 0 ms")."""
    limits = (panel.max_ttft_ms, panel.max_cost_per_1m, panel.min_throughput_tps)
    assert [box.value for box in limits] == ["", "", ""]
    assert all(box.placeholder == "unset" for box in limits)
    assert "0" not in [box.value for box in limits]
    panel.strategy.value = "cost"
    panel.max_ttft_ms.value = " 800 "  # as typed in the browser
    panel.min_throughput_tps.value = "12.5"
    assert next_call_routing(gw) == {"optimize": "cost", "max_ttft_ms": 800, "min_throughput_tps": 12.5}
    panel.max_ttft_ms.value = ""  # cleared: unset again
    assert settings.routing == {"optimize": "cost", "min_throughput_tps": 12.5}
    panel.min_throughput_tps.value = "fast"
    assert panel.error == "not applied: min tokens/s: 'fast' is not a number (leave it empty for unset)"
    assert settings.routing == {"optimize": "cost", "min_throughput_tps": 12.5}  # unchanged
    panel.min_throughput_tps.value = "0"  # 0 still means unset
    assert panel.error == "" and settings.routing == {"optimize": "cost"}
    panel.max_ttft_ms.value = "-5"
    assert panel.error.startswith("not applied: ") and "max_ttft_ms" in panel.error and "\n" not in panel.error
    panel.max_ttft_ms.value = "2.5"
    assert "not a whole number" in panel.error
    settings.routing = {"max_ttft_ms": 1200, "min_throughput_tps": 30.0}  # set from code: shown as typed numbers
    assert [box.value for box in limits] == ["1200", "", "30"]


def test_no_label_is_cut_off(panel: RoutingPanel) -> None:
    """Every described control shows its whole description (description_width "initial")."""
    described = [panel.strategy, *panel.weights.values(), panel.max_ttft_ms, panel.max_cost_per_1m,
                 panel.min_throughput_tps, panel.providers, panel.exclude_providers, panel.data_policy]
    for control in described:
        assert control.description and control.style.description_width == "initial", control.description
    assert panel.max_ttft_ms.description == "max TTFT (ms)"
    assert panel.enabled.layout.width == "auto"  # the toggle is as wide as "routing: nothing to switch"


def test_with_nothing_set_the_switch_says_it_has_nothing_to_switch(panel: RoutingPanel, gw: GatewayHandle) -> None:
    """Issue 15: with strategy "(none)" and no option the on/off switch changed nothing and did not say so."""
    assert panel.strategy.value == "" and settings.routing == {}
    assert panel.enabled.disabled and panel.enabled.description == "routing: nothing to switch"
    assert panel.enabled.tooltip.startswith("no strategy or option is set")
    assert "gateway's default (cost-focus)" in html.unescape(panel.strategy_help.value)
    panel.strategy.value = "ttft-focus"
    assert not panel.enabled.disabled and panel.enabled.description == "routing on"
    assert "almost only the time to first token" in panel.strategy_help.value
    panel.enabled.value = False
    assert panel.enabled.description == "routing off" and next_call_routing(gw) is None
    panel.enabled.value = True
    panel.strategy.value = ""  # back to (none), but a limit alone is something to switch
    panel.max_ttft_ms.value = "900"
    assert not panel.enabled.disabled and panel.enabled.description == "routing on"
    assert next_call_routing(gw) == {"max_ttft_ms": 900}
    panel.max_ttft_ms.value = ""
    assert panel.enabled.disabled and panel.enabled.description == "routing: nothing to switch"
    settings.routing = {"tier": "priority"}  # a field set elsewhere: the switch switches it
    assert not panel.enabled.disabled and panel.enabled.description == "routing on"
