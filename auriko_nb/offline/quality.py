"""Simulated answer quality: a built-in task (tasks.py) is answered right with the serving offer's catalog
accuracy, plausibly wrong otherwise. Every other prompt keeps textgen's pseudo-answer.

The draw is seeded by the gateway seed, the model, the provider, the prompt and how many times that provider was
asked that prompt before: the k-th such call gets the same outcome whatever order concurrent calls arrive in.
Like every answer of the offline gateway this is a simulation (the `X-Auriko-Offline: simulation` header).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from .router import Candidate
from .state import SimState
from .tasks import Task, answer, recognize
from .textgen import prompt_key
from .validate import InferenceRequest

__all__ = ["TaskAnswer", "task_answer"]


@dataclass(frozen=True, slots=True)
class TaskAnswer:
    """The simulated answer to a recognised task: which task, whether it came out right, and the text."""

    task: Task
    correct: bool
    text: str


def task_answer(sim: SimState, req: InferenceRequest, cand: Candidate) -> TaskAnswer | None:
    """The answer to the last user message when it is a built-in task, else None (the caller uses textgen)."""
    task = recognize(req.user_text) if req.user_text else None
    if task is None:
        return None
    key = f"quality:{sim.seed}:{cand.model.id}:{cand.provider}:{prompt_key(task.prompt)}"
    rng = random.Random(f"{key}:{sim.occurrence(key)}")
    correct = rng.random() < cand.offer.accuracy
    text = answer(task, correct, rng)
    if req.json_mode and task.kind != "json_extract":  # JSON was asked for: the same answer, wrapped
        text = json.dumps({"answer": text})
    return TaskAnswer(task, correct, text)
