"""The answer matrix: a comparison's answers side by side, prompts as rows and groups (model / strategy / provider)
as columns, each cell the first repeat's answer with ✔/✘ from its checks, its cost and its TTFT.

HTML for a notebook (answers escaped, long ones truncated with the full text in <details>), plain text for a terminal.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import AnalysisError
from .analysis import PROMPT, rows_and_axes, streamed
from .ledger import coerce_types

__all__ = ["answers", "AnswerMatrix", "Cell"]

_REPEAT = re.compile(r"\|r(\d+)$")
_LABEL_CHARS = 40  # a prompt shown as its own label is cut to this many characters


@dataclass(frozen=True)
class Cell:
    """One answer: its text (an error's message when the call failed), check verdict, cost and timing."""

    text: str
    passed: bool | None = None  # None: not checked
    ok: bool = True
    cost_usd: float | None = None
    ttft_ms: float | None = None  # TTFT for a streamed call, else None (see latency_ms)
    latency_ms: float | None = None
    provider: str | None = None
    reasons: str = ""  # the failed checks' reasons, one line

    @property
    def mark(self) -> str:
        """✔ when every check passed, ✘ when one failed, blank when not checked."""
        return "" if self.passed is None else "✔" if self.passed else "✘"

    def meta(self, with_provider: bool = False) -> str:
        """`✔ · $0.000012 · TTFT 230 ms` (the parts that are known)."""
        parts = [self.mark] if self.mark else []
        if with_provider and self.provider:
            parts.append(self.provider)
        if self.cost_usd is not None:
            parts.append(f"${self.cost_usd:.6f}")
        if self.ttft_ms is not None:
            parts.append(f"TTFT {self.ttft_ms:,.0f} ms")
        elif self.latency_ms is not None:
            parts.append(f"latency {self.latency_ms:,.0f} ms")
        return " · ".join(parts)


class AnswerMatrix:
    """Answers side by side: `.frame` (DataFrame of the answer texts, prompts × groups), `.cells` (the `Cell` of
    each), `.prompts` (label -> prompt text); `_repr_html_` in a notebook, `str()` in a terminal."""

    def __init__(self, cells: dict[tuple[str, str], Cell], prompts: dict[str, str], groups: list[str],
                 axes: list[str], width: int = 120) -> None:
        self.cells, self.prompts, self.groups, self.axes, self.width = cells, prompts, groups, axes, width
        self.frame = pd.DataFrame([[cells[(p, g)].text if (p, g) in cells else None for g in groups]
                                   for p in prompts], index=pd.Index(list(prompts), name="prompt"),
                                  columns=pd.Index(groups, name=" / ".join(axes)), dtype="object")
        self._show_provider = "provider" not in axes

    def passed(self) -> pd.DataFrame:
        """✔/✘ per cell as a DataFrame of booleans (NA where not checked or no answer)."""
        return pd.DataFrame([[getattr(self.cells.get((p, g)), "passed", None) for g in self.groups]
                             for p in self.prompts], index=self.frame.index, columns=self.frame.columns,
                            dtype="boolean")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(g)}</th>" for g in self.groups)
        rows = []
        for p, text in self.prompts.items():
            label = html.escape(p)
            if text and text != p:
                label += f"<br><small style='color:#666'>{html.escape(_cut(text, self.width))}</small>"
            tds = "".join(self._td(self.cells.get((p, g))) for g in self.groups)
            rows.append(f"<tr><th style='text-align:left;vertical-align:top'>{label}</th>{tds}</tr>")
        return (f"<table class='auriko-answers'><thead><tr><th>prompt</th>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def _td(self, cell: Cell | None) -> str:
        style = "text-align:left;vertical-align:top;white-space:pre-wrap"
        if cell is None:
            return f"<td style='{style}'></td>"
        full = html.escape(cell.text)
        body = full if len(cell.text) <= self.width else (
            f"<details><summary>{html.escape(_cut(cell.text, self.width))}</summary>{full}</details>")
        if not cell.ok:
            body = f"<span style='color:#b00'>{body}</span>"
        meta = html.escape(cell.meta(self._show_provider))
        if cell.mark:
            colour = "#080" if cell.passed else "#b00"
            title = f" title='{html.escape(cell.reasons, quote=True)}'" if cell.reasons else ""
            meta = meta.replace(cell.mark, f"<b style='color:{colour}'{title}>{cell.mark}</b>", 1)
        return f"<td style='{style}'>{body}<br><small>{meta}</small></td>"

    def __str__(self) -> str:
        """A long table, one line per answer: prompt | group | ✔/✘ | cost | TTFT | the answer, cut to `width`."""
        head = ["prompt", " / ".join(self.axes), "✔", *(["provider"] if self._show_provider else []),
                "cost_usd", "ttft_ms", "answer"]
        lines = [head]
        for p in self.prompts:
            for g in self.groups:
                cell = self.cells.get((p, g))
                if cell is not None:
                    lines.append([p, g, cell.mark, *_numbers(cell, self._show_provider),
                                  _cut(" ".join(cell.text.split()), self.width)])
        if len(lines) == 1:
            return "(no answers)"
        return _text_table(lines, right={"cost_usd", "ttft_ms"})

    __repr__ = __str__


def _text_table(lines: list[list[str]], right: set[str]) -> str:
    """Rows of strings as aligned columns (those named in `right` right-aligned), no trailing spaces."""
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    out = []
    for r in lines:
        cells = [v.rjust(w) if lines[0][i] in right else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths,
                                                                                                   strict=True))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _numbers(cell: Cell, with_provider: bool) -> list[str]:
    out = [cell.provider or ""] if with_provider else []
    out.append("" if cell.cost_usd is None else f"{cell.cost_usd:.6f}")
    out.append("" if cell.ttft_ms is None else f"{cell.ttft_ms:,.0f}")
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def answers(comparison: Any, *, width: int = 120) -> AnswerMatrix:
    """The answer matrix of a comparison: prompts (`prompt_label`) × groups (its varying axes but the prompt).

    Each cell is the first repeat's answer (an error's message when it failed), with ✔/✘ from `passed`.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 8:
        raise AnalysisError(f"answers: width must be a whole number of characters >= 8, not {width!r}")
    rows, grouped = rows_and_axes(comparison, "answers", "no answers to show")
    axes = [a for a in grouped if a != PROMPT]
    return _matrix(rows.reset_index(drop=True), axes, width)


def _matrix(rows: pd.DataFrame, axes: list[str], width: int) -> AnswerMatrix:
    d = coerce_types(rows)
    d["_prompt"] = _prompt_labels(d)
    d["_group"] = [" / ".join(_text(v) or "—" for v in vals) for vals in zip(*(d[a] for a in axes), strict=True)]
    d["_repeat"] = d["cell"].map(_repeat) if "cell" in d.columns else 0
    d["_streamed"] = streamed(d)
    d["_order"] = range(len(d))
    first = d.sort_values(["_repeat", "_order"], kind="stable").drop_duplicates(["_prompt", "_group"])
    prompts: dict[str, str] = {}
    for p, text in zip(d["_prompt"], _column(d, "prompt_text"), strict=True):
        prompts.setdefault(p, text or "")
    groups = list(dict.fromkeys(d["_group"]))
    cells = {(r["_prompt"], r["_group"]): _cell(r) for r in first.to_dict("records")}
    return AnswerMatrix(cells, prompts, groups, axes, width)


def _prompt_labels(d: pd.DataFrame) -> list[str]:
    """`prompt_label`, else the prompt text cut short, else `prompt_id`; the same prompt gets the same label."""
    labels, texts, ids = _column(d, "prompt_label"), _column(d, "prompt_text"), _column(d, PROMPT)
    by_id: dict[str, str] = {}
    for lab, text, pid in zip(labels, texts, ids, strict=True):
        if pid and (lab or text):
            by_id.setdefault(pid, lab or _cut(" ".join(text.split()), _LABEL_CHARS))
    out = []
    for lab, text, pid in zip(labels, texts, ids, strict=True):
        out.append(lab or by_id.get(pid) or (_cut(" ".join(text.split()), _LABEL_CHARS) if text else pid or "?"))
    return out


def _column(d: pd.DataFrame, col: str) -> list[str]:
    return [_text(v) for v in d[col]] if col in d.columns else [""] * len(d)


def _text(v: Any) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _repeat(cell: Any) -> int:
    m = _REPEAT.search(_text(cell))
    return int(m.group(1)) if m else 0


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _cell(r: dict[str, Any]) -> Cell:
    ok = _text(r.get("status")) in ("ok", "")
    text = _text(r.get("answer_text")) if ok else (
        f"{_text(r.get('status'))}: {_text(r.get('error_message')) or _text(r.get('error_code'))}".rstrip(": "))
    passed = r.get("passed")
    verdict = None if passed is None or passed is pd.NA or (isinstance(passed, float) and passed != passed) else (
        bool(passed))
    return Cell(text=text, passed=verdict, ok=ok, cost_usd=_number(r.get("cost_usd")),
                ttft_ms=_number(r.get("ttft_ms_client")) if r["_streamed"] else None,
                latency_ms=_number(r.get("latency_ms")), provider=_text(r.get("provider")) or None,
                reasons=_reasons(r.get("checks_failed")))


def _reasons(v: Any) -> str:
    """The failed checks of a `checks_failed` value (JSON text or a list) as `name: reason; ...`."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    if not isinstance(v, Sequence) or isinstance(v, str):
        return ""
    return "; ".join(f"{f.get('check', '?')}: {f.get('reason', '')}" for f in v if isinstance(f, dict))
