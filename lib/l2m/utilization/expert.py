"""Expert merges, the targets of utilization training (PAPER §3.4 used GPT-4o).

This project cannot call GPT-4o, so the expert is pluggable:

* `ProgrammaticMerge` (the default): keep the existing context verbatim, then append each sentence
  of the new memory unless it is a near-duplicate (encoder cosine at or above `threshold`) of a
  sentence already there, stopping before the word cap. It never loses information already in the
  context and never repeats it, which is what the merge prompt asks for; unlike an LLM it cannot
  rephrase, reorder or drop what is irrelevant to the question.
* `model_merges`: a stronger model the model layer can load or reach over an OpenAI-compatible
  endpoint, prompted with the merge prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from l2m.calls import Operation
from l2m.memory.adaptive import merge_prompt, word_count
from l2m.memory.base import memory_request
from l2m.models.llm import ChatModel, Sampling
from l2m.runner import run_lockstep
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


def _merge_operation(sample: MergeSample, prompt_kind: str, sampling: Sampling) -> Operation[str]:
    prompt = merge_prompt(prompt_kind, sample.question, sample.context, sample.memory)
    generation = yield memory_request("merge", prompt, sampling)
    return generation.text.strip()


def model_merges(
    samples: list[MergeSample],
    model: ChatModel,
    sampling: Sampling,
    *,
    prompt_kind: str = "inference",
    max_live: int = 16,
) -> list[str]:
    """The merge `model` writes for every sample (batched); used for expert and rejected merges."""
    operations = (_merge_operation(s, prompt_kind, sampling) for s in samples)
    return run_lockstep(operations, {"memory": model}, max_live=max_live, total=len(samples), description="merges")
