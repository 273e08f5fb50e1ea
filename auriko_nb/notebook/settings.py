"""Session settings: the defaults that `%%auriko`, `ak.connect()` clients and `compare` use.

One `settings` object per process, a traitlets `HasTraits`, so the routing panel, the magics' `%config`
traits and plain code all change the same thing and can observe it.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Dict, HasTraits, Int, TraitError, Unicode, validate

from ..errors import RequestValidationError
from ..types.request import coerce_routing

DEFAULT_MODEL = "gpt-4o-mini"


class Settings(HasTraits):
    """What a call uses when it does not say: model, routing (and whether it is on), streaming, max tokens;
    and whether the session ledger stores prompt and answer text."""

    model = Unicode(DEFAULT_MODEL, help="model used when a call names none")
    optimize_enabled = Bool(True, help="send the routing preferences below; off sends no gateway.routing at all")
    routing = Dict(help="gateway.routing defaults (validated like ak.Routing)")
    stream = Bool(True, help="stream answers by default")
    max_tokens = Int(None, allow_none=True, help="max_tokens used when a call sets none")
    store_text = Bool(False, help="the session ledger stores prompt and answer text (off: ledgers get shared)")

    @validate("routing")
    def _valid_routing(self, proposal: dict[str, Any]) -> dict[str, Any]:
        try:
            r = coerce_routing(proposal["value"])
        except RequestValidationError as e:
            raise TraitError(str(e)) from None
        return r.to_dict() if r else {}

    @validate("max_tokens")
    def _valid_max_tokens(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        if value is not None and value < 1:
            raise TraitError(f"max_tokens must be >= 1, got {value}")
        return value

    def effective_routing(self) -> dict[str, Any] | None:
        """The `gateway.routing` a default call sends: None when optimization is off or nothing is set."""
        if not self.optimize_enabled or not self.routing:
            return None
        return dict(self.routing)

    def reset(self) -> None:
        """Back to the built-in defaults."""
        self.model, self.optimize_enabled, self.routing = DEFAULT_MODEL, True, {}
        self.stream, self.max_tokens, self.store_text = True, None, False

    def __repr__(self) -> str:
        return (f"Settings(model={self.model!r}, optimize_enabled={self.optimize_enabled}, routing={self.routing}, "
                f"stream={self.stream}, max_tokens={self.max_tokens}, store_text={self.store_text})")


settings = Settings()
"""The process-wide session settings."""
