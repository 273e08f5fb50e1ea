"""A small built-in task set with known answers, and the simulator's right or plausibly wrong answers to it.

The offline gateway recognises these prompts (the fixed ones, or the same kinds generated with other numbers and
names) and answers correctly with the serving provider's catalog accuracy, so that quality checks have something
to separate without a key. It is a simulation: no model runs, the "knowledge" is the tables below.

Answers are built so the usual checks with the task's `expect` separate right from wrong: arithmetic, unit
conversions and letter counts carry exactly one number (`number(expect)`); capitals and weekdays name one
(`contains(expect)`); a JSON extraction answer is the JSON text itself (`json_valid()`, `equals(expect)`).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "TASKS", "Task", "task_set", "recognize", "answer"]

KINDS: tuple[str, ...] = ("arithmetic", "conversion", "capital", "json_extract", "letter_count", "weekday")


@dataclass(frozen=True, slots=True)
class Task:
    """One recognised task: its kind, the (whitespace-normalised) prompt, the right answer and what it was built
    from (`facts`: operands, units, country, fields, ...), which the wrong answers need."""

    kind: str
    prompt: str
    expect: Any
    facts: tuple[Any, ...]
    id: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The task-set item: `prompt`, `expect`, `id`, `kind`."""
        return {"prompt": self.prompt, "expect": self.expect, "id": self.id, "kind": self.kind}


# -- knowledge tables ------------------------------------------------------------------------------------------

# country -> (capital, capitals of neighbours or usual confusions: the plausible wrong answers)
CAPITALS: dict[str, tuple[str, tuple[str, ...]]] = {
    "France": ("Paris", ("Brussels", "Bern")), "Germany": ("Berlin", ("Vienna", "Prague")),
    "Italy": ("Rome", ("Bern", "Vienna")), "Spain": ("Madrid", ("Lisbon", "Andorra la Vella")),
    "Portugal": ("Lisbon", ("Madrid",)), "Austria": ("Vienna", ("Bern", "Budapest")),
    "Switzerland": ("Bern", ("Vienna", "Berlin")), "Netherlands": ("Amsterdam", ("Brussels", "Berlin")),
    "Belgium": ("Brussels", ("Amsterdam", "Paris")), "Poland": ("Warsaw", ("Prague", "Berlin")),
    "Hungary": ("Budapest", ("Bratislava", "Vienna")), "Norway": ("Oslo", ("Stockholm", "Copenhagen")),
    "Sweden": ("Stockholm", ("Oslo", "Helsinki")), "Finland": ("Helsinki", ("Stockholm", "Tallinn")),
    "Denmark": ("Copenhagen", ("Oslo", "Stockholm")), "Canada": ("Ottawa", ("Washington, D.C.",)),
    "Australia": ("Canberra", ("Wellington",)), "New Zealand": ("Wellington", ("Canberra",)),
    "Japan": ("Tokyo", ("Seoul", "Beijing")), "South Korea": ("Seoul", ("Tokyo", "Pyongyang")),
    "Argentina": ("Buenos Aires", ("Montevideo", "Santiago")), "Chile": ("Santiago", ("Buenos Aires", "Lima")),
    "Peru": ("Lima", ("Quito", "La Paz")), "Egypt": ("Cairo", ("Khartoum", "Tripoli")),
    "Kenya": ("Nairobi", ("Kampala", "Addis Ababa")), "Turkey": ("Ankara", ("Athens", "Sofia")),
    "Greece": ("Athens", ("Sofia", "Tirana")), "India": ("New Delhi", ("Islamabad", "Kathmandu")),
    "Thailand": ("Bangkok", ("Vientiane", "Phnom Penh")), "Vietnam": ("Hanoi", ("Vientiane", "Phnom Penh")),
    "Morocco": ("Rabat", ("Algiers",)), "Ireland": ("Dublin", ("London",)),
}
_COUNTRY = {c.casefold(): c for c in CAPITALS} | {"the netherlands": "Netherlands"}

# canonical unit -> its spellings (casefolded, without "degrees"/"°")
_UNIT_NAMES: dict[str, tuple[str, ...]] = {
    "miles": ("mi", "mile", "miles"), "kilometres": ("km", "kilometer", "kilometers", "kilometre", "kilometres"),
    "kilograms": ("kg", "kgs", "kilogram", "kilograms", "kilo", "kilos"), "pounds": ("lb", "lbs", "pound", "pounds"),
    "feet": ("ft", "foot", "feet"), "metres": ("m", "meter", "meters", "metre", "metres"),
    "litres": ("l", "liter", "liters", "litre", "litres"),
    "US gallons": ("gal", "gallon", "gallons", "us gallon", "us gallons"),
    "degrees Celsius": ("c", "celsius", "centigrade"), "degrees Fahrenheit": ("f", "fahrenheit"),
}
_UNIT = {alias: unit for unit, aliases in _UNIT_NAMES.items() for alias in aliases}
# (from, to) -> factor; Celsius -> Fahrenheit is the one affine conversion (handled apart)
_FACTORS: dict[tuple[str, str], float] = {
    ("miles", "kilometres"): 1.609344, ("kilometres", "miles"): 1 / 1.609344,
    ("kilograms", "pounds"): 1 / 0.45359237, ("pounds", "kilograms"): 0.45359237,
    ("feet", "metres"): 0.3048, ("metres", "feet"): 1 / 0.3048,
    ("litres", "US gallons"): 1 / 3.785411784, ("US gallons", "litres"): 3.785411784,
}
_C_TO_F = ("degrees Celsius", "degrees Fahrenheit")

_NAMES = ("Maria", "Kenji", "Amara", "Lucas", "Priya", "Jonas", "Sofia", "Omar", "Elena", "Tariq", "Ines", "Mateo",
          "Hana", "Felix", "Zara", "Diego", "Leila", "Noah", "Yara", "Anton")
_CITIES = ("Lisbon", "Osaka", "Nairobi", "Montreal", "Pune", "Bergen", "Seville", "Cairo", "Krakow", "Lyon",
           "Porto", "Valencia", "Kyoto", "Ghent", "Tampere", "Cordoba", "Tunis", "Leeds", "Recife", "Graz")
_WORDS = ("strawberry", "mississippi", "bookkeeper", "banana", "committee", "occurrence", "parallel",
          "assessment", "balloon", "coffee", "necessary", "embarrass", "possession", "tomorrow", "address",
          "cinnamon", "referee", "millennium", "accommodate", "successful")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_OPS: dict[str, Callable[[int, int], int]] = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
                                              "*": lambda a, b: a * b}
_OP_WORDS = {"+": "+", "plus": "+", "-": "-", "−": "-", "minus": "-", "*": "*", "x": "*", "×": "*",
             "times": "*", "multiplied by": "*"}


def _fmt(v: float) -> str:
    """A number as people write it: at most two decimals, no trailing zeros, no thousands separators."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _convert(x: float, src: str, dst: str) -> float:
    return x * 1.8 + 32 if (src, dst) == _C_TO_F else x * _FACTORS[(src, dst)]


def _json_text(name: str, age: int, city: str) -> str:
    return json.dumps({"name": name, "age": age, "city": city})


# -- building tasks --------------------------------------------------------------------------------------------

def _arithmetic(a: int, op: str, b: int) -> Task:
    return Task("arithmetic", f"What is {a} {op} {b}?", _OPS[op](a, b), (a, op, b))


def _conversion(x: float, src: str, dst: str) -> Task:
    return Task("conversion", f"Convert {_fmt(x)} {src} to {dst}.", round(_convert(x, src, dst), 2), (x, src, dst))


def _capital(country: str) -> Task:
    return Task("capital", f"What is the capital of {country}?", CAPITALS[country][0], (country,))


def _json_extract(name: str, age: int, city: str) -> Task:
    prompt = (f"Extract a JSON object with the keys name, age and city from this sentence: "
              f"{name} is {age} years old and lives in {city}.")
    return Task("json_extract", prompt, _json_text(name, age, city), (name, age, city))


def _letter_count(letter: str, word: str) -> Task:
    return Task("letter_count", f"How many times does the letter '{letter}' appear in '{word}'?",
                word.count(letter), (letter, word))


def _weekday(day: dt.date) -> Task:
    return Task("weekday", f"What day of the week was {day.isoformat()}?", _WEEKDAYS[day.weekday()],
                (day.isoformat(),))


_FIXED: tuple[Task, ...] = (
    _arithmetic(17, "*", 23), _arithmetic(128, "+", 256), _arithmetic(1000, "-", 357), _arithmetic(12, "*", 12),
    _conversion(5, "miles", "kilometres"), _conversion(10, "kilograms", "pounds"),
    _conversion(100, *_C_TO_F), _conversion(6, "feet", "metres"),
    _capital("France"), _capital("Australia"), _capital("Canada"), _capital("Switzerland"),
    _json_extract("Maria", 34, "Lisbon"), _json_extract("Kenji", 27, "Osaka"), _json_extract("Amara", 41, "Nairobi"),
    _letter_count("r", "strawberry"), _letter_count("s", "mississippi"), _letter_count("e", "bookkeeper"),
    _weekday(dt.date(2024, 3, 15)), _weekday(dt.date(2000, 1, 1)),
)


def _with_ids(tasks: tuple[Task, ...], fmt: str) -> list[Task]:
    """Number the tasks of each kind: `fmt` gets the kind and the 1-based position within the kind."""
    seen: dict[str, int] = {}
    out = []
    for t in tasks:
        seen[t.kind] = seen.get(t.kind, 0) + 1
        out.append(Task(t.kind, t.prompt, t.expect, t.facts, fmt.format(kind=t.kind, i=seen[t.kind])))
    return out


_FIXED_TASKS = _with_ids(_FIXED, "{kind}-{i}")
TASKS: list[dict[str, Any]] = [t.as_dict() for t in _FIXED_TASKS]
_FIXED_IDS = {t.prompt.casefold(): t.id for t in _FIXED_TASKS}


def _generate(kind: str, rng: random.Random) -> Task:
    if kind == "arithmetic":
        op = rng.choice("+-*")
        if op == "*":
            return _arithmetic(rng.randint(3, 99), op, rng.randint(3, 99))
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        return _arithmetic(max(a, b), op, min(a, b)) if op == "-" else _arithmetic(a, op, b)
    if kind == "conversion":
        src, dst = rng.choice([*_FACTORS, _C_TO_F])
        x = rng.randint(0, 45) if src == "degrees Celsius" else rng.randint(2, 250)
        return _conversion(x, src, dst)
    if kind == "capital":
        return _capital(rng.choice(sorted(CAPITALS)))
    if kind == "json_extract":
        return _json_extract(rng.choice(_NAMES), rng.randint(18, 90), rng.choice(_CITIES))
    if kind == "letter_count":
        word = rng.choice(_WORDS)
        return _letter_count(rng.choice(sorted(set(word))), word)
    return _weekday(dt.date(1990, 1, 1) + dt.timedelta(days=rng.randint(0, 12_800)))


def task_set(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The built-in tasks as dicts (`prompt`, `expect`, `id`, `kind`): the fixed ~20 (`n=None`), or `n` generated
    ones of the same kinds (cycling through them) with other numbers and names, the same for the same seed."""
    if n is None:
        return [dict(t) for t in TASKS]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"task_set: n must be a whole number >= 0 or None, not {n!r}")
    rng = random.Random(f"auriko-offline-tasks:{seed}")
    made = tuple(_generate(KINDS[i % len(KINDS)], rng) for i in range(n))
    return [t.as_dict() for t in _with_ids(made, "{kind}-s" + str(seed) + "-{i}")]


# -- recognising prompts ---------------------------------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?)"
_Q = "['\"‘’“”]?"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("arithmetic", re.compile(r"^(?:what is|what's|compute|calculate)\s+(\d+)\s*(\+|-|−|\*|×|x|plus|minus|times|"
                              r"multiplied by)\s*(\d+)\s*[?.=]?$", re.I)),
    ("conversion", re.compile(rf"^convert\s+{_NUM}\s*(.+?)\s+(?:to|into|in)\s+(.+?)\s*[.?]?$", re.I)),
    ("capital", re.compile(r"^(?:what is|what's|name)\s+the capital(?: city)? of\s+(.+?)\s*[?.]?$", re.I)),
    ("json_extract", re.compile(r"^extract (?:a|the) json object with the keys name, age,? and city from "
                                r"(?:this|the following) sentence:\s*(\S+) is (\d+) years old and lives in "
                                r"(.+?)\.?$", re.I)),
    ("letter_count", re.compile(rf"^how many times does the letter {_Q}([a-z]){_Q} (?:appear|occur) in "
                                rf"(?:the word )?{_Q}([a-z]+){_Q}\s*\??$", re.I)),
    ("weekday", re.compile(r"^(?:what|which) day of the week (?:was|is|will be|falls on) (\d{4})-(\d{2})-(\d{2})"
                           r"\s*\??$", re.I)),
)


def _unit(text: str) -> str | None:
    key = " ".join(text.casefold().replace("°", " ").replace("degrees", " ").split())
    return _UNIT.get(key)


def _from_match(kind: str, g: tuple[str, ...]) -> Task | None:
    """The task a pattern's groups describe, or None when they make no sense (unknown country or unit...)."""
    if kind == "arithmetic":
        return _arithmetic(int(g[0]), _OP_WORDS[g[1].casefold()], int(g[2]))
    if kind == "conversion":
        src, dst = _unit(g[1]), _unit(g[2])
        if src is None or dst is None or ((src, dst) not in _FACTORS and (src, dst) != _C_TO_F):
            return None
        return _conversion(float(g[0]), src, dst)
    if kind == "capital":
        country = _COUNTRY.get(g[0].casefold())
        return _capital(country) if country else None
    if kind == "json_extract":
        return _json_extract(g[0], int(g[1]), g[2])
    if kind == "letter_count":
        return _letter_count(g[0].casefold(), g[1].casefold())
    try:
        return _weekday(dt.date(int(g[0]), int(g[1]), int(g[2])))
    except ValueError:  # not a calendar date
        return None


def recognize(prompt: str) -> Task | None:
    """The task a prompt asks (any of the built-in kinds, fixed or generated; whitespace and case do not matter),
    with its right answer, or None for any other prompt. A fixed task keeps its id."""
    text = " ".join(str(prompt).split())
    for kind, pattern in _PATTERNS:
        m = pattern.match(text)
        if m is None:
            continue
        task = _from_match(kind, m.groups())
        if task is None:
            return None
        return Task(task.kind, text, task.expect, task.facts, _FIXED_IDS.get(text.casefold(), ""))
    return None


# -- answering -------------------------------------------------------------------------------------------------

def _wrong_int(right: int, rng: random.Random, *, floor: int = 0) -> int:
    """Off by one (or by ten: a dropped carry), never negative below `floor`, never the right value."""
    wrong = right + rng.choice((-1, 1, -1, 1, -10, 10))
    return right + 1 if wrong < floor or wrong == right else wrong


def _wrong_conversion(task: Task, rng: random.Random) -> float:
    """The classic slips: the inverse factor, or (for temperatures) forgetting the +32; always off by > 5 %."""
    x, src, dst = task.facts
    if (src, dst) == _C_TO_F:
        wrong = x * 1.8 if rng.random() < 0.5 else (x - 32) * 5 / 9
    else:
        wrong = x / _FACTORS[(src, dst)]
    right = float(task.expect)
    if abs(round(wrong, 2) - right) <= 0.05 * max(abs(right), 1.0):
        wrong = right * 1.25 + 1
    return round(wrong, 2)


def _arith_text(task: Task, correct: bool, rng: random.Random) -> str:
    value = task.expect if correct else _wrong_int(task.expect, rng, floor=-10**9)
    return rng.choice(("The answer is {v}.", "{v}", "That comes to {v}.", "It equals {v}.")).format(v=value)


def _conversion_text(task: Task, correct: bool, rng: random.Random) -> str:
    value = task.expect if correct else _wrong_conversion(task, rng)
    unit = task.facts[2]
    return rng.choice(("That is about {v} {u}.", "About {v} {u}.", "It comes to roughly {v} {u}.")).format(
        v=_fmt(value), u=unit)


def _capital_text(task: Task, correct: bool, rng: random.Random) -> str:
    country = task.facts[0]
    city = task.expect if correct else rng.choice(CAPITALS[country][1])
    return rng.choice(("The capital of {c} is {x}.", "{x} is the capital of {c}.", "It is {x}.")).format(
        c=country, x=city)


def _json_answer(task: Task, correct: bool, rng: random.Random) -> str:
    name, age, city = task.facts
    if correct:
        return str(task.expect)
    slip = rng.randrange(4)
    if slip == 0:  # a wrong value
        return _json_text(name, _wrong_int(age, rng), city)
    if slip == 1:  # a missing field
        return json.dumps({"name": name, "age": age})
    if slip == 2:  # not JSON: a Python dict's repr
        return repr({"name": name, "age": age, "city": city})
    full = _json_text(name, age, city)
    return full[: len(full) - 2 - (len(city) + 1) // 2]  # cut off mid-value


def _letters_text(task: Task, correct: bool, rng: random.Random) -> str:
    letter, word = task.facts
    count = task.expect if correct else _wrong_int(task.expect, rng)
    times = "time" if count == 1 else "times"
    return rng.choice(("The letter '{l}' appears {n} {t} in '{w}'.", "'{w}' contains the letter '{l}' {n} {t}.",
                       "There are {n} {t} '{l}' in '{w}'.")).format(l=letter, n=count, t=times, w=word)


def _weekday_text(task: Task, correct: bool, rng: random.Random) -> str:
    i = _WEEKDAYS.index(task.expect)
    day = task.expect if correct else _WEEKDAYS[(i + rng.choice((-1, 1))) % 7]
    return rng.choice(("It was a {d}.", "That was a {d}.", "A {d}.")).format(d=day)


_ANSWERS: dict[str, Callable[[Task, bool, random.Random], str]] = {
    "arithmetic": _arith_text, "conversion": _conversion_text, "capital": _capital_text,
    "json_extract": _json_answer, "letter_count": _letters_text, "weekday": _weekday_text,
}


def answer(task: Task | Mapping[str, Any], correct: bool, rng: random.Random) -> str:
    """A natural answer to the task: it holds the right value when `correct`, else a plausible wrong one
    (off by one, the wrong unit factor, a neighbour's capital, JSON with a wrong or missing field, or not JSON)."""
    if not isinstance(task, Task):
        found = recognize(str(task.get("prompt", "")))
        if found is None:
            raise ValueError(f"answer: not a built-in task: {str(task.get('prompt', ''))[:60]!r}")
        task = found
    return _ANSWERS[task.kind](task, correct, rng)
