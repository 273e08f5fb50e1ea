"""The parity corpus: every fixture in `fixtures/` is parsed by the official `auriko` SDK and by auriko_nb, and both
must give the fixture's expected observation (provider, model, cost, TTFT, usage, warnings, headers; or the error's
class, type, code, status, request id, Retry-After and retry decision). Where we differ on purpose, the fixture's
`differences` says why and gives each side's expected values, which are asserted like the rest."""

from __future__ import annotations

from typing import Any

import pytest
from harness import load, names, ours_observe, sdk_observe

FIXTURES = names()


def expected(fx: dict[str, Any], side: str) -> dict[str, Any]:
    """The fixture's expectation for one side: the shared `expect` with that side's declared differences on top."""
    base, over = fx["expect"], fx.get("differences", {}).get(side, {})
    if over.get("outcome", base["outcome"]) != base["outcome"]:
        return dict(over)  # this side ends differently (e.g. the SDK rejects the whole answer)
    out = {**base, **over}
    if side == "ours" and out["outcome"] == "ok":
        out.setdefault("client_warnings", [])
    return out


def test_the_corpus_is_large_and_documented() -> None:
    assert len(FIXTURES) >= 40
    for name in FIXTURES:
        fx = load(name)
        assert fx["name"] == name and fx["description"] and fx["endpoint"] in ("chat", "responses")
        diff = fx.get("differences")
        assert diff is None or (diff["why"] and set(diff) - {"why"} <= {"sdk", "ours"}), name
    kinds = {(load(n)["endpoint"], load(n)["stream"], load(n)["expect"]["outcome"]) for n in FIXTURES}
    assert len(kinds) == 8  # chat and Responses, streamed or not, ending in a result or an error


@pytest.mark.parametrize("name", FIXTURES)
def test_sdk_reads_the_fixture_as_expected(name: str) -> None:
    fx = load(name)
    assert sdk_observe(fx) == expected(fx, "sdk")


@pytest.mark.parametrize("name", FIXTURES)
def test_auriko_nb_reads_the_fixture_as_expected(name: str) -> None:
    fx = load(name)
    want, got = expected(fx, "ours"), ours_observe(fx)
    mentions = want.pop("client_warnings_mention", None)
    text = got.pop("client_warnings_text", "")
    row = got.pop("row", None)
    if mentions:  # a field-by-field parse warns on the row, naming the field it lost
        assert got.pop("client_warnings") and all(m in text for m in mentions), (text, mentions)
        want.pop("client_warnings")
    assert got == want
    if row is not None:  # the row (what analyses group on) carries the same numbers as the result
        n_warnings = len(want["warnings"]) + (len(mentions) if mentions else len(want["client_warnings"]))
        assert row["provider"] == want["provider"] and row["model_canonical"] == want["model_canonical"]
        assert row["cost_usd"] == want["cost_usd"] and row["warning_count"] >= n_warnings, row
