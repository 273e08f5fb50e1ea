"""`%%auriko` (the cell is the prompt) and `%auriko SUBCOMMAND`: thin IPython magics.

They only parse (`magic_args`), call one method of `NotebookSession` (`commands.py`: `ask` and `compare` for
the cell, one per subcommand), which a script can call too, and display what it returns. A mistake in the
magic's use (`MagicUsageError`, `TemplateError`, a bad check or SLO, a `TraitError` from validation) is one
`UsageError` line; an error of the API or the connection is one line under its own class name
("NotFoundError: 404 ..."), its hints naming what the user types (`%auriko models`) rather than HTTP endpoints.
Both fail the cell; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import getpass
import io
import re
import sys
import traceback
from types import TracebackType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, CaselessStrEnum, Float, Int, TraitError, Unicode, link, observe
from traitlets.config import Configurable

from ..errors import (
    AnalysisError,
    AurikoError,
    CheckError,
    MagicUsageError,
    RequestValidationError,
    TemplateError,
)
from .commands import CI_LEVEL, CONFIG_KEYS, NotebookSession, describe_settings, set_ledger, summary_text
from .magic_args import parse_line, parse_subcommand, subcommand_help
from .settings import DEFAULT_MODEL, settings
from .templating import fill_template

__all__ = ["CONFIG_KEYS", "HELP", "AurikoMagics", "MagicState", "load_ipython_extension"]

HELP = """\
%%auriko [VAR <<] [options]      the cell is the prompt ({{name}} inserts a variable; single braces stay)
  -m/--model M  -s/--optimize STRATEGY  --no-optimize  --max-ttft-ms N  --max-cost-per-1m X  --min-tps X
  --providers a,b  --exclude a,b  --prefer P  --require-parameters  --system TEXT  --temperature T
  --max-tokens N  --param key=value (repeatable)  --tag T (repeatable)  --trace-id ID  --no-stream
  --deadline SECONDS (the whole call, stream included)
  --format markdown|text|code|json  --chat  -o/--out VAR  --compare optimize=a,b|model=a,b  --repeat N
  --responses (send it through the Responses API; automatic for a model `%auriko models` lists as responses only)
With --compare: --expect TEXT (the correct answer; checked with `contains` unless --check is given)
  --check SPEC (repeatable: contains, equals, number, regex, contains=TEXT, regex=PATTERN, number=42~0.5,
  json_valid, json_schema={...}; without a value a check uses --expect)
  --max-ttft-p95 MS  --max-latency-p95 MS  --min-pass-rate X  --min-success-rate X (X: 0.9 or 90%):
  the SLO the recommendation must meet on its 95% interval bounds (none: the cheapest group)
Strategies: cost, cost-focus, ttft, ttft-focus, tps, tps-focus, balanced.
"""

MagicState = NotebookSession
"""The name this class had when it lived here."""

_SETTINGS_TRAITS = (("default_model", "model"), ("stream", "stream"), ("max_tokens", "max_tokens"),
                    ("store_text", "store_text"))


_USAGE_ERRORS = (MagicUsageError, TemplateError, CheckError, AnalysisError, TraitError)
"""Mistakes in how the magic was used: shown as IPython's "UsageError: ..." line; other AurikoErrors carry their name."""

_HINTS = (  # what the gateway's hints name (HTTP endpoints) -> what a notebook user types
    (re.compile(r"(?:send|use|call)\s+(?:this|the)\s+request\s+(?:to|with)\s+POST /v1/responses", re.I),
     "add --responses to the %%auriko line"),
    (re.compile(r"(?:send|use|call)\s+(?:this|the)\s+request\s+(?:to|with)\s+POST /v1/chat/completions", re.I),
     "leave out --responses"),
    (re.compile(r"use POST /v1/chat/completions", re.I), "leave out --responses"),
    (re.compile(r"GET /v1/models(?:/\{?[\w.-]*\}?)?"), "%auriko models"),
    (re.compile(r"GET /v1/directory/models"), "%auriko prices MODEL"),
    (re.compile(r"GET /v1/registry/providers"), "%auriko providers"),
    (re.compile(r"GET /v1/me\b"), "%auriko me"),
    (re.compile(r"POST /v1/responses"), "%%auriko --responses"),
    (re.compile(r"POST /v1/chat/completions"), "%%auriko"),
)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def user_hints(text: str) -> str:
    """`text` with the HTTP endpoints its hints name replaced by the magic command a notebook user types."""
    for pattern, words in _HINTS:
        text = pattern.sub(words, text)
    return text


def is_usage_error(err: BaseException) -> bool:
    """A mistake in the magic's line or cell, found before anything was sent (a request option refused by the
    client's own checks counts: it never reached the gateway)."""
    return isinstance(err, _USAGE_ERRORS) or (isinstance(err, RequestValidationError) and err.status_code is None)


def error_line(err: BaseException) -> str:
    """An error of the magic as one line: a usage mistake as its message; an API error as "ClassName: message"."""
    if is_usage_error(err):
        return _one_line(err)
    return f"{type(err).__name__}: {user_hints(_one_line(err))}"


def _from_magic(tb: TracebackType | None) -> bool:
    """Whether the error came out of the `%%auriko` / `%auriko` magic (not the user's own code)."""
    return any(frame.f_code is _MAGIC_CODE for frame, _ in traceback.walk_tb(tb))


def _show_api_error(shell: Any, etype: type[BaseException], value: BaseException, tb: TracebackType | None,
                    tb_offset: int | None = None) -> None:
    """IPython's handler for AurikoError: from the magic, one line on stderr (the cell still fails); from the
    user's own code, the usual traceback."""
    if _from_magic(tb):
        print(error_line(value), file=sys.stderr)
    else:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)


def _install_error_display(shell: Any) -> bool:
    """Have the shell show the magic's API errors as one line under their own name (checked each time one leaves the
    magic); False when the shell has another custom exception handler, which we leave alone: the magic then raises
    a UsageError whose line names the class."""
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if shell.custom_exceptions not in ((), (AurikoError,)):
        return False
    shell.set_custom_exc((AurikoError,), _show_api_error)
    return True


@magics_class
class AurikoMagics(Magics, Configurable):
    """The `auriko` magics; options below are `%config AurikoMagics.<name>` traits, kept in sync with `ak.settings`."""

    default_model = Unicode(DEFAULT_MODEL, help="model used when a cell names none (ak.settings.model)").tag(
        config=True)
    default_optimize = Unicode("", help="routing strategy by default ('' for none; ak.settings.routing)").tag(
        config=True)
    stream = Bool(True, help="stream answers (ak.settings.stream)").tag(config=True)
    max_tokens = Int(None, allow_none=True, min=1, help="max_tokens by default (ak.settings.max_tokens)").tag(
        config=True)
    ledger_path = Unicode("", help="session ledger file ('' keeps the default, 'off' turns it off)").tag(config=True)
    store_text = Bool(False, help="the session ledger stores prompt and answer text (ak.settings.store_text)").tag(
        config=True)
    mode = CaselessStrEnum(["auto", "live", "offline"], "auto", help="live API, offline gateway, or auto").tag(
        config=True)
    offline_speed = Float(1.0, help="delay scale of the offline gateway").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        if shell is not None and self not in shell.configurables:
            shell.configurables.append(self)
        self.state = NotebookSession(mode=self.mode, speed=self.offline_speed)
        self._sync_settings(set(self._find_my_config(self.config)) & set(self.trait_names(config=True)))

    # -- traits <-> session settings -----------------------------------------------------------------

    def _sync_settings(self, configured: set[str]) -> None:
        """Link the traits to `ak.settings` both ways; only traits set in the config overwrite a setting."""
        for trait, name in _SETTINGS_TRAITS:
            if trait in configured:
                setattr(settings, name, getattr(self, trait))
            link((settings, name), (self, trait))  # copies settings -> trait first
        if "default_optimize" in configured:
            self._push_optimize({"new": self.default_optimize})
        else:
            self._pull_optimize({"new": settings.routing})
        settings.observe(self._pull_optimize, "routing")
        link((self, "mode"), (self.state, "mode"))
        link((self, "offline_speed"), (self.state, "speed"))
        if "ledger_path" in configured and self.ledger_path:
            set_ledger(self.ledger_path)

    def _pull_optimize(self, change: dict[str, Any]) -> None:
        self.default_optimize = change["new"].get("optimize") or ""

    @observe("default_optimize")
    def _push_optimize(self, change: dict[str, Any]) -> None:
        routing = {k: v for k, v in settings.routing.items() if k != "optimize"}
        settings.routing = {**routing, "optimize": change["new"]} if change["new"] else routing

    @observe("ledger_path")
    def _on_ledger_path(self, change: dict[str, Any]) -> None:
        if hasattr(self, "state"):  # a config value arrives before __init__ ends; _sync_settings applies it
            set_ledger(change["new"])

    # -- entry point ---------------------------------------------------------------------------------

    @no_var_expand
    @line_cell_magic
    def auriko(self, line: str, cell: str | None = None) -> Any:
        """%%auriko: send the cell as a prompt. %auriko SUBCOMMAND: everything else (`%auriko help`)."""
        try:
            return self._line(line) if cell is None else self._cell(line, cell)
        except (AurikoError, TraitError) as e:  # user errors; a bug keeps its traceback
            if is_usage_error(e) or not _install_error_display(self.shell):
                raise UsageError(error_line(e)) from None
            raise  # an API error: _show_api_error prints it as one line under its own name

    # -- the cell: parse, fill the template, one NotebookSession call (ask or compare), show, store --------------

    def _cell(self, line: str, cell: str) -> Any:
        from ..client.streaming import ChatStream
        from .display import show_result, show_stream

        opts = parse_line(line)
        prompt = fill_template(cell, self.shell.user_ns).strip() if self.shell is not None else cell.strip()
        if not prompt:
            raise MagicUsageError("%%auriko: the cell is empty: write the prompt under the magic line")
        options: dict[str, Any] = dict(model=opts.model, routing=opts.routing, no_optimize=opts.no_optimize,
                                       stream=opts.stream, system=opts.system, tags=opts.tags,
                                       trace_id=opts.trace_id, **opts.params)
        if opts.responses:
            options["endpoint"] = "responses"
        if opts.compare:
            key, values = opts.compare
            comparison = self.state.compare(prompt, by=key, values=values, repeats=opts.repeat, expect=opts.expect,
                                            checks=opts.checks or None, slo=opts.slo, **options)
            self._show_comparison(comparison, f"compare {key}={','.join(values)} × {opts.repeat}")
            return self._store(opts, comparison)
        self.state.model_list()  # once per connection: which models only the Responses API serves (endpoint_for)
        answer = self.state.ask(prompt, chat=opts.chat, **options)
        if isinstance(answer, ChatStream):
            return self._store(opts, show_stream(answer, opts.format))
        return self._store(opts, show_result(answer, opts.format))

    def _store(self, opts: Any, value: Any) -> None:
        if self.shell is None:
            return None
        ns = self.shell.user_ns
        ns["_auriko"] = value
        for name in (opts.out, opts.capture):
            if name:
                ns[name] = value
        return None

    def _show_comparison(self, comparison: Any, title: str) -> None:
        """The comparison's headline, summary with intervals (and pass rate when checks ran), chart and
        recommendation (under the cell's SLO flags; without any: the cheapest group)."""
        from IPython.display import display

        from ..measure.comparison import summary_html

        display({"text/plain": f"{title}: {comparison.headline()}"}, raw=True)
        summary = comparison.summary(ci=CI_LEVEL)
        display({"text/plain": summary_text(summary), "text/html": summary_html(summary)}, raw=True)
        self._show_chart(comparison)
        try:
            display(self.state.recommend(comparison))
        except AnalysisError as e:  # e.g. no call succeeded: the comparison is still shown and stored
            display({"text/plain": f"no recommendation: {_one_line(e)}"}, raw=True)

    @staticmethod
    def _show_chart(result: Any) -> None:
        """The comparison's chart (`Comparison.plot` with intervals) as a PNG, drawn without pyplot; with checks,
        pass rate against cost beside it."""
        from IPython.display import Image, display
        from matplotlib.figure import Figure

        from ..measure.plots import pass_rate_vs_cost

        rows = result.rows
        checked = "passed" in rows.columns and bool(rows["passed"].notna().any())
        fig = Figure(figsize=(12.8 if checked else 6.4, 4))
        result.plot(ax=fig.add_subplot(1, 2 if checked else 1, 1), ci=CI_LEVEL)
        if checked:
            pass_rate_vs_cost(rows, ax=fig.add_subplot(1, 2, 2), ci=CI_LEVEL, by=result.axes())
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        display(Image(data=buf.getvalue(), format="png"))

    # -- subcommands: parse, call one NotebookSession method, show what it returns ---------------------

    def _line(self, line: str) -> Any:
        args = parse_subcommand(line)
        return getattr(self, f"_sub_{args.command}")(args)

    def _sub_help(self, args: Any) -> None:
        print(HELP + subcommand_help())

    def _sub_status(self, args: Any) -> None:
        print(self.state.status())

    def _sub_login(self, args: Any) -> None:
        self.state.login(getpass.getpass("Auriko API key (input hidden, not stored in the notebook): "))
        print("logged in: the next calls go to the live API")

    def _sub_use(self, args: Any) -> None:
        mode = self.state.use(args.mode)
        print(f"using the {'offline simulation' if mode == 'offline' else mode + ' connection'}")

    def _sub_config(self, args: Any) -> None:
        print(describe_settings(self.state.configure(**dict(args.items))))

    def _sub_models(self, args: Any) -> Any:
        return self.state.models(*args.filters)

    def _sub_providers(self, args: Any) -> Any:
        return self.state.providers()

    def _sub_prices(self, args: Any) -> Any:
        return self.state.prices(args.model)

    def _sub_me(self, args: Any) -> Any:
        return self.state.me()

    def _sub_balance(self, args: Any) -> float | None:
        usd = self.state.balance()
        if usd is None:
            print("no credit balance seen yet: it comes with each response; send a call first")
        else:
            print(f"credit balance ${usd:,.6f} (from the last response)")
        return usd

    def _sub_log(self, args: Any) -> Any:
        return self.state.log(args.n)

    def _sub_reset(self, args: Any) -> None:
        print(f"conversation cleared ({self.state.reset()} turns)")

    def _sub_routing(self, args: Any) -> Any:
        return self.state.routing_panel()

    def _sub_compare(self, args: Any) -> Any:
        return self.state.compare_panel()


_MAGIC_CODE = AurikoMagics.auriko.__code__


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext auriko_nb`: settings already set from Python stay unless the IPython config sets them."""
    ipython.register_magics(AurikoMagics(ipython))
