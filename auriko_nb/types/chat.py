"""Chat Completions response models (§2.2, §5.3, §6.1): completion, chunk, usage."""

from __future__ import annotations

from typing import Any

from ._base import OpenModel
from .routing_metadata import LenientRoutingMetadata


class PromptTokensDetails(OpenModel):
    """Breakdown of prompt tokens (cached, cache writes, modalities)."""

    cached_tokens: int | None = None
    text_tokens: int | None = None
    image_tokens: int | None = None
    audio_tokens: int | None = None
    cache_write_tokens: int | None = None


class CompletionTokensDetails(OpenModel):
    """Breakdown of completion tokens (reasoning, modalities, predictions)."""

    reasoning_tokens: int | None = None
    text_tokens: int | None = None
    image_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(OpenModel):
    """Token counts of one chat completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens served from the provider's cache (0 when not reported)."""
        d = self.prompt_tokens_details
        return (d.cached_tokens or 0) if d else 0


class FunctionCall(OpenModel):
    """The function a tool call invokes; `arguments` is a JSON string."""

    name: str | None = None
    arguments: str = ""


class ToolCall(OpenModel):
    """One tool call made by the assistant."""

    id: str | None = None
    type: str = "function"
    function: FunctionCall = FunctionCall()


class Message(OpenModel):
    """The assistant message of a choice."""

    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    refusal: str | None = None


class Choice(OpenModel):
    """One choice of a non-streamed completion."""

    index: int = 0
    message: Message = Message()
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletion(OpenModel):
    """A non-streamed chat completion, with Auriko's `routing_metadata`."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = []
    usage: Usage | None = None
    system_fingerprint: str | None = None
    routing_metadata: LenientRoutingMetadata = None
    service_tier: str | None = None

    @property
    def text(self) -> str:
        """The content of the first choice ('' when there is none)."""
        return (self.choices[0].message.content or "") if self.choices else ""


class DeltaToolCall(OpenModel):
    """A fragment of a tool call in a stream; `arguments` fragments concatenate per `index`."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


class Delta(OpenModel):
    """The increment carried by one streamed chunk."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None
    reasoning_content: str | None = None
    refusal: str | None = None


class ChunkChoice(OpenModel):
    """One choice of a streamed chunk."""

    index: int = 0
    delta: Delta = Delta()
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(OpenModel):
    """One SSE chunk; the last ones may carry `usage` and `routing_metadata` with empty `choices`."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = []
    usage: Usage | None = None
    system_fingerprint: str | None = None
    routing_metadata: LenientRoutingMetadata = None
    service_tier: str | None = None
