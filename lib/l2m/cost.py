"""Where an episode's LLM work goes: calls, tokens and seconds per step, by method and stage.

Read from the runner's records (every LLM call is logged with its stage, tokens and its share of
its batch's wall time), so the cost model is measured, not estimated. Stages: the agent's "think"
and "act", and the memory's own ("extract", "merge", "summary", "judge", ...). Cached calls count
with the seconds they took when they were generated. Encoder calls are not logged per episode; the
retrieval benchmark (benchmarks/retrieval_scoring.py) measures them apart.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import pandas as pd

from l2m.episode import step_calls

MEASURES = ("calls", "prompt_tokens", "completion_tokens", "seconds")


def cost_table(runs: Mapping[str, Sequence[dict]]) -> pd.DataFrame:
    """Per (method, stage): calls, prompt and completion tokens and seconds per agent step, and the
    stage's share of the method's LLM seconds."""
    rows = []
    for method, episodes in runs.items():
        steps = sum(e["steps"] for e in episodes)
        totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0.0))
        for episode in episodes:
            for step in episode["step_records"]:
                for call in step_calls(step):
                    stage = totals[call["stage"]]
                    stage["calls"] += 1
                    for measure in MEASURES[1:]:
                        stage[measure] += call[measure]
        seconds = sum(stage["seconds"] for stage in totals.values())
        for name, stage in totals.items():
            row = {"method": method, "stage": name} | {f"{m}_per_step": stage[m] / steps for m in MEASURES}
            rows.append(row | {"seconds_share": stage["seconds"] / seconds if seconds else 0.0})
    return pd.DataFrame(rows).set_index(["method", "stage"])
