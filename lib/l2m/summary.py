"""Summaries of episode logs: accuracy with 95% intervals, action quality, cost, memory quality.

Every accuracy is reported with its n and a 95% Wilson interval; mean F1 with a normal
(t-free, 1.96 standard errors) interval, clipped to [0, 1]; the memory metrics likewise.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from l2m.actions import parse_action
from l2m.data.hotpotqa import HotpotRecord
from l2m.env.wiki import LocalWiki
from l2m.memory_metrics import RECALL_K, episode_memory_metrics
from l2m.metrics import f1_score, interval_columns, mean_interval, paired_difference, wilson_interval


def action_counts(episode: dict, wiki: LocalWiki | None = None) -> dict[str, int]:
    """The agent's act calls, well-formed actions among them, searches, and searches on a gold page.

    Steps a script played (the scripted policy, l2m.episode) are not the agent's and are skipped.
    """
    counts = {"acts": 0, "well_formed": 0, "searches": 0, "gold_searches": 0}
    gold = set(episode["gold_titles"])
    for step in episode["step_records"]:
        if step.get("scripted"):
            continue
        counts["acts"] += 1
        counts["well_formed"] += bool(step["action_valid"])
        action = parse_action(step["action"]) if step["action"] else None
        if action is not None and action.verb == "Search":
            counts["searches"] += 1
            page = wiki.lookup(action.argument) if wiki is not None else None
            counts["gold_searches"] += bool(page and page[0] in gold)
    return counts


def proportion_columns(name: str, hits: int, n: int) -> dict:
    """`name` = hits / n, with its 95% Wilson interval as `name`_low and `name`_high."""
    low, high = wilson_interval(hits, n)
    return {name: hits / n, f"{name}_low": low, f"{name}_high": high}


def memory_columns(episodes: Sequence[dict], records: Mapping[str, HotpotRecord], k: int = RECALL_K) -> dict:
    """The memory metrics (l2m.memory_metrics) of `episodes`, each with its 95% interval.

    answer_in_context is a proportion (Wilson); sf_coverage, context_words and recall@k are means
    (normal). recall@k averages only the episodes of ranking methods with a gold unit to find,
    counted in recall_n.
    """
    metrics = [episode_memory_metrics(e, records[e["question_id"]], k) for e in episodes]
    row = proportion_columns("answer_in_context", sum(m["answer_in_context"] for m in metrics), len(metrics))
    means = {
        "sf_coverage": [m["sf_coverage"] for m in metrics],
        "context_words": [m["context_words"] for m in metrics],
        f"recall@{k}": [m["recall_at_k"] for m in metrics],
    }
    present = {name: [v for v in values if v is not None] for name, values in means.items()}
    row |= interval_columns(present, unbounded=("context_words",), separator="_")
    row["recall_n"] = sum(m["recall_at_k"] is not None for m in metrics)
    return row


def per_question(episode: dict, metric: str) -> float:
    """One episode's value of `metric`: "em" (the reward) or "f1"."""
    if metric == "em":
        return float(episode["reward"] >= 1.0)
    if metric == "f1":
        return f1_score(episode["answer"] or "", episode["gold_answer"])
    raise ValueError(f"unknown per-question metric {metric!r}; choose em or f1")


def summarize(
    episodes: Sequence[dict], wiki: LocalWiki | None = None, records: Mapping[str, HotpotRecord] | None = None
) -> dict:
    """EM, F1, action quality and cost of `episodes`; the memory columns too when `records` are given."""
    if not episodes:
        raise ValueError("no episodes to summarise")
    n = len(episodes)
    correct = int(sum(per_question(e, "em") for e in episodes))
    f1, f1_low, f1_high = mean_interval([per_question(e, "f1") for e in episodes])
    totals = {k: 0 for k in ("acts", "well_formed", "searches", "gold_searches")}
    for e in episodes:
        for k, v in action_counts(e, wiki).items():
            totals[k] += v
    steps = sum(e["steps"] for e in episodes)
    # An episode without an answer ran out of steps before it issued Finish: its reward is 0.
    answered = sum(e["answer"] is not None for e in episodes)
    seconds = sum(e["llm_seconds"] for e in episodes)
    row = {
        "n": n,
        **proportion_columns("em", correct, n),
        "f1": f1,
        "f1_low": f1_low,
        "f1_high": f1_high,
        "well_formed": totals["well_formed"] / totals["acts"],
        "well_formed_n": totals["acts"],
        **proportion_columns("answered", answered, n),
        "mean_steps": steps / n,
        "sec_per_step": seconds / steps,
        "sec_per_traj": seconds / n,
        "llm_tokens": sum(e["prompt_tokens"] + e["completion_tokens"] for e in episodes) / n,
    }
    if wiki is not None:
        row["gold_search"] = totals["gold_searches"] / totals["searches"] if totals["searches"] else float("nan")
        row["searches"] = totals["searches"]
    if records is not None:
        row |= memory_columns(episodes, records)
    return row


def summary_table(
    runs: Mapping[tuple, Sequence[dict]],
    index: Sequence[str],
    wiki: LocalWiki | None = None,
    records: Mapping[str, HotpotRecord] | None = None,
) -> pd.DataFrame:
    """One summary row per run; `runs` maps a key tuple (named by `index`) to its episodes."""
    rows = [dict(zip(index, key)) | summarize(episodes, wiki, records) for key, episodes in runs.items()]
    return pd.DataFrame(rows).set_index(list(index))


def differences_from(
    runs: Mapping[tuple[str, str], Sequence[dict]], reference: str, metric: str = "em", seed: int = 0
) -> pd.DataFrame:
    """Each method against `reference` on the same questions of each level: the paired difference
    of `metric` with its 95% bootstrap interval, and whether that interval holds 0 (inside the
    noise). `runs` maps (level, method) to episodes, as Workspace.level_runs gives them."""
    columns = ["level", "method", "n", f"{metric}_diff", "low", "high", "inside_noise"]
    rows = []
    for (level, method), episodes in runs.items():
        if method == reference or (level, reference) not in runs:
            continue
        theirs = {e["question_id"]: per_question(e, metric) for e in runs[(level, reference)]}
        ours = {e["question_id"]: per_question(e, metric) for e in episodes}
        shared = sorted(ours.keys() & theirs.keys())
        diff, low, high = paired_difference([ours[q] for q in shared], [theirs[q] for q in shared], seed=seed)
        rows.append(
            {"level": level, "method": method, "n": len(shared), f"{metric}_diff": diff,
             "low": low, "high": high, "inside_noise": low <= 0.0 <= high}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=columns).set_index(["level", "method"])


def seed_spread(tables: Mapping[int, pd.DataFrame], metric: str = "em") -> pd.DataFrame:
    """One row per (level, method) that every seed measured: `metric` under each seed, then their
    mean, sample standard deviation and range. `tables` maps a seed to its summary_table (indexed
    by level and method); n is the questions per seed."""
    seeds = sorted(tables)
    wide = pd.concat({f"{metric} seed {s}": tables[s][metric] for s in seeds}, axis=1, join="inner")
    return wide.assign(
        n=tables[seeds[0]]["n"],
        seeds=len(seeds),
        **{
            f"{metric}_mean": wide.mean(axis=1),
            f"{metric}_sd": wide.std(axis=1, ddof=1),
            f"{metric}_min": wide.min(axis=1),
            f"{metric}_max": wide.max(axis=1),
        },
    )
