"""Deterministic pseudo-answers from (seed, prompt) and a cheap token estimate (about 4 characters a token)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["answer", "estimate_tokens", "split_pieces", "truncate_to_tokens", "content_text", "prompt_key",
           "messages_tokens"]

_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for", "from",
    "how", "i", "in", "is", "it", "me", "my", "of", "on", "or", "our", "please", "so", "that", "the",
    "their", "them", "then", "there", "these", "this", "to", "us", "was", "we", "what", "when", "where",
    "which", "who", "why", "will", "with", "would", "you", "your", "about", "into", "than", "tell", "give",
    "write", "explain", "describe", "make", "short", "one", "two", "three", "list", "compare", "summarize",
    "summarise", "show", "find", "say", "hi", "hello", "hey",
})
_NOUNS = ("approach", "trade-off", "baseline", "signal", "constraint", "budget", "latency", "pattern", "workflow",
          "measurement", "model", "provider", "benchmark", "detail", "assumption", "outcome", "experiment",
          "context", "summary", "example")
_ADJS = ("simple", "careful", "practical", "robust", "cheap", "fast", "clear", "repeatable", "small", "steady")
_TEMPLATES = (
    "{T} is best understood by looking at its {n1} and its {n2}.",
    "In practice, {t} depends more on the {n1} than on the {n2}.",
    "A {a} way to think about {t} is as a {n1} with a clear {n2}.",
    "Start with a {a} {n1}, then refine the {n2} as evidence comes in.",
    "The key trade-off in {t} is between {n1} and {n2}.",
    "Measure the {n1} first; a {a} {n2} often follows from it.",
    "Most people underestimate how much the {n1} shapes {t}.",
    "A good {n1} for {t} keeps the {n2} {a} and easy to check.",
    "When {t} goes wrong, the {n1} is usually the first place to look.",
    "Keep the {n1} {a}; it makes the {n2} easier to compare.",
)
_PIECE = re.compile(r"\s*\S+")
PIECE_CHARS = 12  # characters per stream piece (about 3 tokens)
_ARTICLE = re.compile(r"\b([Aa])\s([aeiou])")


def content_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def prompt_key(text: str) -> str:
    """A short stable digest of a prompt (for simulated prompt caching)."""
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _topic(prompt: str) -> str:
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z\-]{2,}", prompt) if w.lower() not in _STOP]
    picked: list[str] = []
    for w in words:
        if w.lower() not in (p.lower() for p in picked):
            picked.append(w)
        if len(picked) == 2:
            break
    return " ".join(picked).lower() if picked else "this question"


def answer(seed: int, prompt: str, *, json_mode: bool = False) -> str:
    """A readable, deterministic pseudo-answer: same seed and prompt, same text."""
    digest = hashlib.blake2b(f"{seed}\x00{prompt}".encode(), digest_size=16).digest()
    rng = random.Random(digest)
    topic = _topic(prompt)
    sentences = []
    for template in rng.sample(_TEMPLATES, rng.randint(2, 6)):
        n1, n2 = rng.sample(_NOUNS, 2)
        sentences.append(template.format(T=topic[:1].upper() + topic[1:], t=topic, n1=n1, n2=n2, a=rng.choice(_ADJS)))
    text = _ARTICLE.sub(r"\1n \2", " ".join(sentences))
    if json_mode:
        return json.dumps({"topic": topic, "answer": text})
    return text


def estimate_tokens(text: str) -> int:
    """Token estimate: one token per 4 characters, at least 1."""
    return max(1, (len(text) + 3) // 4)


def truncate_to_tokens(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """The text cut to at most max_tokens estimated tokens, and whether it was cut."""
    if max_tokens is None or estimate_tokens(text) <= max_tokens:
        return text, False
    return text[: max_tokens * 4], True


def split_pieces(text: str, min_chars: int = PIECE_CHARS) -> list[str]:
    """Stream pieces of whole words (about 3 tokens each, as many providers send); they join back to the text."""
    words = _PIECE.findall(text)
    rest = len("".join(words))
    if rest < len(text):
        words.append(text[rest:])
    pieces: list[str] = []
    current = ""
    for w in words:
        current += w
        if len(current) >= min_chars:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces or [text]


def messages_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt-token estimate of chat messages: text/4 plus 4 per message plus 3 (images count 85)."""
    total = 3
    for m in messages:
        total += 4 + estimate_tokens(content_text(m.get("content")))
        parts = m.get("content")
        if isinstance(parts, list):
            total += 85 * sum(1 for p in parts if isinstance(p, Mapping) and p.get("type") in ("image_url", "input_image"))
    return total
