"""The paper's adaptive memory: storage, retrieval and utilization with learnable parameters.

One memory cycle per agent step (PAPER §1.2):

* store(text) only appends to a cache (no LLM call).
* recall(question):
  1. storage: the cache is flushed into ONE memory unit by hint-guided extraction,
     m_t = LLM(p_glob, hint, cache) (PAPER §4.1); the hint is theta_s, "No hint." by default;
  2. retrieval: the WHOLE storage is ranked by f = g . d, the gated experts (l2m.retrieval);
  3. utilization: the ranked units are merged in order, the first copied verbatim and each later
     one by an LLM call, until a stochastic stop rule ends it (PAPER §3.1-§3.2);
  and the merged context (truncated) goes back with a record of all three stages, the training
  signal of every off-policy and on-policy stage.

With default parameters (an untrained gate, "No hint.", the base LLM merging) this is Ours-def.
The recall query is always the question (the harness passes it), as in the authors' code.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import torch

from l2m.calls import Operation, without_llm
from l2m.memory.base import Memory, MemorySettings, Recall, truncate_words
from l2m.memory.baselines.common import ask, check_choice, rounded
from l2m.models.llm import Sampling
from l2m.retrieval.experts import normalised_ages
from l2m.retrieval.gate import ScoreModel, UnitKeys

DEFAULT_HINT = "No hint."

EXTRACTION_PROMPT = """Observation: {observation}
Hint: {hint}

From the above observation and according to the hint, extract the critical informative points into one concise paragraph. Output only that paragraph."""

# The merge prompt of inference in the paper and the code (PAPER §3.1).
MERGE_PROMPT = """Observation: {question}
Existing Memory: {context}
New Memory: {memory}

Merge the new memory into the existing memory so that the result is useful for responding to the observation. Remove duplicated information without losing any information. Output only the merged memory."""

# The different wording the authors' code used to train the aggregator (PAPER §3.1 MISMATCH).
TRAINING_MERGE_PROMPT = """[Query]
{question}
[Existing Information]
{context}
[New Information]
{memory}

Merge the new information into the existing information. Requirements:
1. Remove duplicated content without losing useful information.
2. Output only the merged information; do not repeat the blocks above."""

MERGE_PROMPTS = {"inference": MERGE_PROMPT, "training": TRAINING_MERGE_PROMPT}


def merge_prompt(kind: str, question: str, context: str, memory: str) -> str:
    """The merge prompt of `kind` ("inference" or "training") for one (question, context, new memory)."""
    return MERGE_PROMPTS[kind].format(question=question, context=context, memory=memory)


# On a stop, the code returns the context before the rejected merge; the paper's figure keeps it.
STOP_KEEPS = ("previous", "current")


def word_count(text: str) -> int:
    """Words as the authors' code counts them: pieces split on single spaces."""
    return len(text.split(" "))


class StopRule:
    """The sequential merge's stochastic stop (PAPER §3.2, the code's exact trace).

    Call `keep_going(context)` with each accepted context, the first (copied) memory included.
    From the third memory on, with d1 and d2 the last two length increases,
    c = clip(d2 / |d1 + 1e-4|, 0, 1) and p = max(c_previous, c); the merge continues when
    U(0, 1) <= p. c_previous starts at 1, so the third memory is always kept and the first
    possible stop is at the fourth; a single low-gain merge is forgiven, two in a row rarely.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lengths = [0]
        self.previous_ratio = 1.0
        self.probabilities: list[float] = []

    def keep_going(self, context: str) -> bool:
        self.lengths.append(word_count(context))
        if len(self.lengths) <= 3:
            return True
        before, last = self.lengths[-2] - self.lengths[-3], self.lengths[-1] - self.lengths[-2]
        ratio = min(max(last / abs(before + 1e-4), 0.0), 1.0)
        probability = max(self.previous_ratio, ratio)
        self.previous_ratio = ratio
        self.probabilities.append(round(probability, 4))
        return self.rng.random() <= probability


@dataclass(frozen=True, kw_only=True)
class AdaptiveOptions:
    """The learned (or default) parameters outside the gate, and the paper/code choices."""

    hint: str = DEFAULT_HINT
    # Decoding of merges (the code allows 512 new tokens; extraction uses the profile's memory budget).
    merge_sampling: Sampling = Sampling(max_new_tokens=512)
    merge_prompt: str = "inference"
    stop_keep: str = "previous"
    # The model role that merges: the base memory LLM, or "aggregator:<adapters>" (Ours-U).
    merge_role: str = "memory"

    def __post_init__(self):
        check_choice("merge_prompt", self.merge_prompt, tuple(MERGE_PROMPTS))
        check_choice("stop_keep", self.stop_keep, STOP_KEEPS)


class AdaptiveMemory(Memory):
    name = "Ours"

    def __init__(self, encoder, scorer: ScoreModel, settings: MemorySettings, options: AdaptiveOptions):
        self.encoder, self.scorer, self.settings, self.options = encoder, scorer.eval(), settings, options
        self.merge_settings = dataclasses.replace(settings, llm=options.merge_sampling)
        self.reset()

    def reset(self) -> None:
        self.cache: list[str] = []
        self.units: list[str] = []
        # Per unit, what the ranking computes from the unit alone (its embedding and scorer keys).
        self.keys: list[UnitKeys] = []
        self.query_embeddings: dict[str, torch.Tensor] = {}
        self.rng = random.Random(self.settings.seed)

    @without_llm
    def store(self, text: str) -> dict:
        """Only caches the text; the cache becomes one unit at the next recall."""
        self.cache.append(text)
        return {"type": "store", "text": text, "cached": len(self.cache), "llm_calls": []}

    def recall(self, query: str) -> Operation[Recall]:
        calls: list[dict] = []
        stored = yield from self._flush(calls)
        ranking, retrieved = self._rank(query)
        context, utilized = yield from self._merge(query, ranking, calls)
        record = {"type": "recall", "query": query, "store": stored, "retrieve": retrieved, "utilize": utilized}
        return Recall(truncate_words(context, self.settings.word_limit), {**record, "llm_calls": calls})

    def _flush(self, calls: list[dict]) -> Operation[dict | None]:
        """Extract the cached texts into one unit (PAPER §4.1); None when the cache is empty."""
        if not self.cache:
            return None
        raw = truncate_words("\n".join(self.cache), self.settings.word_limit)
        prompt = EXTRACTION_PROMPT.format(observation=raw, hint=self.options.hint)
        unit = yield from ask("extract", prompt, self.settings, calls)
        self.cache = []
        self.units.append(unit)
        embedding = torch.from_numpy(self.encoder.encode([unit], kind="passage"))
        with torch.no_grad():
            self.keys.append(self.scorer.unit_keys(embedding))
        return {"raw_observation": raw, "extracted": unit, "hint": self.options.hint, "time": len(self.units) - 1}

    @torch.no_grad()
    def _rank(self, query: str) -> tuple[list[int], dict]:
        """Every unit, best first, by the gated experts; the record keeps scores, gates and experts."""
        if query not in self.query_embeddings:
            self.query_embeddings[query] = torch.from_numpy(self.encoder.encode([query], kind="query")[0])
        keys = UnitKeys.concat(self.keys)
        gates, experts = self.scorer.gates_and_experts(self.query_embeddings[query], keys, normalised_ages(len(self.units)))
        scores = (gates * experts).sum(-1)
        ranking = [int(i) for i in torch.argsort(-scores, stable=True)]
        record = {
            "units": list(self.units),
            "ranking": ranking,
            "scores": rounded(scores),
            "gates": [rounded(row) for row in gates],
            "experts": [rounded(row) for row in experts],
        }
        return ranking, record

    def _merge(self, question: str, ranking: list[int], calls: list[dict]) -> Operation[tuple[str, dict]]:
        """Sequential aggregation in ranked order with the stop rule (PAPER §3.1-§3.2)."""
        stop = StopRule(self.rng)
        context = self.units[ranking[0]]
        accepted, end = [context], "all merged"
        stop.keep_going(context)
        for index in ranking[1:]:
            prompt = merge_prompt(self.options.merge_prompt, question, context, self.units[index])
            merged = yield from ask("merge", prompt, self.merge_settings, calls, role=self.options.merge_role)
            if word_count(merged) > self.settings.word_limit:
                end = "word limit"
                break
            if not stop.keep_going(merged):
                end = "stop rule"
                if self.options.stop_keep == "current":
                    context = merged
                    accepted.append(merged)
                break
            context = merged
            accepted.append(merged)
        record = {"intermediate": accepted, "end": end, "stop_probabilities": stop.probabilities}
        return context, record
