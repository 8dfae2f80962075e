"""Retrieval quality apart from answering: recall@k of the supporting facts (not in the paper).

HotpotQA labels the supporting-fact sentences of every question. A memory unit is *gold* when
the raw text it was extracted from (the flushed cache: thought, action and the page the search
returned) holds one of them. recall@k is the share of the gold units that a ranking puts in its
top k. Any ranking of the same units can be scored: the gate that ran in the episode, a trained
gate, a single expert alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from l2m.data.hotpotqa import HotpotRecord
from l2m.metrics import mean_interval
from l2m.retrieval.experts import EXPERT_NAMES, normalised_ages
from l2m.retrieval.gate import ScoreModel


def supporting_sentences(record: HotpotRecord) -> list[str]:
    sentences = []
    for title, index in record.supporting_facts:
        paragraph = record.paragraph(title)
        if index < len(paragraph) and paragraph[index].strip():
            sentences.append(paragraph[index].strip())
    return sentences


def unit_sources(episode: dict) -> list[str]:
    """The raw text behind every unit stored in an adaptive-memory episode, in storage order."""
    return [step["recall"]["store"]["raw_observation"] for step in episode["step_records"] if step["recall"]["store"]]


def gold_units(sources: list[str], record: HotpotRecord) -> set[int]:
    facts = supporting_sentences(record)
    return {i for i, text in enumerate(sources) if any(fact in text for fact in facts)}


def recall_at_k(ranking: list[int], gold: set[int], k: int) -> float | None:
    """Share of `gold` in the first k of `ranking`; None when there is no gold unit to find."""
    return len(gold & set(ranking[:k])) / len(gold) if gold else None


def expert_rankings(last_recall: dict) -> dict[str, list[int]]:
    """The ranking each expert alone gives the units of a recall record (ties keep storage order)."""
    experts = np.asarray(last_recall["retrieve"]["experts"])
    return {name: [int(i) for i in np.argsort(-experts[:, k], kind="stable")] for k, name in enumerate(EXPERT_NAMES)}


@torch.no_grad()
def model_ranking(model: ScoreModel, encoder, query: str, units: list[str]) -> list[int]:
    """The ranking a (trained) score model gives the stored units for `query`."""
    embedded_query = torch.from_numpy(encoder.encode([query], kind="query")[0])
    memories = torch.from_numpy(encoder.encode(units, kind="passage"))
    scores = model(embedded_query, memories, normalised_ages(len(units)))
    return [int(i) for i in torch.argsort(-scores, stable=True)]


@dataclass(frozen=True)
class RankedUnits:
    """The units a memory held at an episode's last recall (their raw sources) and one ranking."""

    record: HotpotRecord
    sources: list[str]
    ranking: list[int]

    def recall(self, k: int) -> float | None:
        return recall_at_k(self.ranking, gold_units(self.sources, self.record), k)


def last_adaptive_units(episode: dict) -> tuple[list[str], dict]:
    """(raw source of every unit, the last recall record) of an adaptive-memory episode."""
    return unit_sources(episode), episode["step_records"][-1]["recall"]


def last_recall_at_k(episode: dict, record: HotpotRecord, k: int) -> float | None:
    """recall@k of the supporting-fact units at an episode's last recall, for methods that rank units.

    The adaptive memory's own ranking, or the top-k a one-unit-per-store baseline returned
    (LTMemory, STMemory, GAMemory...); None for methods that do not rank units or when no unit
    holds a supporting fact.
    """
    last = episode["step_records"][-1]["recall"]
    if "retrieve" in last:
        sources, ranking = unit_sources(episode), last["retrieve"]["ranking"]
    elif "indices" in last:
        sources, ranking = last_baseline_units(episode)
    else:
        return None
    return recall_at_k(ranking, gold_units(sources, record), k)


def last_baseline_units(episode: dict) -> tuple[list[str], list[int]]:
    """(the text of every unit, the top-k the last recall returned) of a baseline that ranks units.

    Units are numbered by their store records ("index"), MBMemory's day summaries included. At the
    last recall the memory holds every store of the earlier steps and the last observation.
    """
    steps = episode["step_records"]
    units: dict[int, str] = {}
    for store in [s for step in steps[:-1] for s in step["store"]] + steps[-1]["store"][:1]:
        units[store["index"]] = store["text"]
        if store.get("summary"):
            units[store["summary"]["index"]] = store["summary"]["text"]
    texts = [units.get(i, "") for i in range(max(units, default=-1) + 1)]
    return texts, steps[-1]["recall"]["indices"]


def recall_table(cases: dict[str, list[RankedUnits]], ks: tuple[int, ...] = (1, 3, 5)) -> pd.DataFrame:
    """Mean recall@k with a 95% interval per ranking; n counts episodes with a gold unit to find."""
    rows = {}
    for name, ranked in cases.items():
        row = {}
        for k in ks:
            values = [v for case in ranked if (v := case.recall(k)) is not None]
            mean, low, high = mean_interval(values)
            row |= {"n": len(values), f"recall@{k}": mean, f"recall@{k} low": low, f"recall@{k} high": high}
        rows[name] = row
    return pd.DataFrame(rows).T


@torch.no_grad()
def gate_weights(model: ScoreModel, encoder, recalls: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """Mean and spread of the gate's weight per expert over every (query, unit) of `recalls`."""
    rows = []
    for query, units in recalls:
        embedded = torch.from_numpy(encoder.encode([query], kind="query")[0])
        rows.append(model.gate(embedded, torch.from_numpy(encoder.encode(units, kind="passage"))))
    weights = torch.cat(rows).numpy()
    return pd.DataFrame({"mean": weights.mean(0), "std": weights.std(0)}, index=list(EXPERT_NAMES))


def ranking_cases(
    episodes: list[dict],
    records: dict[str, HotpotRecord],
    rerankers: dict[str, Callable[[str, list[str]], list[int]]] | None = None,
) -> dict[str, list[RankedUnits]]:
    """For adaptive-memory episodes: the episode's own ranking, each expert's alone, and any reranker's.

    A reranker maps (query, unit texts) to a ranking, e.g. a trained gate through model_ranking.
    """
    cases: dict[str, list[RankedUnits]] = defaultdict(list)
    for episode in episodes:
        sources, last = last_adaptive_units(episode)
        rankings = {"episode gate": last["retrieve"]["ranking"], **expert_rankings(last)}
        for name, rerank in (rerankers or {}).items():
            rankings[name] = rerank(episode["question"], last["retrieve"]["units"])
        for name, ranking in rankings.items():
            cases[name].append(RankedUnits(records[episode["question_id"]], sources, ranking))
    return dict(cases)
