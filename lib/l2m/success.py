"""What counts as a success when building training signals (not for evaluation).

Every training stage (retrieval pairs, the storage success/failure split, utilization samples,
the on-policy loop) asks `is_success(episode, criterion)`. Evaluation always reports EM, F1 and
the memory metrics, whatever criterion trained the memory.

* "em"                — the paper: the episode's EM reward is 1.
* "f1"                — the final answer's F1 against the gold answer is at least a threshold.
* "answer_in_context" — the normalised gold answer occurs in the memory context the agent saw
                        at the last step: a memory-centred signal that does not depend on how
                        well a small reader answers.
"""

from __future__ import annotations

from l2m.memory_metrics import answer_in_context
from l2m.metrics import f1_score

CRITERIA = ("em", "f1", "answer_in_context")


def is_success(episode: dict, criterion: str = "em", *, f1_threshold: float = 0.5) -> bool:
    if criterion == "em":
        return episode["reward"] >= 1.0
    if criterion == "f1":
        return f1_score(episode["answer"] or "", episode["gold_answer"]) >= f1_threshold
    if criterion == "answer_in_context":
        steps = episode["step_records"]
        return bool(steps) and answer_in_context(episode["gold_answer"], steps[-1]["context"])
    raise ValueError(f"unknown success criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
