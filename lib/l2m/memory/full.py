"""FUMemory: full memory (BASELINES §1, PAPER §8.1).

Store appends the unit; recall ignores the query and renders every unit in insertion order as
an indexed list, truncated to the word limit. Oddity kept by default: truncation keeps the
head (the OLDEST content), so with long observations the latest steps are cut;
`keep="tail"` keeps the newest words instead.

`initial_units` are present after every reset: the analysis tools use them to hand the agent
the gold paragraphs as its memory.
"""

from __future__ import annotations

from l2m.calls import without_llm
from l2m.memory.base import Memory, Recall, render_indexed, truncate_words


class FUMemory(Memory):
    name = "FUMemory"

    def __init__(self, *, word_limit: int = 8096, keep: str = "head", initial_units: tuple[str, ...] = ()):
        self.word_limit, self.keep = word_limit, keep
        self.initial_units = tuple(initial_units)
        self.units: list[str] = list(self.initial_units)

    def reset(self) -> None:
        self.units = list(self.initial_units)

    @without_llm
    def store(self, text: str) -> dict:
        self.units.append(text)
        return {"type": "store", "text": text, "units": len(self.units)}

    @without_llm
    def recall(self, query: str) -> Recall:
        context = truncate_words(render_indexed(self.units), self.word_limit, self.keep)
        return Recall(context, {"type": "recall", "query": query, "units": len(self.units)})
