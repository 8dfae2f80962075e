"""Expert merges, the targets of utilization training (PAPER §3.4 used GPT-4o).

This project cannot call GPT-4o, so the expert is pluggable:

* `ProgrammaticMerge` (the default): keep the existing context verbatim, then append each sentence
  of the new memory unless it is a near-duplicate (encoder cosine at or above `threshold`) of a
  sentence already there, stopping before the word cap. It never loses information already in the
  context and adds no repetition of its own (one already in the context stays), which is what the
  merge prompt asks for; unlike an LLM it cannot rephrase, reorder or drop what is irrelevant to
  the question.
* `model_merges`: a stronger model the model layer can load or reach over an OpenAI-compatible
  endpoint, prompted with the merge prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from l2m.memory.adaptive import merge_prompt, word_count
from l2m.models.llm import ChatModel, Sampling
from l2m.runner import answer_prompts
from l2m.utilization.samples import MergeSample

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class ProgrammaticMerge:
    encoder: object
    threshold: float = 0.9
    word_limit: int = 8096

    def merge(self, sample: MergeSample) -> str:
        merged = sample.context
        seen = list(self.encoder.encode(sentences(sample.context), kind="passage"))
        for sentence in sentences(sample.memory):
            vector = self.encoder.encode([sentence], kind="passage")[0]
            if seen and float(np.max(np.stack(seen) @ vector)) >= self.threshold:
                continue
            if word_count(f"{merged} {sentence}") > self.word_limit:
                break
            merged = f"{merged} {sentence}" if merged else sentence
            seen.append(vector)
        return merged


def model_merges(
    samples: list[MergeSample],
    model: ChatModel,
    sampling: Sampling,
    *,
    prompt_kind: str = "inference",
    max_live: int = 16,
) -> list[str]:
    """The merge `model` writes for every sample (batched); used for expert and rejected merges."""
    prompts = [merge_prompt(prompt_kind, s.question, s.context, s.memory) for s in samples]
    return answer_prompts(model, "merge", prompts, sampling, max_live=max_live, description="merges")
