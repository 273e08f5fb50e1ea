"""`%%auriko` (the cell is the prompt) and `%auriko SUBCOMMAND`: thin IPython magics.

They only parse and dispatch to the public functions (client, compare, summarize, plots, widgets).
Every user-facing failure is one `UsageError` line (no traceback) that still fails the cell.
"""

from __future__ import annotations

import getpass
import io
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, CaselessStrEnum, Float, Int, TraitError, Unicode, observe
from traitlets.config import Configurable

from .client import Client
from .errors import AurikoError
from .magic_args import MagicUsageError, parse_line
from .session import DEFAULT_MODEL, settings
from .templating import TemplateError, render

HELP = """\
%%auriko [VAR <<] [options]      the cell is the prompt ({{name}} inserts a variable; single braces stay)
  -m/--model M  -s/--optimize STRATEGY  --no-optimize  --max-ttft-ms N  --max-cost-per-1m X  --min-tps X
  --providers a,b  --exclude a,b  --prefer P  --require-parameters  --system TEXT  --temperature T
  --max-tokens N  --param key=value (repeatable)  --tag T (repeatable)  --trace-id ID  --no-stream
  --deadline SECONDS (the whole call, stream included)
  --format markdown|text|code|json  --chat  -o/--out VAR  --compare optimize=a,b|model=a,b  --repeat N
%auriko help | status | login | use live|offline|auto | config key=value ... | models [filter] | providers
%auriko prices MODEL | me | balance | log [N] | reset | routing | compare
Strategies: cost, cost-focus, ttft, ttft-focus, tps, tps-focus, balanced."""

CONFIG_KEYS = ("model", "optimize", "max_ttft_ms", "max_cost_per_1m", "min_tps", "providers", "exclude", "prefer",
               "data_policy", "stream", "max_tokens", "ledger", "speed")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


@dataclass
class MagicState:
    """What the magics remember in a kernel: connection, conversation and this session's calls."""

    mode: str = "auto"
    speed: float | None = None
    login_key: str | None = field(default=None, repr=False)
    history: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        """The session's client (live with a key, else the offline gateway), created on first use."""
        if self._client is None:
            from ._core import session_ledger_hook
            from .connect import connect

            self._client = connect(self.login_key, mode=self.mode,  # type: ignore[arg-type]
                                   speed=self.speed, on_record=[session_ledger_hook, self.records.append])
        return self._client

    def reconnect(self) -> None:
        """Forget the client so the next call connects with the new mode or key."""
        if self._client is not None:
            self._client.close()
        self._client = None


@magics_class
class AurikoMagics(Magics, Configurable):
    """The `auriko` magics; options below are `%config AurikoMagics.<name>` traits and feed `ak.settings`."""

    default_model = Unicode(DEFAULT_MODEL, help="model used when a cell names none").tag(config=True)
    default_optimize = Unicode("", help="routing strategy by default ('' for none)").tag(config=True)
    stream = Bool(True, help="stream answers").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="max_tokens by default").tag(config=True)
    ledger_path = Unicode("", help="session ledger file ('' keeps the default, 'off' turns it off)").tag(config=True)
    mode = CaselessStrEnum(["auto", "live", "offline"], "auto", help="live API, offline gateway, or auto").tag(
        config=True)
    offline_speed = Float(1.0, help="delay scale of the offline gateway").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        if shell is not None and self not in shell.configurables:
            shell.configurables.append(self)
        self.state = MagicState(mode=self.mode, speed=self.offline_speed)
        self._apply_all()

    # -- traits -> session settings ------------------------------------------------------------------

    def _apply_all(self) -> None:
        settings.model = self.default_model
        if self.default_optimize:
            settings.routing = {**settings.routing, "optimize": self.default_optimize}
        settings.stream, settings.max_tokens = self.stream, self.max_tokens
        if self.ledger_path:
            self._set_ledger(self.ledger_path)

    @observe("default_model", "default_optimize", "stream", "max_tokens", "ledger_path", "mode", "offline_speed")
    def _on_trait(self, change: dict[str, Any]) -> None:
        name, new = change["name"], change["new"]
        if name == "default_model":
            settings.model = new
        elif name == "default_optimize":
            routing = {k: v for k, v in settings.routing.items() if k != "optimize"}
            settings.routing = {**routing, "optimize": new} if new else routing
        elif name == "stream":
            settings.stream = new
        elif name == "max_tokens":
            settings.max_tokens = new
        elif name == "ledger_path":
            self._set_ledger(new)
        elif name in ("mode", "offline_speed") and hasattr(self, "state"):  # config values arrive before state
            self.state.mode, self.state.speed = self.mode, self.offline_speed
            self.state.reconnect()

    @staticmethod
    def _set_ledger(path: str) -> None:
        """Point the session ledger at `path`: 'off' turns it off, '' goes back to the default file."""
        from .ledger import _OFF_VALUES, DEFAULT_LEDGER_PATH, LEDGER_ENV, set_session_ledger

        path = path.strip()
        if not path:  # as at start-up: $AURIKO_NB_LEDGER (which may say off) or ./auriko_ledger.sqlite
            path = os.environ.get(LEDGER_ENV, "").strip() or DEFAULT_LEDGER_PATH
        set_session_ledger(None if path.lower() in _OFF_VALUES else path)

    # -- entry point ---------------------------------------------------------------------------------

    @no_var_expand
    @line_cell_magic
    def auriko(self, line: str, cell: str | None = None) -> Any:
        """%%auriko: send the cell as a prompt. %auriko SUBCOMMAND: everything else (`%auriko help`)."""
        try:
            return self._line(line) if cell is None else self._cell(line, cell)
        except (AurikoError, MagicUsageError, TemplateError, TraitError, ValueError, TypeError, OSError) as e:
            raise UsageError(_one_line(e)) from None

    # -- the cell ------------------------------------------------------------------------------------

    def _routing(self, opts: Any) -> dict[str, Any] | None:
        if opts.no_optimize:
            return {}
        if not opts.routing:
            return None  # the session defaults (routing panel, %auriko config) apply
        return {**(settings.effective_routing() or {}), **opts.routing}

    def _cell(self, line: str, cell: str) -> Any:
        from .nbdisplay import show_result, show_stream

        opts = parse_line(line)
        prompt = render(cell, self.shell.user_ns).strip() if self.shell is not None else cell.strip()
        if not prompt:
            raise MagicUsageError("%%auriko: the cell is empty: write the prompt under the magic line")
        metadata = {k: v for k, v in (("tags", opts.tags or None), ("trace_id", opts.trace_id)) if v}
        if opts.compare:
            return self._store(opts, self._compare(opts, prompt, metadata or None))
        client = self.state.client()
        user = {"role": "user", "content": prompt}
        messages = [*self.state.history, user] if opts.chat else [user]
        stream = settings.stream if opts.stream is None else opts.stream
        kwargs: dict[str, Any] = dict(model=opts.model, routing=self._routing(opts), metadata=metadata or None,
                                      system=opts.system, **opts.params)
        if stream:
            result = show_stream(client.chat(messages, stream=True, **kwargs), opts.format)
        else:
            result = show_result(client.chat(messages, **kwargs), opts.format)
        if opts.chat:
            self.state.history += [user, {"role": "assistant", "content": result.text}]
        return self._store(opts, result)

    def _store(self, opts: Any, value: Any) -> None:
        if self.shell is None:
            return None
        ns = self.shell.user_ns
        ns["_auriko"] = value
        for name in (opts.out, opts.capture):
            if name:
                ns[name] = value
        return None

    def _compare(self, opts: Any, prompt: str, metadata: dict[str, Any] | None) -> Any:
        from IPython.display import display

        from .analysis import summarize
        from .sweep import compare

        key, values = opts.compare
        base = self._routing(opts)
        base = {k: v for k, v in (base if base is not None else settings.effective_routing() or {}).items()
                if k != "optimize"}
        if key == "optimize":
            models = [opts.model or settings.model]
            strategies: list[str | None] = [None if v == "none" else v for v in values]
            by = ["routing_strategy", "provider"]
        else:
            models = values
            strategies = [(opts.routing or {}).get("optimize") or (settings.effective_routing() or {}).get("optimize")]
            by = ["model_canonical", "provider"]
        client = self.state.client()
        stream = settings.stream if opts.stream is None else opts.stream
        df = compare([prompt], models=models, strategies=strategies, routing=base, repeats=opts.repeat,
                     stream=stream, client=client, metadata=metadata, on_row=self.state.records.append,
                     **opts.params)
        label = " (offline simulation)" if (df["source"] == "offline").any() else ""
        display({"text/plain": f"compare {key}={','.join(values)} × {opts.repeat}: {len(df)} calls{label}"},
                 raw=True)
        display(summarize(df, by=by))
        self._show_chart(df)
        return df

    @staticmethod
    def _show_chart(df: Any) -> None:
        from IPython.display import Image, display
        from matplotlib.figure import Figure

        from .plots import cost_vs_ttft

        fig = Figure(figsize=(6.4, 4))
        cost_vs_ttft(df, ax=fig.add_subplot())
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        display(Image(data=buf.getvalue(), format="png"))

    # -- subcommands ---------------------------------------------------------------------------------

    def _line(self, line: str) -> Any:
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise MagicUsageError(f"%auriko: cannot parse the line ({e})") from None
        if not words:
            words = ["help"]
        name, args = words[0], words[1:]
        handler: Callable[[list[str]], Any] | None = getattr(self, f"_sub_{name}", None)
        if handler is None:
            raise MagicUsageError(f"%auriko: unknown subcommand {name!r}; try %auriko help")
        return handler(args)

    def _sub_help(self, args: list[str]) -> None:
        print(HELP)

    def _sub_status(self, args: list[str]) -> None:
        client = self.state.client()
        has_key = bool(self.state.login_key or os.environ.get("AURIKO_API_KEY"))
        key = ("set" if client.source == "live" else f"set (unused: mode {self.state.mode})") if has_key else "not set"
        ok = [r for r in self.state.records if r.get("status") == "ok"]
        spend = sum(float(r.get("cost_usd") or 0) for r in self.state.records)
        label = "offline simulation" if client.source == "offline" else "live API"
        print(f"connection: {label} at {client.base_url} (mode {self.state.mode}); API key {key}")
        print(f"defaults: {settings!r}")
        print(f"session: {len(self.state.records)} calls ({len(ok)} ok), ${spend:.6f} spent; "
              f"conversation of {len(self.state.history) // 2} turns")

    def _sub_login(self, args: list[str]) -> None:
        key = getpass.getpass("Auriko API key (input hidden, not stored in the notebook): ").strip()
        if not key:
            raise MagicUsageError("%auriko login: no key entered")
        if not key.startswith("ak_"):
            raise MagicUsageError("%auriko login: Auriko API keys start with 'ak_'; nothing changed")
        self.state.login_key, self.state.mode = key, "live"
        self.state.reconnect()
        print("logged in: the next calls go to the live API")

    def _sub_use(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in ("live", "offline", "auto"):
            raise MagicUsageError("%auriko use: expected live, offline or auto")
        if args[0] == "live" and not (self.state.login_key or os.environ.get("AURIKO_API_KEY")):
            raise MagicUsageError("%auriko use live: no API key; set AURIKO_API_KEY or run %auriko login")
        self.state.mode = args[0]
        self.state.reconnect()
        print(f"using the {'offline simulation' if args[0] == 'offline' else args[0] + ' connection'}")

    def _sub_config(self, args: list[str]) -> None:
        if not args:
            print(repr(settings))
            return
        for item in args:
            key, sep, value = item.partition("=")
            if not sep or key not in CONFIG_KEYS:
                raise MagicUsageError(f"%auriko config: expected key=value with key in {', '.join(CONFIG_KEYS)}; "
                                      f"got {item!r}")
            self._config_one(key, value.strip())
        print(repr(settings))

    def _config_one(self, key: str, value: str) -> None:
        none = value.lower() in ("", "none", "off", "null")
        if key == "model":
            settings.model = value
        elif key == "optimize":
            if value.lower() == "off":
                settings.optimize_enabled = False
            else:
                routing = {k: v for k, v in settings.routing.items() if k != "optimize"}
                settings.routing = routing if none else {**routing, "optimize": value}
                settings.optimize_enabled = True
        elif key in ("max_ttft_ms", "max_cost_per_1m", "min_tps", "providers", "exclude", "prefer", "data_policy"):
            field_name = {"min_tps": "min_throughput_tps", "exclude": "exclude_providers"}.get(key, key)
            parsed: Any = None
            if not none:
                if key in ("providers", "exclude"):
                    parsed = [p.strip() for p in value.split(",") if p.strip()]
                elif key in ("prefer", "data_policy"):
                    parsed = value
                else:
                    try:
                        parsed = int(value) if key == "max_ttft_ms" else float(value)
                    except ValueError:
                        raise MagicUsageError(f"%auriko config: {key} needs a number, got {value!r}") from None
            routing = {k: v for k, v in settings.routing.items() if k != field_name}
            settings.routing = routing if parsed is None else {**routing, field_name: parsed}
        elif key == "stream":
            if value.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                raise MagicUsageError(f"%auriko config: stream needs true or false, got {value!r}")
            settings.stream = value.lower() in ("true", "on", "1", "yes")
        elif key == "max_tokens":
            try:
                settings.max_tokens = None if none else int(value)
            except ValueError:
                raise MagicUsageError(f"%auriko config: max_tokens needs a whole number, got {value!r}") from None
        elif key == "ledger":
            self._set_ledger(value)
        elif key == "speed":
            try:
                speed = float(value)
            except ValueError:
                raise MagicUsageError(f"%auriko config: speed needs a number, got {value!r}") from None
            if not 0 < speed < float("inf"):  # the offline gateway scales every delay by it
                raise MagicUsageError(f"%auriko config: speed must be > 0, got {value!r}")
            self.state.speed = speed
            self.state.reconnect()

    def _sub_models(self, args: list[str]) -> Any:
        import pandas as pd

        rows = []
        for m in self.state.client().models(endpoint="responses").data:
            if args and not any(a.lower() in m.id.lower() for a in args):
                continue
            provs = m.providers or []
            rows.append({"id": m.id, "providers": ", ".join(p.name for p in provs),
                         "min_input_price": min((p.input_price for p in provs if p.input_price is not None),
                                                default=None),
                         "min_output_price": min((p.output_price for p in provs if p.output_price is not None),
                                                 default=None),
                         "context_window": m.context_window,
                         "endpoints": ", ".join(m.supported_endpoints or [])})
        return pd.DataFrame(rows, columns=["id", "providers", "min_input_price", "min_output_price",
                                           "context_window", "endpoints"])

    def _sub_providers(self, args: list[str]) -> Any:
        import pandas as pd

        provs = self.state.client().registry_providers().providers
        return pd.DataFrame([{"id": p.id, "name": p.display_name, "data_policy": p.data_policy,
                              "description": p.description} for p in provs])

    def _sub_prices(self, args: list[str]) -> Any:
        import pandas as pd

        if len(args) != 1:
            raise MagicUsageError("%auriko prices: name one model, e.g. %auriko prices gpt-4o")
        directory = self.state.client().directory()
        mid = directory.resolve(args[0])
        if mid is None:
            raise MagicUsageError(f"%auriko prices: no model {args[0]!r} in the directory; see %auriko models")
        rows = [{"provider": p.provider, "provider_model_id": p.provider_model_id, "tier": t.name,
                 "input_per_1m": t.input_price, "output_per_1m": t.output_price, "cache_read_per_1m": t.cache_read_price,
                 "data_policy": p.data_policy}
                for p in directory.models[mid].providers for t in p.tiers]
        return pd.DataFrame(rows).sort_values(["tier", "input_per_1m"], ignore_index=True)

    def _sub_me(self, args: list[str]) -> Any:
        return self.state.client().me().model_dump(exclude_none=True)

    def _sub_balance(self, args: list[str]) -> float | None:
        headers = self.state.client().last_headers
        usd = headers.credits_balance_usd if headers else None
        if usd is None:
            print("no credit balance seen yet: it comes with each response; send a call first")
            return None
        print(f"credit balance ${usd:,.6f} (from response {headers.request_id if headers else ''})")
        return usd

    def _sub_log(self, args: list[str]) -> Any:
        from .ledger import session_ledger, to_frame

        n = None
        if args:
            try:
                n = int(args[0])
            except ValueError:
                raise MagicUsageError(f"%auriko log: N must be a whole number, got {args[0]!r}") from None
        ledger = session_ledger()
        # every call of this session (magics, clients, sweeps) when the session ledger is on; else the magics' own
        df = ledger.to_dataframe(since=self.state.started_at) if ledger is not None else to_frame(self.state.records)
        return df.tail(n).reset_index(drop=True) if n else df

    def _sub_reset(self, args: list[str]) -> None:
        turns = len(self.state.history) // 2
        self.state.history.clear()
        print(f"conversation cleared ({turns} turns)")

    def _sub_routing(self, args: list[str]) -> Any:
        from .widgets import routing_panel

        return routing_panel(client=self.state.client())

    def _sub_compare(self, args: list[str]) -> Any:
        if args:
            raise MagicUsageError("%auriko compare takes no arguments (it opens the panel); "
                                  "use %%auriko --compare optimize=a,b for a one-cell comparison")
        from .widgets import compare_panel

        return compare_panel(client=self.state.client())


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext auriko_nb`."""
    ipython.register_magics(AurikoMagics(ipython))
