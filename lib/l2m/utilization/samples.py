"""Merge samples from sampled trajectories (PAPER §3.4, the code's utilization_trainset).

Only the LAST step of each trajectory is used, successful or not, and only when the sequential
aggregation ran to the end (as many accepted contexts as ranked units: no early stop) over at
least two units. Each merge of that chain is one sample: the question, the context accepted
before it, and the unit merged into it. Chains with a text over the word limit are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from l2m.memory.adaptive import word_count


@dataclass(frozen=True)
class MergeSample:
    question: str
    context: str
    memory: str


def merge_samples(episodes: list[dict], word_limit: int = 8096) -> list[MergeSample]:
    samples = []
    for episode in episodes:
        recall = episode["step_records"][-1]["recall"] if episode["step_records"] else {}
        if not recall.get("retrieve"):
            continue
        ranked = [recall["retrieve"]["units"][i] for i in recall["retrieve"]["ranking"]]
        contexts = recall["utilize"]["intermediate"]
        if len(ranked) < 2 or len(contexts) != len(ranked):
            continue
        if any(word_count(text) >= word_limit for text in [*ranked, *contexts]):
            continue
        samples += [MergeSample(episode["question"], contexts[i], ranked[i + 1]) for i in range(len(ranked) - 1)]
    return samples
