"""`NotebookSession`: what `%auriko SUBCOMMAND` does, as plain methods a script can call too.

A session holds the connection (mode, offline speed, a login key that is never shown), the `--chat`
conversation and the records of its calls; each method returns a value (a DataFrame, a dict, a status
object); the magics only parse a line, call one of these and display what it returns.
"""

from __future__ import annotations

import difflib
import math
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from traitlets import CaselessStrEnum, Float, HasTraits, TraitError, observe, validate

from ..client.clients import Client
from ..client.streaming import ChatStream
from ..errors import AnalysisError, AurikoError, MagicUsageError, NotFoundError
from ..measure.checks import require_expectations, resolve_checks
from ..types.request import STRATEGIES
from .settings import Settings, settings

if TYPE_CHECKING:
    import pandas as pd

    from ..client.result import Result
    from ..measure.comparison import Comparison
    from ..measure.prompts import PromptSpec
    from ..measure.recommend import Recommendation
    from ..types.catalog import Model
    from .widgets.compare_panel import ComparePanel
    from .widgets.routing_panel import RoutingPanel

__all__ = ["CONFIG_KEYS", "LOG_COLUMNS", "PRICE_UNIT", "SLO_KEYS", "NotebookSession", "SessionStatus", "check_slo",
           "describe_settings", "require_expectations", "resolve_checks", "set_ledger", "summary_text"]

CONFIG_KEYS = ("model", "optimize", "max_ttft_ms", "max_cost_per_1m", "min_tps", "providers", "exclude", "prefer",
               "data_policy", "stream", "max_tokens", "ledger", "speed", "store_text")
_ROUTING_FIELDS = {"max_ttft_ms": "max_ttft_ms", "max_cost_per_1m": "max_cost_per_1m", "min_tps": "min_throughput_tps",
                   "providers": "providers", "exclude": "exclude_providers", "prefer": "prefer",
                   "data_policy": "data_policy"}
SLO_KEYS = ("max_ttft_p95_ms", "max_latency_p95_ms", "min_pass_rate", "min_success_rate")
"""The constraints of `ak.recommend` (measure.recommend.CONSTRAINTS), named here without loading pandas."""
CI_LEVEL = 0.95  # the interval level a `%%auriko --compare` cell shows and recommends at


def _flag(key: str, value: Any) -> bool:
    """A config switch: a bool, or true/false (on/off, yes/no, 1/0) as text; else one usage error line."""
    if isinstance(value, bool):
        return value
    words = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
    found = words.get(str(value).strip().lower()) if isinstance(value, str | int) else None
    if found is None:
        raise MagicUsageError(f"%auriko config: {key} needs true or false, got {value!r}")
    return found


def set_ledger(path: str | os.PathLike[str] | None) -> str | None:
    """Point the session ledger at a file or postgresql:// URL ('off' or None: off; '': as at start-up);
    return where it is (the file, or the URL without its password) or None."""
    from ..measure.ledger import DEFAULT_LEDGER_PATH, LEDGER_ENV, OFF_VALUES, set_session_ledger

    text = "off" if path is None else str(path).strip()
    if not text:  # as at start-up: $AURIKO_NB_LEDGER (which may say off) or ./auriko_ledger.sqlite
        text = os.environ.get(LEDGER_ENV, "").strip() or DEFAULT_LEDGER_PATH
    ledger = set_session_ledger(None if text.lower() in OFF_VALUES else text)
    return ledger.location if ledger is not None else None


PRICE_UNIT = "$ per 1M tokens"
"""The unit of every price column (`%auriko prices`, `%auriko models`)."""
LOG_COLUMNS = ("started_at", "model_requested", "model_canonical", "optimize", "routing_strategy", "provider",
               "ttft_ms_client", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "status")
"""The columns `%auriko log` leads with (what a person looks for first); the others follow."""

_ROUTING_WORDS: dict[str, str] = {
    "optimize": "strategy {}", "max_ttft_ms": "max TTFT {} ms", "max_cost_per_1m": "max ${} per 1M tokens",
    "min_throughput_tps": "min {} tokens/s", "providers": "only {}", "exclude_providers": "excluding {}",
    "prefer": "prefer {}", "require_parameters": "providers must support every parameter",
}


def _routing_words(s: Settings) -> str:
    """The session's routing defaults in words: off, no preference, or on with each preference."""
    if not s.optimize_enabled:
        return "off (calls send no routing preferences)"
    if not s.routing:
        return "no preference (the gateway picks its default strategy)"
    words = []
    for key, value in s.routing.items():
        text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
        words.append(_ROUTING_WORDS.get(key, key + " {}").format(text))
    return "on: " + ", ".join(words)


def _aligned(rows: Sequence[tuple[str, str]]) -> str:
    """`label:  value` lines with the values in one column."""
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join(f"{label + ':':<{width}}{value}" for label, value in rows)


def _settings_rows(s: Settings, ledger: str | None) -> list[tuple[str, str]]:
    on_off = {True: "on", False: "off"}
    return [("model", s.model), ("routing", _routing_words(s)), ("stream", on_off[s.stream]),
            ("max tokens", str(s.max_tokens) if s.max_tokens is not None else "not set (the model's default)"),
            ("store text", on_off[s.store_text] + (" (the ledger keeps prompts and answers)" if s.store_text else "")),
            ("ledger", ledger if ledger is not None else "off")]


def describe_settings(s: Settings | None = None) -> str:
    """The session defaults as aligned lines a person reads (`%auriko config`); `repr(settings)` stays for code."""
    from .attach import session_ledger_location

    return _aligned(_settings_rows(s or settings, session_ledger_location()))


@dataclass(frozen=True)
class SessionStatus:
    """What `%auriko status` shows: connection, key state (never the key), defaults, ledger, calls and spend."""

    source: str
    base_url: str
    mode: str
    api_key: str
    defaults: str
    ledger: str | None  # the file, or the URL without its password; None: off
    calls: int
    ok: int
    spent_usd: float
    turns: int
    settings_rows: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        label = "offline simulation" if self.source == "offline" else "live API"
        rows = [("connection", f"{label} at {self.base_url} (mode {self.mode}); API key {self.api_key}")]
        rows += list(self.settings_rows) or [("defaults", self.defaults),
                                             ("ledger", self.ledger if self.ledger is not None else "off")]
        rows.append(("session", f"{self.calls} calls ({self.ok} ok), ${self.spent_usd:.6f} spent; "
                                f"conversation of {self.turns} turns"))
        return _aligned(rows)


class NotebookSession(HasTraits):
    """A notebook's connection, conversation and calls; every `%auriko` subcommand is one method here."""

    mode = CaselessStrEnum(["auto", "live", "offline"], "auto", help="live API, offline gateway, or auto")
    speed = Float(1.0, help="delay scale of the offline gateway (> 0)")

    def __init__(self, login_key: str | None = None, **kwargs: Any) -> None:
        self.login_key = login_key
        self._history: list[dict[str, Any]] = []
        self._pending_turn: tuple[dict[str, Any], ChatStream] | None = None  # a streamed --chat answer not yet read
        self.records: list[dict[str, Any]] = []
        self.started_at = datetime.now(timezone.utc)
        self._client: Client | None = None
        self._models: list[Model] | None = None  # the model list of this connection (model_list)
        self._slo: weakref.WeakKeyDictionary[Comparison, dict[str, float]] = weakref.WeakKeyDictionary()
        super().__init__(**kwargs)  # after the attributes: setting mode or speed reconnects

    def __repr__(self) -> str:  # never the login key
        return f"NotebookSession(mode={self.mode!r}, speed={self.speed}, calls={len(self.records)})"

    @validate("speed")
    def _valid_speed(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not (math.isfinite(value) and value > 0):  # the offline gateway scales every delay by it
            raise TraitError(f"speed must be > 0, got {value}")
        return value

    @observe("mode", "speed")
    def _reconnect_on_change(self, change: dict[str, Any]) -> None:
        self.reconnect()

    def client(self) -> Client:
        """The session's client (live with a key, else the offline gateway), created on first use."""
        if self._client is None:
            from .connect import connect  # attaches the session ledger and defaults (notebook.attach)

            self._client = connect(self.login_key, mode=self.mode,
                                   speed=self.speed, on_record=self.records.append)
        return self._client

    def reconnect(self) -> None:
        """Forget the client so the next call connects with the new mode or key."""
        if self._client is not None:
            self._client.close()
        self._client = None
        self._models = None

    # -- connection ----------------------------------------------------------------------------------------

    def _has_key(self) -> bool:
        return bool(self.login_key or os.environ.get("AURIKO_API_KEY"))

    def status(self) -> SessionStatus:
        """Where calls go, whether a key is set (never the key), the defaults, the ledger, calls and spend."""
        from .attach import session_ledger_location

        client = self.client()
        unused = f"set (unused: mode {self.mode})"
        key = ("set" if client.source == "live" else unused) if self._has_key() else "not set"
        ledger = session_ledger_location()
        return SessionStatus(source=client.source, base_url=str(client.base_url), mode=self.mode, api_key=key,
                             defaults=repr(settings), ledger=ledger, calls=len(self.records),
                             ok=sum(r.get("status") == "ok" for r in self.records),
                             spent_usd=sum(float(r.get("cost_usd") or 0) for r in self.records),
                             turns=len(self.history) // 2, settings_rows=tuple(_settings_rows(settings, ledger)))

    def login(self, key: str) -> None:
        """Use `key` and the live API for the next calls; the key is kept in memory only."""
        key = key.strip()
        if not key:
            raise MagicUsageError("%auriko login: no key entered")
        if not key.startswith("ak_"):
            raise MagicUsageError("%auriko login: Auriko API keys start with 'ak_'; nothing changed")
        self.login_key = key
        self.mode = "live"
        self.reconnect()  # also when the mode was live already

    def use(self, mode: str) -> str:
        """Send the next calls to `mode` (live, offline or auto); returns the mode."""
        if mode == "live" and not self._has_key():
            raise MagicUsageError("%auriko use live: no API key; set AURIKO_API_KEY or run %auriko login")
        self.mode = mode
        self.reconnect()  # also when the mode is unchanged: the key or $AURIKO_BASE_URL may have changed
        return self.mode

    def configure(self, **changes: Any) -> Settings:
        """Change session defaults (keys of CONFIG_KEYS; None clears a routing limit); returns `ak.settings`."""
        unknown = [k for k in changes if k not in CONFIG_KEYS]
        if unknown:
            raise MagicUsageError(f"%auriko config: unknown key {unknown[0]!r}; keys: {', '.join(CONFIG_KEYS)}")
        for key, value in changes.items():
            if key == "optimize" and value is False:
                settings.optimize_enabled = False
            elif key in ("optimize", *_ROUTING_FIELDS):
                name = _ROUTING_FIELDS.get(key, key)
                routing = {k: v for k, v in settings.routing.items() if k != name}
                settings.routing = routing if value is None else {**routing, name: value}
                settings.optimize_enabled = settings.optimize_enabled or key == "optimize"
            elif key == "ledger":
                set_ledger(value)
            elif key == "speed":
                self.speed = value
            elif key == "store_text":
                settings.store_text = _flag(key, value)
            else:  # model, stream, max_tokens: validated by the settings' traits
                setattr(settings, key, value)
        return settings

    # -- the directory and the account ---------------------------------------------------------------------

    def models(self, *filters: str) -> pd.DataFrame:
        """The model directory, one row per model (ids containing any of `filters`, if given); prices in $ per 1M
        tokens; `endpoints` says which API serves it (`responses` only: `%%auriko` sends it there)."""
        import pandas as pd

        rows = []
        for m in self.model_list(refresh=True) or []:
            if filters and not any(f.lower() in m.id.lower() for f in filters):
                continue
            provs = m.providers or []
            rows.append({"id": m.id, "providers": ", ".join(p.name for p in provs),
                         f"min input ({PRICE_UNIT})": min((p.input_price for p in provs if p.input_price is not None),
                                                          default=None),
                         f"min output ({PRICE_UNIT})": min((p.output_price for p in provs
                                                            if p.output_price is not None), default=None),
                         "context window (tokens)": m.context_window,
                         "endpoints": ", ".join(m.supported_endpoints or [])})
        return pd.DataFrame(rows, columns=["id", "providers", f"min input ({PRICE_UNIT})",
                                           f"min output ({PRICE_UNIT})", "context window (tokens)", "endpoints"])

    def model_list(self, *, refresh: bool = False) -> list[Model] | None:
        """The models this key can call (Responses-only ones too), read once per connection and kept; None when
        it cannot be read (the call that needs it goes ahead without). `refresh` reads it again (errors raise)."""
        if refresh or self._models is None:
            client = self.client()
            try:
                self._models = list(client.models(endpoint="responses").data)
            except AurikoError:
                if refresh:
                    raise
                self._models = []  # not again on this connection: a call still goes to the chat API
        return self._models or None

    def endpoint_for(self, model: str | None) -> str:
        """"responses" when the model list already read (`model_list`) says `model` is served only by the Responses
        API, else "chat"; never a call of its own."""
        name = (model or settings.model).lower()
        for m in self._models or []:
            if name == m.id.lower() or name in (a.lower() for a in (getattr(m, "aliases", None) or [])):
                return "responses" if list(m.supported_endpoints or []) == ["responses"] else "chat"
        return "chat"

    def suggest_model(self, name: str) -> str | None:
        """The model id closest to `name` in the model list (ids and aliases), or None when nothing is close."""
        known: dict[str, str] = {}
        for m in self.model_list() or []:
            for alias in [m.id, *(getattr(m, "aliases", None) or [])]:
                known.setdefault(alias.lower(), m.id)
        close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.6)
        return known[close[0]] if close and known[close[0]].lower() != name.lower() else None

    def providers(self) -> pd.DataFrame:
        """The providers: id, name, data policy, description."""
        import pandas as pd

        provs = self.client().registry_providers().providers
        return pd.DataFrame([{"id": p.id, "name": p.display_name, "data_policy": p.data_policy,
                              "description": p.description} for p in provs])

    def prices(self, model: str) -> pd.DataFrame:
        """The price tiers of `model` at each provider that serves it, cheapest input first within a tier."""
        import pandas as pd

        directory = self.client().directory()
        mid = directory.resolve(model)
        if mid is None:
            near = self.suggest_model(model)
            maybe = f"did you mean {near!r}? " if near else ""
            raise MagicUsageError(f"%auriko prices: no model {model!r} in the directory; {maybe}see %auriko models")
        inp, out, cached = (f"{what} ({PRICE_UNIT})" for what in ("input", "output", "cache read"))
        rows = [{"provider": p.provider, "provider_model_id": p.provider_model_id, "tier": t.name,
                 inp: t.input_price, out: t.output_price, cached: t.cache_read_price, "data_policy": p.data_policy}
                for p in directory.models[mid].providers for t in p.tiers]
        return pd.DataFrame(rows).sort_values(["tier", inp], ignore_index=True)

    def me(self) -> dict[str, Any]:
        """The key's workspace and account, as a dict."""
        return self.client().me().model_dump(exclude_none=True)

    def balance(self) -> float | None:
        """The credit balance (USD) the last response reported; None before the first call."""
        headers = self.client().last_headers
        return headers.credits_balance_usd if headers else None

    # -- prompts: what a `%%auriko` cell sends -------------------------------------------------------------

    @property
    def history(self) -> list[dict[str, Any]]:
        """The `--chat` conversation (user and assistant messages); a streamed answer joins it once read to the end."""
        if self._pending_turn is not None and self._pending_turn[1].finished:
            user, stream = self._pending_turn
            self._pending_turn = None
            self._history += [user, {"role": "assistant", "content": stream.result.text}]
        return self._history

    @history.setter
    def history(self, messages: list[dict[str, Any]]) -> None:
        self._pending_turn = None
        self._history = list(messages)

    def routing_for(self, routing: Mapping[str, Any] | None = None, *,
                    no_optimize: bool = False) -> dict[str, Any] | None:
        """The `routing=` a call sends: {} with `no_optimize`, None (session defaults) if empty, else merged over them."""
        if no_optimize:
            return {}
        if not routing:
            return None
        return {**(settings.effective_routing() or {}), **routing}

    def ask(self, prompt: str, /, *, model: str | None = None, routing: Mapping[str, Any] | None = None,
            no_optimize: bool = False, chat: bool = False, stream: bool | None = None, system: str | None = None,
            tags: Sequence[str] | None = None, trace_id: str | None = None, endpoint: str | None = None,
            **params: Any) -> Result | ChatStream:
        """Send `prompt` as `%%auriko` does: a Result or ChatStream; a `chat` turn joins `history` once complete.

        `endpoint` "chat" or "responses"; None: the Responses API when the model list this session read
        (`model_list()`; a `%%auriko` cell reads it once per connection) says the model is served only there, else
        chat. An unknown model's error gets a "did you mean" hint when a listed model is close.
        """
        _check_call(prompt, params, "ask")
        if endpoint not in (None, "chat", "responses"):
            raise MagicUsageError(f"ask: endpoint must be 'chat' or 'responses', got {endpoint!r}")
        user = {"role": "user", "content": prompt}
        messages = [*self.history, user] if chat else [user]
        if chat:
            self._pending_turn = None  # a streamed answer never read is not part of the conversation
        kwargs: dict[str, Any] = dict(model=model, routing=self.routing_for(routing, no_optimize=no_optimize),
                                      metadata=_metadata(tags, trace_id), **params)
        use_stream = settings.stream if stream is None else stream
        try:
            if (endpoint or self.endpoint_for(model)) == "responses":
                answer = self._responses(messages, system, use_stream, kwargs)
            else:
                answer = cast("Result | ChatStream",
                              self.client().chat(messages, stream=cast(Any, use_stream), system=system, **kwargs))
        except NotFoundError as err:
            self._hint_model(err, model)
            raise
        if chat and isinstance(answer, ChatStream):
            self._pending_turn = (user, answer)
        elif chat:
            self._history += [user, {"role": "assistant", "content": answer.text}]
        return answer

    def _responses(self, messages: list[dict[str, Any]], system: str | None, stream: bool,
                   kwargs: dict[str, Any]) -> Result | ChatStream:
        """The call through the Responses API: the system message leads the input, max_tokens is max_output_tokens."""
        items = ([{"role": "system", "content": system}] if system else []) + messages
        if "max_tokens" in kwargs:
            kwargs = {**kwargs, "max_output_tokens": kwargs["max_tokens"]}
            del kwargs["max_tokens"]
        return self.client().responses(items, stream=stream, **kwargs)

    def _hint_model(self, err: NotFoundError, model: str | None) -> None:
        """An unknown model's error names the closest listed model as its hint (none when nothing is close)."""
        if err.code != "model_not_found":
            return
        near = self.suggest_model(model or settings.model)
        if near:
            err.suggestion = f"did you mean {near!r}? %auriko models lists them"

    def compare(self, prompt: str, /, *, by: str, values: Sequence[str], model: str | None = None,
                routing: Mapping[str, Any] | None = None, no_optimize: bool = False, repeats: int = 1,
                stream: bool | None = None, system: str | None = None, tags: Sequence[str] | None = None,
                trace_id: str | None = None, expect: Any = None, checks: Any = None,
                slo: Mapping[str, float] | None = None, **params: Any) -> Comparison:
        """`%%auriko --compare`: `prompt` over `values` of `by` ("optimize" or "model") × `repeats`, via `ak.compare`.

        `expect` is the correct answer, judged by `checks` (Check objects or text forms such as "number=42~0.5";
        default with `expect`: `contains`). `slo` (or the keywords of `SLO_KEYS`) is what `recommend` judges the
        result under. Bad checks or SLO: one error line before any call.
        """
        from ..measure.sweep import compare

        _check_call(prompt, params, "compare")
        limits = {**(slo or {}), **{k: params.pop(k) for k in SLO_KEYS if k in params}}
        if by == "optimize" and (routing or {}).get("optimize"):
            raise MagicUsageError("compare by optimize: the values are the strategies; leave out -s/optimize")
        item: str | dict[str, Any] = prompt if expect is None else {"prompt": prompt, "expect": expect}
        chosen = resolve_checks(checks, expect_given=expect is not None)
        require_expectations(chosen, _specs([item]))
        use_stream = settings.stream if stream is None else stream
        limits = check_slo(limits, checked=bool(chosen), stream=use_stream)
        merged = self.routing_for(routing, no_optimize=no_optimize)
        if merged is None:
            merged = settings.effective_routing() or {}
        models, strategies = _compare_axes(by, values, model, merged)
        result = compare(cast(Any, [item]), models=models, strategies=strategies,
                         routing={k: v for k, v in merged.items() if k != "optimize"}, repeats=repeats,
                         stream=use_stream, client=self.client(), metadata=_metadata(tags, trace_id), system=system,
                         on_row=self.records.append, checks=list(chosen) or None, **params)
        self._slo[result] = limits
        return result

    def recommend(self, comparison: Comparison | pd.DataFrame, slo: Mapping[str, float] | None = None, *,
                  ci: float = CI_LEVEL, **constraints: float) -> Recommendation:
        """`ak.recommend` under the SLO `comparison` was run with (`compare(slo=...)`), `slo` / keywords over it;
        without any: the cheapest group, with a note."""
        from ..measure.comparison import Comparison
        from ..measure.recommend import recommend

        known = self._slo.get(comparison, {}) if isinstance(comparison, Comparison) else {}
        limits: dict[str, Any] = {**known, **(slo or {}), **constraints}
        return recommend(comparison, ci=ci, **limits)

    # -- this session's calls ------------------------------------------------------------------------------

    def log(self, n: int | None = None) -> pd.DataFrame:
        """This session's calls (the last `n`): from the session ledger when it is on, else this session's records."""
        from ..measure.ledger import session_ledger, to_frame

        ledger = session_ledger()
        # every call of this session (magics, clients, sweeps) when the session ledger is on; else its own
        df = ledger.to_dataframe(since=self.started_at) if ledger is not None else to_frame(self.records)
        lead = [c for c in LOG_COLUMNS if c in df.columns]
        df = df[lead + [c for c in df.columns if c not in lead]]
        return df.tail(n).reset_index(drop=True) if n else df

    def reset(self) -> int:
        """Forget the `--chat` conversation; returns how many turns it had."""
        turns = len(self.history) // 2
        self.history = []
        return turns

    def routing_panel(self) -> RoutingPanel:
        """The routing panel on this session's client."""
        from .widgets import routing_panel

        return routing_panel(client=self.client())

    def compare_panel(self) -> ComparePanel:
        """The comparison panel on this session's client."""
        from .widgets import compare_panel

        return compare_panel(client=self.client())


def _check_call(prompt: str, params: Mapping[str, Any], what: str) -> None:
    """A prompt with text, and no `metadata=` (built from tags= and trace_id=): one-line errors."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise MagicUsageError(f"{what}: the prompt is empty: give the text to send")
    if "metadata" in params:
        raise MagicUsageError(f"{what}: give tags= and trace_id= instead of metadata=")


def _metadata(tags: Sequence[str] | None, trace_id: str | None) -> dict[str, Any] | None:
    """The gateway metadata of `--tag` / `--trace-id`, or None when neither is given."""
    metadata = {k: v for k, v in (("tags", list(tags or ())), ("trace_id", trace_id)) if v}
    return metadata or None


def _compare_axes(by: str, values: Sequence[str], model: str | None,
                  routing: Mapping[str, Any]) -> tuple[list[str], list[str | None]]:
    """The models and strategies of a one-prompt comparison by strategy or by model; one-line errors."""
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise MagicUsageError(f"compare: give at least one value to compare by {by}")
    if by == "optimize":
        bad = [v for v in values if v not in STRATEGIES and v != "none"]
        if bad:
            raise MagicUsageError(f"compare: unknown strategy {bad[0]!r}; choose from {', '.join(STRATEGIES)} or none")
        return [model or settings.model], [None if v == "none" else v for v in values]
    if by == "model":
        if model is not None:
            raise MagicUsageError("compare by model: the values are the models; leave out -m/model=")
        return values, [routing.get("optimize")]
    raise MagicUsageError(f"compare: by must be 'optimize' or 'model', got {by!r}")


# -- comparisons with expectations: checks, an SLO, a summary for a terminal --------------------------------------

_RATE_KEYS = ("min_pass_rate", "min_success_rate")
def check_slo(slo: Mapping[str, Any], *, checked: bool, stream: bool) -> dict[str, float]:
    """The SLO as floats, checked before any call: known names, rates in [0, 1], milliseconds > 0, a pass rate
    only with checks and a TTFT only with streamed calls; else one AnalysisError line."""
    out: dict[str, float] = {}
    for key, value in slo.items():
        if key not in SLO_KEYS:
            raise AnalysisError(f"SLO: unknown constraint {key!r}; known: {', '.join(SLO_KEYS)}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise AnalysisError(f"SLO: {key} must be a number, not {value!r}")
        if key in _RATE_KEYS and not 0 <= value <= 1:
            raise AnalysisError(f"SLO: {key} is a rate between 0 and 1, not {value!r}")
        if key not in _RATE_KEYS and value <= 0:
            raise AnalysisError(f"SLO: {key} must be a positive number of milliseconds, not {value!r}")
        out[key] = float(value)
    if "min_pass_rate" in out and not checked:
        raise AnalysisError("SLO: min_pass_rate needs checks: give an expected answer or a check")
    if "max_ttft_p95_ms" in out and not stream:
        raise AnalysisError("SLO: max_ttft_p95_ms needs streamed calls (TTFT); stream them or use "
                            "max_latency_p95_ms")
    return out


def _specs(prompts: Sequence[Any]) -> list[PromptSpec]:
    from ..measure.prompts import prompt_specs

    return prompt_specs(list(prompts))


def summary_text(summary: pd.DataFrame) -> str:
    """A summary as a plain-text table (a terminal, a notebook's text/plain): the display form of
    `measure.comparison.display_summary` (readable headers with units, intervals, zero-only columns hidden)."""
    import pandas as pd

    from ..measure.comparison import display_summary

    if summary.empty:
        return "(no results)"
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 60):
        out: str = display_summary(summary).to_string(index=False)
    return out
