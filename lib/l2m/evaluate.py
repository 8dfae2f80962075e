"""Summaries of episode logs: accuracy with 95% intervals, action quality, cost.

Every accuracy is reported with its n and a 95% Wilson interval; mean F1 with a normal
(t-free, 1.96 standard errors) interval, clipped to [0, 1].
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from l2m.actions import parse_action
from l2m.env.wiki import LocalWiki
from l2m.metrics import f1_score, wilson_interval


def mean_interval(values: Sequence[float], bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float]:
    """(mean, low, high): a normal 95% interval of the mean, clipped to `bounds`.

    With a single value the interval is the whole of `bounds` (nothing is known about the spread);
    with none, all three are NaN.
    """
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, *bounds
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = 1.959964 * sd / math.sqrt(n)
    return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)


def action_counts(episode: dict, wiki: LocalWiki | None = None) -> dict[str, int]:
    """Act calls, well-formed actions among them, searches, and searches landing on a gold page."""
    counts = {"acts": 0, "well_formed": 0, "searches": 0, "gold_searches": 0}
    gold = set(episode["gold_titles"])
    for step in episode["step_records"]:
        counts["acts"] += 1
        counts["well_formed"] += bool(step["action_valid"])
        action = parse_action(step["action"]) if step["action"] else None
        if action is not None and action.verb == "Search":
            counts["searches"] += 1
            page = wiki.lookup(action.argument) if wiki is not None else None
            counts["gold_searches"] += bool(page and page[0] in gold)
    return counts


def summarize(episodes: Sequence[dict], wiki: LocalWiki | None = None) -> dict:
    if not episodes:
        raise ValueError("no episodes to summarise")
    n = len(episodes)
    correct = sum(e["reward"] >= 1.0 for e in episodes)
    em_low, em_high = wilson_interval(correct, n)
    f1, f1_low, f1_high = mean_interval([f1_score(e["answer"] or "", e["gold_answer"]) for e in episodes])
    totals = {k: 0 for k in ("acts", "well_formed", "searches", "gold_searches")}
    for e in episodes:
        for k, v in action_counts(e, wiki).items():
            totals[k] += v
    steps = sum(e["steps"] for e in episodes)
    seconds = sum(e["llm_seconds"] for e in episodes)
    row = {
        "n": n,
        "em": correct / n,
        "em_low": em_low,
        "em_high": em_high,
        "f1": f1,
        "f1_low": f1_low,
        "f1_high": f1_high,
        "well_formed": totals["well_formed"] / totals["acts"],
        "well_formed_n": totals["acts"],
        "mean_steps": steps / n,
        "sec_per_step": seconds / steps,
        "sec_per_traj": seconds / n,
        "llm_tokens": sum(e["prompt_tokens"] + e["completion_tokens"] for e in episodes) / n,
    }
    if wiki is not None:
        row["gold_search"] = totals["gold_searches"] / totals["searches"] if totals["searches"] else float("nan")
        row["searches"] = totals["searches"]
    return row


def summary_table(
    runs: Mapping[tuple, Sequence[dict]], index: Sequence[str], wiki: LocalWiki | None = None
) -> pd.DataFrame:
    """One summary row per run; `runs` maps a key tuple (named by `index`) to its episodes."""
    rows = [dict(zip(index, key)) | summarize(episodes, wiki) for key, episodes in runs.items()]
    return pd.DataFrame(rows).set_index(list(index))
