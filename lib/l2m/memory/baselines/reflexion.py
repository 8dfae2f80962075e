"""RFMemory: Reflexion-style memory (BASELINES §8; in MemEngine, not evaluated in the paper).

Within a trial it is FUMemory: every unit, in insertion order. Between trials `optimize`
reflects on the finished trial (one LLM call) and writes an insight that later recalls show
first, so that it survives head truncation.
"""

from __future__ import annotations

from l2m.calls import Operation, without_llm
from l2m.memory.base import (
    EMPTY_CONTEXT,
    Memory,
    MemorySettings,
    Recall,
    render_indexed,
    render_sections,
    truncate_words,
)
from l2m.memory.baselines.common import KEEP_CHOICES, ask, check_choice

REFLECT_PROMPT = (
    "Previous insight: {previous}\n"
    "New trial: {trial}\n"
    "You are an agent that improves by reflecting on your own attempts. Above are the insight you "
    "drew from earlier trials and a trial you have just finished. Write a new insight: keep what "
    "still holds from the previous insight; if the trial failed, name the likely reason and give a "
    "short, high-level plan that avoids the same failure. Use complete sentences and be concise.\n"
    "Example:\n"
    "Previous insight: None\n"
    "New trial: (Step 1) Search[birthplace of the director of Jaws] -> no page found. "
    "(Step 2) Finish[unknown] -> wrong answer.\n"
    "Output: Searching for a whole question finds nothing. Search one entity at a time: first the "
    "director of Jaws, then that person's page for the birthplace.\n"
    "Output only the new insight."
)


class RFMemory(Memory):
    """Full memory plus a cross-trial insight (MemEngine's RFMemory).

    Options, with the MemEngine behaviour each one reproduces or changes:

    * `keep_insight=True` (reproduce): the insight survives `reset()`, i.e. it carries into the
      next trial (episode). MemEngine gets this by accident: `reset()` rebinds the insight
      dict while its operations keep the old one. False clears it with the units.
    * `max_insights=1` (reproduce): each reflection replaces the insight. Reflexion keeps the
      last 1-3 reflections; `max_insights=3` keeps the newest three, shown as a list.
    * `keep="head"` (reproduce): truncation to `settings.word_limit` keeps the first words.

    Reflexion reflects only after a failed trial; here, as in MemEngine, `optimize` reflects on
    whatever it is given, so a caller that wants Reflexion's rule calls it after failures only.
    A reply that is empty leaves the insight unchanged.
    """

    name = "RFMemory"

    def __init__(
        self,
        settings: MemorySettings = MemorySettings(),
        *,
        keep_insight: bool = True,
        max_insights: int = 1,
        keep: str = "head",
    ):
        check_choice("keep", keep, KEEP_CHOICES)
        if max_insights < 1:
            raise ValueError(f"max_insights must be at least 1, got {max_insights}")
        self.settings, self.keep_insight, self.max_insights, self.keep = settings, keep_insight, max_insights, keep
        self.units: list[str] = []
        self.insights: list[str] = []

    def reset(self) -> None:
        self.units = []
        if not self.keep_insight:
            self.insights = []

    @without_llm
    def store(self, text: str) -> dict:
        # BASELINES §8: store as FUMemory does.
        self.units.append(text)
        return {"type": "store", "text": text, "units": len(self.units), "llm_calls": []}

    @without_llm
    def recall(self, query: str) -> Recall:
        record = {
            "type": "recall",
            "query": query,
            "units": len(self.units),
            "insights": len(self.insights),
            "llm_calls": [],
        }
        return Recall(truncate_words(self._render(), self.settings.word_limit, self.keep), record)

    def _render(self) -> str:
        """FUMemory's list with no insight; with one, `(Insight)` first, then `(Memory)` if any."""
        if not self.insights:
            return render_indexed(self.units)
        sections = {"Insight": self.insights[-1] if self.max_insights == 1 else self.insights}
        if self.units:
            sections["Memory"] = self.units
        return render_sections(sections)

    def optimize(self, new_trial: str) -> Operation[dict]:
        """Reflect on a finished trial and rewrite the insight (BASELINES §8, one LLM call)."""
        calls: list[dict] = []
        previous = "\n".join(self.insights) or EMPTY_CONTEXT
        prompt = REFLECT_PROMPT.format(previous=previous, trial=new_trial)
        insight = yield from ask("reflect", prompt, self.settings, calls)
        if insight:
            # MemEngine overwrites the insight; Reflexion keeps the last few reflections.
            self.insights = (self.insights + [insight])[-self.max_insights :]
        return {"type": "optimize", "trial": new_trial, "insight": insight, "llm_calls": calls}
