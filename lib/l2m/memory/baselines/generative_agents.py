"""GAMemory: Generative Agents memory (BASELINES §4, PAPER §8.1).

Store asks the LLM how important each unit is. Recall ranks every unit by
relevance + recency + importance and refreshes the recency of what it returns. Reflection turns
the most recent units into questions, retrieves evidence for each question, and stores the
insights the LLM draws from that evidence as new units, each pointing back at its evidence.
"""

from __future__ import annotations

import re

import numpy as np

from l2m.calls import Operation, without_llm
from l2m.memory.base import Memory, MemorySettings, Recall
from l2m.memory.baselines.common import (
    KEEP_CHOICES,
    EmbeddingIndex,
    ask,
    check_choice,
    min_max,
    render,
    rounded,
    top_k,
)
from l2m.memory.judge import parse_number

IMPORTANCE_PROMPT = (
    "On a scale from 1 to 10, where 1 is not important at all and 10 is extremely important, "
    "rate how important the following message is.\n"
    "Message: {text}\n"
    "Output only the number."
)
QUESTION_PROMPT = (
    "Statements:\n{statements}\n\n"
    "Using only the statements above, list the {n} most salient high-level questions that can be "
    "asked about them. Write one question per line."
)
INSIGHT_PROMPT = (
    "Statements:\n{statements}\n\n"
    "Infer {n} high-level insights from the statements above. "
    "Write one insight per line, without numbering."
)

# Ratings are on a 1..10 scale and divided by 10 (MemEngine's post_scale), giving [0.1, 1.0].
RATING_SCALE = 10.0
# A reply with no number counts as the middle of the scale (MemEngine's eval() would crash);
# the store record flags it as `importance_fallback`.
FALLBACK_RATING = 5.0

_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")


def parse_lines(reply: str, n: int) -> list[str]:
    """At most n non-empty lines of `reply`, list markers removed.

    MemEngine asserts that the reply has exactly n lines, so a model that adds a preamble or one
    line too many crashes the episode; here extra lines are dropped and fewer are accepted.
    """
    lines = (_LIST_MARKER.sub("", line).strip() for line in reply.splitlines())
    return [line for line in lines if line][:n]


class GAMemory(Memory):
    """MemEngine's GAMemory, with its reflection.

    Choices, each with its default (BASELINES §4 oddities first):

    * Unnormalised sum, reproduced: `normalise=False` adds raw cosine, `decay`^Δt and
      importance with weight 1 each. Recency barely varies (0.995^30 ≈ 0.86, since one time unit
      is one stored unit). `normalise=True` min-max scales each component per query first, as
      the original Generative Agents does.
    * Reflection is never automatic in MemEngine (only `manage('reflect')` runs it).
      `auto_reflect=True` is the harness choice made here, as the paper presumably did: at the
      end of every `store`, once the accumulated importance reaches `threshold`, `reflect()` runs
      and its calls join the store's record. `reflect()` can also be called directly.
    * Below the threshold MemEngine's reflect returns None and `manage` crashes on it: fixed,
      the reflection record then has `ran=False` and no insights.
    * Threshold scale, reproduced: `threshold=0.3` on importances already divided by 10, so one
      unit rated 3 or more triggers a reflection (the original uses 150 on raw 1-10 ratings).
    * Reflection context, reproduced: the self-ask sees the `question_context` units with the
      highest recency, where recency uses the refreshed (last-access) time; `None` (default)
      means `reflection_topk` = 2, as in MemEngine (the original uses 100).
    * Fragile parsing, fixed: importance is the first number in the reply, clipped to 1..10
      (`FALLBACK_RATING` when there is none, flagged in the record), never eval(); question and
      insight replies keep up to N non-empty lines instead of asserting exactly N.
    * Reproduced without options: recursive source expansion may repeat (and so grow
      quadratically), and refreshed units tie in time with the next stored unit. MemEngine's dead
      typo attribute has nothing to reproduce.

    Other settings: `settings.top_k` units are returned (paper D.3: 10; MemEngine's GA default
    is 5); `keep="head"` truncation as in MemEngine; `decay=0.995`, `reflection_topk=2`,
    `question_number=2`, `insight_number=2` are MemEngine's defaults.
    """

    name = "GAMemory"

    def __init__(
        self,
        encoder,
        settings: MemorySettings = MemorySettings(),
        *,
        keep: str = "head",
        decay: float = 0.995,
        normalise: bool = False,
        auto_reflect: bool = True,
        threshold: float = 0.3,
        reflection_topk: int = 2,
        question_context: int | None = None,
        question_number: int = 2,
        insight_number: int = 2,
    ):
        check_choice("keep", keep, KEEP_CHOICES)
        self.settings, self.keep = settings, keep
        self.decay, self.normalise = decay, normalise
        self.auto_reflect, self.threshold = auto_reflect, threshold
        self.reflection_topk = reflection_topk
        self.question_context = reflection_topk if question_context is None else question_context
        self.question_number, self.insight_number = question_number, insight_number
        self.index = EmbeddingIndex(encoder)
        self.reset()

    def reset(self) -> None:
        # Parallel per-unit lists; a unit's position is its id.
        self.texts: list[str] = []
        self.times: list[int] = []  # insertion index, later the time of last access
        self.importances: list[float] = []
        self.sources: list[list[int]] = []  # evidence ids of an insight; empty for a stored unit
        self.index.clear()
        self.accumulated_importance = 0.0

    # -- store ------------------------------------------------------------------------------

    def store(self, text: str) -> Operation[dict]:
        calls: list[dict] = []
        unit = yield from self._store_unit(text, [], calls)
        record = {"type": "store", **unit, "accumulated_importance": round(self.accumulated_importance, 4)}
        record["reflection"] = None
        # auto_reflect is the harness's choice (class docstring); MemEngine reflects only when asked.
        if self.auto_reflect and self.accumulated_importance >= self.threshold:
            record["reflection"] = yield from self._reflect(calls)
        record["llm_calls"] = calls
        return record

    def _store_unit(self, text: str, sources: list[int], calls: list[dict]) -> Operation[dict]:
        """BASELINES §4 store: one importance call, then push time, embedding and importance.

        Both stored units and insights come through here, so each gets its importance call.
        """
        reply = yield from ask("importance", IMPORTANCE_PROMPT.format(text=text), self.settings, calls)
        rating = parse_number(reply, FALLBACK_RATING, low=1.0, high=RATING_SCALE)
        importance = rating.value / RATING_SCALE
        self.accumulated_importance += importance
        index = len(self.texts)  # the storage counter before insertion is the unit's time
        self.texts.append(text)
        self.times.append(index)
        self.importances.append(importance)
        self.sources.append(list(sources))
        self.index.add(text)
        return {
            "text": text,
            "index": index,
            "time": index,
            "importance": round(importance, 4),
            "importance_fallback": rating.used_fallback,
            "sources": list(sources),
        }

    # -- recall -----------------------------------------------------------------------------

    @without_llm
    def recall(self, query: str) -> Recall:
        now = len(self.texts)
        components = self._components(query)
        scores = sum(components.values())
        chosen = top_k(scores, self.settings.top_k)
        # BASELINES §4 recall step 4: a returned unit's time becomes now (recency refresh).
        for i in chosen:
            self.times[i] = now
        record = {"type": "recall", "query": query, "now": now, "indices": chosen, "scores": rounded(scores[chosen])}
        record.update({name: rounded(values[chosen]) for name, values in components.items()})
        record["llm_calls"] = []
        return Recall(render([self.texts[i] for i in chosen], self.settings, self.keep), record)

    def _components(self, query: str) -> dict[str, np.ndarray]:
        # BASELINES §4: score = cos(q, m) + 0.995^(now − t_m) + importance_m, each with weight 1.
        components = {
            "relevance": self.index.cosine(query).astype(np.float64),
            "recency": self._recency(),
            "importance": np.array(self.importances, dtype=np.float64),
        }
        if self.normalise:
            components = {name: min_max(values) for name, values in components.items()}
        return components

    def _recency(self) -> np.ndarray:
        """decay^(now − t) per unit, with now = the storage counter (one stored unit = one time step)."""
        return self.decay ** (len(self.texts) - np.array(self.times, dtype=np.float64))

    # -- reflection -------------------------------------------------------------------------

    def reflect(self) -> Operation[dict]:
        """MemEngine's manage('reflect'): questions, evidence, insights stored as units."""
        calls: list[dict] = []
        details = yield from self._reflect(calls)
        return {"type": "reflect", **details, "llm_calls": calls}

    def _reflect(self, calls: list[dict]) -> Operation[dict]:
        """The reflection's details; its LLM calls go into `calls`, so a store that reflects lists
        every call of the store once, in its own `llm_calls`."""
        # Step 1: only at or above the threshold; the accumulator then restarts from 0.
        if self.accumulated_importance < self.threshold:
            return {"ran": False, "recent": [], "questions": [], "evidence": [], "insights": []}
        self.accumulated_importance = 0.0
        # Steps 2-3: self-ask over the most recently stored or accessed units.
        recent = top_k(self._recency(), self.question_context)
        prompt = QUESTION_PROMPT.format(statements=self._statements(recent), n=self.question_number)
        reply = yield from ask("reflect_questions", prompt, self.settings, calls)
        questions = parse_lines(reply, self.question_number)
        # Step 4: evidence for the questions (none when no question could be read from the reply).
        evidence = self._evidence(questions)
        insights = []
        if evidence:
            # Steps 5-6: insights, stored through the store path with the evidence as their source.
            prompt = INSIGHT_PROMPT.format(statements=self._statements(evidence), n=self.insight_number)
            reply = yield from ask("reflect_insights", prompt, self.settings, calls)
            for text in parse_lines(reply, self.insight_number):
                insights.append((yield from self._store_unit(text, evidence, calls)))
        return {"ran": True, "recent": recent, "questions": questions, "evidence": evidence, "insights": insights}

    def _evidence(self, questions: list[str]) -> list[int]:
        """The `reflection_topk` most similar units for each question, each unit once."""
        evidence: list[int] = []
        for question in questions:
            evidence += [i for i in top_k(self.index.cosine(question), self.reflection_topk) if i not in evidence]
        return evidence

    def _statements(self, ids: list[int]) -> str:
        return "\n".join(self._expanded(i) for i in ids)

    def _expanded(self, i: int) -> str:
        """A unit's text followed, in brackets, by its sources' expanded texts (BASELINES §4 step 4)."""
        if not self.sources[i]:
            return self.texts[i]
        return f"{self.texts[i]} ({'; '.join(self._expanded(j) for j in self.sources[i])})"
