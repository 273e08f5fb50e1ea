"""Brace-safe prompt templating: `{{name}}` takes a variable from the namespace; single braces stay as typed.

Prompts are full of braces (code, JSON, LaTeX), so nothing like `str.format` ever touches them
(the jupyter-ai `%%ai` bug). `\\{{` writes a literal `{{`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import TemplateError

_PLACEHOLDER = re.compile(r"(\\)?\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


__all__ = ["TemplateError", "fill_template"]


def fill_template(text: str, namespace: Mapping[str, Any]) -> str:
    """Substitute every `{{name}}` / `{{obj.attr}}` with str(value); raise TemplateError for unknown names."""
    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(0)[1:]
        path = m.group(2).split(".")
        if path[0] not in namespace:
            raise TemplateError(f"{{{{{m.group(2)}}}}}: no variable named {path[0]!r} in the notebook")
        value = namespace[path[0]]
        for attr in path[1:]:
            if not hasattr(value, attr):
                raise TemplateError(f"{{{{{m.group(2)}}}}}: {type(value).__name__} has no attribute {attr!r}")
            value = getattr(value, attr)
        return str(value)
    return _PLACEHOLDER.sub(sub, text)
