"""MBMemory: MemoryBank (BASELINES §5, PAPER §8.1).

Store keeps every unit with a time, a source ("history" or "summary") and a strength, and when
the time moves on it summarises the previous time's units with the LLM and folds all per-time
summaries into one global summary. Recall ranks every unit by cosine and forgets each one at
random with an Ebbinghaus-style keep probability; the global summary comes first.
"""

from __future__ import annotations

import math
import random
import re

from l2m.calls import Operation, without_llm
from l2m.memory.base import (
    EMPTY_CONTEXT,
    Memory,
    MemorySettings,
    Recall,
    render_indexed,
)
from l2m.memory.baselines.common import (
    KEEP_CHOICES,
    EmbeddingIndex,
    ask,
    check_choice,
    render,
    rounded,
    top_k,
)

SUMMARY_PROMPT = (
    "Summarise the following content in one concise line that captures its main themes and key information.\n"
    "Content:\n{content}\n"
    "Summary:"
)

# MemEngine's global summary is the literal string 'None' until the first summary exists.
NO_GLOBAL_SUMMARY = "None"

FORMULAS = ("code", "paper")
CLOCKS = ("unit", "step")
_STEP = re.compile(r"\(Step (\d+)\)")


def keep_probability(elapsed: float, strength: float, coef: float, formula: str = "code") -> float:
    """The chance that a unit survives a recall (MemEngine's misnamed `get_forget_prob`).

    MemoryBank's retention is R = exp(−t / S): a stronger memory fades more slowly.
    "code":  exp(−Δt · S / coef), as MemEngine computes it: a stronger memory fades FASTER.
    "paper": exp(−Δt / (coef · S)), MemoryBank's direction.
    At MemEngine's strength of 1 both equal exp(−Δt / coef).
    """
    if formula == "code":
        return math.exp(-elapsed * strength / coef)
    return math.exp(-elapsed / (coef * strength))


class MBMemory(Memory):
    """MemEngine's MBMemory.

    Choices, each with its default (BASELINES §5 oddities):

    * Strength direction, reproduced: `forgetting="code"` keeps a unit with probability
      exp(−Δt·s/coef) with s fixed at 1 and no reinforcement. `forgetting="paper"` uses
      MemoryBank's exp(−Δt/(coef·s)) and reinforces every unit a recall returns: s += 1 and its
      time is set to now. `coef=5.0` is MemEngine's (Δt = 5 keeps ~0.37, Δt = 15 ~0.05).
    * No top-k and no truncation, reproduced: recall returns every surviving unit, so with whole
      Wikipedia pages the context is unbounded. `truncate=True` cuts it to
      `settings.word_limit` words (`keep` decides which end survives).
    * Stochastic forgetting, re-drawn on every recall (nothing is deleted), from a
      `random.Random(settings.seed)` owned by the memory and re-seeded by `reset()`, so an
      episode's draws do not depend on earlier episodes.
    * Summary trigger, reproduced: `clock="unit"` gives each unit the storage counter as its
      time, so every unit is its own "day"; since a summary unit follows the unit that triggered
      it and only a "history" unit can trigger, only every other unit is summarised.
      `clock="step"` reads the time from the harness's "(Step k)" label instead, so one agent
      step is one day ("one step = one day" in MemEngine's docstring), and "now" at recall is
      the latest step rather than the counter.
    * Reset aliasing, fixed: MemEngine's reset rebinds the summary dict its store still writes
      to, so after a reset the global summary reads "None" forever; here one object owns it.
    * Reproduced without options: the global summary is "None" until the first summary; the
      per-time summaries reach the LLM as a Python list's repr.

    An empty memory recalls the empty context (MemEngine's `empty_memory`), not a lone "None"
    summary.
    """

    name = "MBMemory"

    def __init__(
        self,
        encoder,
        settings: MemorySettings = MemorySettings(),
        *,
        coef: float = 5.0,
        forgetting: str = "code",
        clock: str = "unit",
        truncate: bool = False,
        keep: str = "head",
    ):
        check_choice("forgetting", forgetting, FORMULAS)
        check_choice("clock", clock, CLOCKS)
        check_choice("keep", keep, KEEP_CHOICES)
        self.settings, self.coef, self.forgetting, self.clock = settings, coef, forgetting, clock
        self.truncate, self.keep = truncate, keep
        self.index = EmbeddingIndex(encoder)
        self.reset()

    def reset(self) -> None:
        # Parallel per-unit lists; a unit's position is its id.
        self.texts: list[str] = []
        self.times: list[int] = []
        self.sources: list[str] = []  # "history" (a stored unit) or "summary"
        self.strengths: list[float] = []
        self.index.clear()
        self.day_summaries: list[str] = []
        self.global_summary = NO_GLOBAL_SUMMARY
        self.rng = random.Random(self.settings.seed)

    # -- store ------------------------------------------------------------------------------

    def store(self, text: str) -> Operation[dict]:
        calls: list[dict] = []
        previous = (self.times[-1], self.sources[-1]) if self.texts else None
        time = self._time_of(text)
        index = self._append(text, time, "history")
        record = {"type": "store", "text": text, "index": index, "time": time, "summary": None}
        # BASELINES §5 store step 3: the time moved on after a "history" unit, so the previous
        # time's units are summarised (a summary unit never triggers one).
        if previous is not None and previous[1] == "history" and time != previous[0]:
            record["summary"] = yield from self._summarise_day(previous[0], calls)
        record["llm_calls"] = calls
        return record

    def _time_of(self, text: str) -> int:
        if self.clock == "unit":
            return len(self.texts)  # the storage counter before insertion
        match = _STEP.search(text)
        if match is None:
            raise ValueError(f'MBMemory(clock="step") needs a "(Step k)" label in every stored unit, got {text[:80]!r}')
        return int(match.group(1))

    def _append(self, text: str, time: int, source: str) -> int:
        self.texts.append(text)
        self.times.append(time)
        self.sources.append(source)
        self.strengths.append(1.0)  # MemEngine's hard-coded initial strength
        self.index.add(text)
        return len(self.texts) - 1

    def _summarise_day(self, day: int, calls: list[dict]) -> Operation[dict]:
        """One call summarises the day's units, one folds every day summary into the global one."""
        day_units = "\n".join(text for text, time in zip(self.texts, self.times) if time == day)
        summary = yield from ask("summary", SUMMARY_PROMPT.format(content=day_units), self.settings, calls)
        index = self._append(summary, day, "summary")
        self.day_summaries.append(summary)
        prompt = SUMMARY_PROMPT.format(content=str(self.day_summaries))  # the list's repr, as in MemEngine
        self.global_summary = yield from ask("global_summary", prompt, self.settings, calls)
        return {"time": day, "text": summary, "index": index, "global_summary": self.global_summary}

    # -- recall -----------------------------------------------------------------------------

    @without_llm
    def recall(self, query: str) -> Recall:
        if not self.texts:
            return Recall(EMPTY_CONTEXT, {"type": "recall", "query": query, "indices": [], "llm_calls": []})
        now = self._now()
        scores = self.index.cosine(query)
        kept, probabilities = self._survivors(top_k(scores, len(scores)), now)
        if self.forgetting == "paper":
            self._reinforce(kept, now)
        # BASELINES §5 recall step 5: the global summary at [0], then the survivors by relevance.
        items = [self.global_summary] + [self.texts[i] for i in kept]
        context = render(items, self.settings, self.keep) if self.truncate else render_indexed(items)
        record = {
            "type": "recall",
            "query": query,
            "now": now,
            "indices": kept,
            "scores": rounded(scores[kept]),
            "keep_probabilities": rounded(probabilities),
            "llm_calls": [],
        }
        return Recall(context, record)

    def _now(self) -> int:
        return len(self.texts) if self.clock == "unit" else max(self.times)

    def _survivors(self, ranked: list[int], now: int) -> tuple[list[int], list[float]]:
        """Walk the units in relevance order, dropping each one when random() > p (BASELINES §5 step 4)."""
        kept, probabilities = [], []
        for i in ranked:
            p = keep_probability(now - self.times[i], self.strengths[i], self.coef, self.forgetting)
            if self.rng.random() <= p:
                kept.append(i)
                probabilities.append(p)
        return kept, probabilities

    def _reinforce(self, kept: list[int], now: int) -> None:
        """MemoryBank: a recalled memory gets stronger and its clock restarts."""
        for i in kept:
            self.strengths[i] += 1.0
            self.times[i] = now
