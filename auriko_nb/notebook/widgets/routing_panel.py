"""The session routing toggle: widgets bound both ways to `ak.settings` (optimization on/off and `gateway.routing`).

Every edit builds a candidate routing dict and validates it with `coerce_routing`; a valid one is applied to the
settings at once, an invalid one is shown inline and not applied. Changes made to the settings elsewhere (code,
`%config`, another panel) are reflected back into the widgets.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import ipywidgets as w
from traitlets import CUnicode, TraitError

from ...errors import RequestValidationError
from ...types.request import STRATEGIES, WEIGHT_KEYS, coerce_routing
from ..settings import Settings
from ._common import (
    ERROR_STYLE,
    NOTE_STYLE,
    OFFLINE_LABEL,
    STRATEGY_HELP,
    WARNING_STYLE,
    WIDE,
    DisplayMixin,
    choices_from,
    close_tree,
    default_client,
    is_offline,
    message_html,
    one_line,
)

CUSTOM = "custom"
NO_STRATEGY = ""
UNSET = ""
NOT_SENT = "no routing preference sent"
# The routing fields this panel edits; any other field already in the settings is kept as it is.
PANEL_FIELDS = ("optimize", "weights", "max_ttft_ms", "max_cost_per_1m", "min_throughput_tps", "providers",
                "exclude_providers", "data_policy")
DEFAULT_WEIGHT = 0.5
UNSET_HINT = "unset"
NOTHING_TO_SWITCH = "routing: nothing to switch"
NOTHING_TIP = "no strategy or option is set: there is no gateway.routing to send or to switch off"
STRATEGY_NOTES = {NO_STRATEGY: "no strategy sent: the gateway's default (cost-focus)",
                  CUSTOM: "your own weights of price, first token and throughput"}
SWITCH_TIP = "send gateway.routing with every default call"


class LimitText(w.Text):
    """A limit field: empty (placeholder "unset") when the limit is not set; numbers assigned from code become text."""

    value = CUnicode("", help="the limit as typed; empty: unset").tag(sync=True)


def _limit_text(value: Any) -> str:
    """A routing limit as the field shows it: "" when unset (None or 0), else the number without a trailing .0."""
    if not value:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _limit_value(field: str, text: str, kind: type[float] | type[int]) -> float | int | None:
    """A limit field's text as a number: None when empty or 0 (unset); other text is a one-line error."""
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise RequestValidationError(f"{field}: {text!r} is not a number (leave it empty for unset)") from None
    if kind is int and not number.is_integer():
        raise RequestValidationError(f"{field}: {text!r} is not a whole number of ms")
    return kind(number) if number else None


def _providers_from(client: Any) -> tuple[list[str], str]:
    """Provider ids from the registry and a note ("" when it worked), never raising."""
    return choices_from(client, lambda c: c.registry_providers().ids, "no client: include/exclude are empty",
                        "could not read providers from the registry ({error}); include/exclude are empty")


class RoutingPanel(DisplayMixin):
    """Widgets for the session routing defaults; `panel.widget` is the VBox shown in a notebook."""

    def __init__(self, settings: Settings | None = None, client: Any = None) -> None:
        if settings is None:
            from ..settings import settings as session_settings

            settings = session_settings
        self.settings = settings
        self.client = client = default_client(client)
        self.error = ""
        self.warning = ""
        self._syncing = False
        self._applying = False
        providers, note = _providers_from(client)  # first: its response may say the gateway is offline
        self.offline = client is not None and is_offline(client)
        self._build_controls(providers, note)
        self.widget = self._layout()
        self._controls: list[Any] = [self.enabled, self.strategy, *self.weights.values(), self.max_ttft_ms,
                                     self.max_cost_per_1m, self.min_throughput_tps, self.providers,
                                     self.exclude_providers, self.data_policy]
        for control in self._controls:
            control.observe(self._on_widget, names="value")
        settings.observe(self._on_settings, names=["routing", "optimize_enabled"])
        self._sync_from_settings()

    def _build_controls(self, providers: list[str], note: str) -> None:
        """The header, the inputs (their values come from the settings later) and the message labels."""
        title = "<b>Auriko routing</b> — session defaults for <code>%%auriko</code>, <code>ak.connect()</code>" \
                " clients and <code>compare</code>"
        if self.offline:
            title += f' <span style="color:#a15c00"><b>({OFFLINE_LABEL})</b></span>'
        self.header = w.HTML(title)
        self.enabled = w.ToggleButton(value=self.settings.optimize_enabled, icon="random", tooltip=SWITCH_TIP,
                                      layout=w.Layout(width="auto"))
        self.strategy = w.Dropdown(
            options=[("(none: gateway default)", NO_STRATEGY), *[(s, s) for s in STRATEGIES],
                     ("custom weights", CUSTOM)],
            value=NO_STRATEGY, description="strategy", style=WIDE, layout=w.Layout(width="auto"))
        self.strategy_help = w.HTML()
        self.weights = {k: w.FloatSlider(value=DEFAULT_WEIGHT, min=0.0, max=1.0, step=0.05, description=f"{k}",
                                         continuous_update=False, style=WIDE) for k in WEIGHT_KEYS}
        self.weights_box = w.VBox(list(self.weights.values()), layout=w.Layout(display="none"))
        limit = {"placeholder": UNSET_HINT, "style": WIDE, "layout": w.Layout(width="15em")}
        self.max_ttft_ms = LimitText(description="max TTFT (ms)", tooltip="empty = unset", **limit)
        self.max_cost_per_1m = LimitText(description="max $ per 1M tokens", tooltip="empty = unset", **limit)
        self.min_throughput_tps = LimitText(description="min tokens/s", tooltip="empty = unset", **limit)
        self.providers = w.SelectMultiple(options=list(providers), value=(), description="include", rows=6,
                                          style=WIDE)
        self.exclude_providers = w.SelectMultiple(options=list(providers), value=(), description="exclude", rows=6,
                                                  style=WIDE)
        self.providers_note = w.HTML(message_html(note, NOTE_STYLE))
        self.data_policy = w.Dropdown(options=[("(unset)", UNSET), ("none", "none"),
                                               ("no_training", "no_training"), ("zdr", "zdr")],
                                      value=UNSET, description="data policy", style=WIDE)
        self.error_label = w.HTML()
        self.warning_label = w.HTML()
        self.preview = w.HTML()

    def _layout(self) -> Any:
        """The panel's VBox: the controls in rows, then the messages and the preview."""
        return w.VBox([
            self.header,
            w.HBox([self.enabled, self.strategy, self.strategy_help]),
            self.weights_box,
            w.HBox([self.max_ttft_ms, self.max_cost_per_1m, self.min_throughput_tps]),
            w.HBox([self.providers, self.exclude_providers]),
            self.providers_note,
            self.data_policy,
            self.error_label,
            self.warning_label,
            w.HTML("<b>gateway.routing sent by default calls:</b>"),
            self.preview,
        ])

    # -- widgets -> candidate -> settings ----------------------------------------------------------------

    def candidate(self) -> dict[str, Any]:
        """The routing dict the widgets describe (fields the panel does not edit are kept from the settings)."""
        out: dict[str, Any] = {k: v for k, v in self.settings.routing.items() if k not in PANEL_FIELDS}
        if self.strategy.value == CUSTOM:
            out["weights"] = {k: float(s.value) for k, s in self.weights.items()}
        elif self.strategy.value != NO_STRATEGY:
            out["optimize"] = self.strategy.value
        limits = (("max_ttft_ms", self.max_ttft_ms, int), ("max_cost_per_1m", self.max_cost_per_1m, float),
                  ("min_throughput_tps", self.min_throughput_tps, float))
        for field, box, kind in limits:
            value = _limit_value(box.description, box.value, kind)
            if value is not None:
                out[field] = value
        if self.providers.value:
            out["providers"] = list(self.providers.value)
        if self.exclude_providers.value:
            out["exclude_providers"] = list(self.exclude_providers.value)
        if self.data_policy.value != UNSET:
            out["data_policy"] = self.data_policy.value
        return out

    def _on_widget(self, change: dict[str, Any]) -> None:
        self._show_strategy()
        self._show_switch()
        if not self._syncing:
            self.apply()

    @contextmanager
    def _own_change(self) -> Iterator[None]:
        self._applying = True
        try:
            yield
        finally:
            self._applying = False

    def apply(self) -> bool:
        """Validate the candidate; apply it to the settings if valid, else show the error. True when applied.

        The on/off switch is always applied (off must always be possible); the routing dict only when valid.
        """
        with self._own_change():
            self.settings.optimize_enabled = bool(self.enabled.value)
        try:
            r = coerce_routing(self.candidate())
            routing = r.to_dict() if r else {}
            with self._own_change():
                self.settings.routing = routing
        except (RequestValidationError, TraitError) as e:
            self._set_error(f"not applied: {one_line(e)}")
            self._refresh_preview()
            return False
        self._set_error("")
        self._refresh_preview()
        return True

    # -- settings -> widgets -----------------------------------------------------------------------------

    def _on_settings(self, change: dict[str, Any]) -> None:
        if self._applying:
            return
        self._sync_from_settings()

    def _sync_from_settings(self) -> None:
        """Show the settings in the widgets (no re-apply); a pending invalid edit is replaced and its error cleared."""
        r = self.settings.routing
        self._syncing = True
        try:
            self.enabled.value = self.settings.optimize_enabled
            weights = r.get("weights")
            if weights:
                self.strategy.value = CUSTOM
                for k, slider in self.weights.items():
                    value = float(weights.get(k, 0.0))
                    slider.max = max(slider.max, value)
                    slider.value = value
            else:
                self.strategy.value = r.get("optimize") or NO_STRATEGY
            self.max_ttft_ms.value = _limit_text(r.get("max_ttft_ms"))
            self.max_cost_per_1m.value = _limit_text(r.get("max_cost_per_1m"))
            self.min_throughput_tps.value = _limit_text(r.get("min_throughput_tps"))
            self._select(self.providers, r.get("providers") or [])
            self._select(self.exclude_providers, r.get("exclude_providers") or [])
            self.data_policy.value = r.get("data_policy") or UNSET
        finally:
            self._syncing = False
        self._show_strategy()
        self._set_error("")
        self._refresh_preview()

    @staticmethod
    def _select(box: Any, values: Sequence[str]) -> None:
        missing = [v for v in values if v not in box.options]
        if missing:
            box.options = [*box.options, *missing]
        box.value = tuple(values)

    # -- display -----------------------------------------------------------------------------------------

    @property
    def preview_text(self) -> str:
        """What the preview shows: the JSON a default call sends as `gateway.routing`, or that none is sent."""
        sent = self.settings.effective_routing()
        if sent is None:
            why = "routing optimization is off" if not self.settings.optimize_enabled else "no options set"
            return f"{NOT_SENT} ({why})"
        return json.dumps(sent, indent=2)

    def _refresh_preview(self) -> None:
        self.preview.value = f"<pre>{html.escape(self.preview_text)}</pre>"
        self._show_switch()
        self._refresh_warning()

    def _show_strategy(self) -> None:
        """One line on what the chosen strategy does, and the weights only for custom weights."""
        self.weights_box.layout.display = "" if self.strategy.value == CUSTOM else "none"
        self.strategy_help.value = message_html(STRATEGY_HELP.get(self.strategy.value, STRATEGY_NOTES.get(
            self.strategy.value, "")), NOTE_STYLE)

    def _show_switch(self) -> None:
        """The on/off switch says what it does; with nothing set (no strategy, no option) it has nothing to switch,
        so it is disabled and says so."""
        idle = not self.settings.routing and not self.candidate_is_set()
        self.enabled.disabled = idle
        self.enabled.description = (NOTHING_TO_SWITCH if idle else "routing on" if self.enabled.value
                                    else "routing off")
        self.enabled.tooltip = NOTHING_TIP if idle else SWITCH_TIP

    def candidate_is_set(self) -> bool:
        """Whether the widgets set anything (a strategy, a limit, providers or a data policy), valid or not."""
        limits = (self.max_ttft_ms, self.max_cost_per_1m, self.min_throughput_tps)
        return (self.strategy.value != NO_STRATEGY or any(box.value.strip() for box in limits)
                or bool(self.providers.value) or bool(self.exclude_providers.value) or self.data_policy.value != UNSET)

    def _refresh_warning(self) -> None:
        both = sorted(set(self.providers.value) & set(self.exclude_providers.value))
        self.warning = (f"providers both included and excluded: {', '.join(both)} (the API accepts this; "
                        "check it is what you mean)") if both else ""
        self.warning_label.value = message_html(self.warning, WARNING_STYLE)

    def _set_error(self, text: str) -> None:
        self.error = text
        self.error_label.value = message_html(text, ERROR_STYLE)

    def close(self) -> None:
        """Stop following the settings and close the widgets."""
        with suppress(ValueError):
            self.settings.unobserve(self._on_settings, names=["routing", "optimize_enabled"])
        close_tree(self.widget)

    def __repr__(self) -> str:
        state = "on" if self.settings.optimize_enabled else "off"
        return f"RoutingPanel(routing {state}, sends {self.settings.effective_routing()})"


def routing_panel(settings: Settings | None = None, client: Any = None) -> RoutingPanel:
    """The session routing toggle (shown when it is the last expression of a cell)."""
    return RoutingPanel(settings=settings, client=client)
