"""Extraction quality, measured apart from the agent: how much of a page an extraction keeps.

For each store record (a raw observation and the unit extracted from it):

* words: the extraction's length in whitespace-separated words;
* facts kept: of the supporting-fact sentences present in the observation, the share kept in the
  extraction by normalised token overlap (l2m.memory_metrics.sf_coverage: an extraction
  rephrases, so an exact substring test would miss what it kept);
* answer kept: for observations that contain the gold answer, whether the extraction still does.

`extract_all` re-extracts the same observations with another hint, so that hints are compared on
identical inputs.
"""

from __future__ import annotations

import pandas as pd

from l2m.data.hotpotqa import HotpotRecord
from l2m.memory.adaptive import EXTRACTION_PROMPT
from l2m.memory_metrics import answer_in_context, sf_coverage
from l2m.metrics import interval_columns
from l2m.models.llm import ChatModel, Sampling
from l2m.retrieval.quality import supporting_sentences
from l2m.runner import answer_prompts
from l2m.storage.records import StoreRecord


def extract_all(observations: list[str], hint: str, model: ChatModel, sampling: Sampling) -> list[str]:
    """The adaptive memory's extraction of every observation under `hint` (batched)."""
    prompts = [EXTRACTION_PROMPT.format(observation=o, hint=hint) for o in observations]
    return answer_prompts(model, "extract", prompts, sampling, description="extractions")


def observed_facts(observation: str, record: HotpotRecord) -> list[str]:
    """The supporting-fact sentences of `record` that occur in the observation."""
    return [fact for fact in supporting_sentences(record) if fact in observation]


def extraction_quality(
    extractions: dict[str, list[str]], store: list[StoreRecord], records: dict[str, HotpotRecord]
) -> pd.DataFrame:
    """One row per hint: n, mean words, facts kept and answer kept, with 95% intervals."""
    facts = [observed_facts(r.raw_observation, records[r.question_id]) for r in store]
    holds_answer = [answer_in_context(r.answer, r.raw_observation) for r in store]
    rows = {}
    for name, texts in extractions.items():
        columns = {
            "words": [float(len(t.split())) for t in texts],
            "facts kept": [sf_coverage(f, t) for f, t in zip(facts, texts) if f],
            "answer kept": [float(answer_in_context(r.answer, t)) for r, t, h in zip(store, texts, holds_answer) if h],
        }
        rows[name] = {"n": len(texts), "n with facts": len(columns["facts kept"]), "n with answer": len(columns["answer kept"])}
        rows[name] |= interval_columns(columns, unbounded=("words",))
    return pd.DataFrame(rows).T
