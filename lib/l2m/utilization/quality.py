"""Merge quality, measured apart from the agent: length, facts kept, repetition.

* words: the merge's length as the stop rule counts it;
* facts kept: of the supporting-fact sentences present in the inputs (existing context and new
  memory), the share still present in the merge (exact substring);
* duplicate rate: the share of the merge's sentences that are near-duplicates (encoder cosine at
  or above a threshold) of an earlier sentence of the same merge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from l2m.data.hotpotqa import HotpotRecord
from l2m.memory.adaptive import word_count
from l2m.metrics import interval_columns
from l2m.retrieval.quality import supporting_sentences
from l2m.utilization.expert import sentences
from l2m.utilization.samples import MergeSample


def facts_kept(sample: MergeSample, merged: str, record: HotpotRecord) -> float | None:
    """Share of the inputs' supporting-fact sentences found in the merge; None if the inputs hold none."""
    present = [f for f in supporting_sentences(record) if f in sample.context or f in sample.memory]
    return sum(f in merged for f in present) / len(present) if present else None


def duplicate_rate(merged: str, encoder, threshold: float = 0.9) -> float:
    parts = sentences(merged)
    if len(parts) < 2:
        return 0.0
    vectors = encoder.encode(parts, kind="passage")
    similarity = np.tril(vectors @ vectors.T, k=-1)
    return float((similarity.max(axis=1) >= threshold).mean())


def merge_quality(
    merges: dict[str, list[str]], samples: list[MergeSample], records: list[HotpotRecord], encoder
) -> pd.DataFrame:
    """One row per merger (expert, base, SFT, DPO...): mean words, facts kept and duplicate rate with 95% intervals."""
    rows = {}
    for name, merged in merges.items():
        kept = [v for s, m, r in zip(samples, merged, records) if (v := facts_kept(s, m, r)) is not None]
        columns = {
            "words": [float(word_count(m)) for m in merged],
            "facts kept": kept,
            "duplicate rate": [duplicate_rate(m, encoder) for m in merged],
        }
        rows[name] = {"n": len(merged)} | interval_columns(columns, unbounded=("words",))
    return pd.DataFrame(rows).T
