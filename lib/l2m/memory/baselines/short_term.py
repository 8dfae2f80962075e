"""STMemory: short-term memory, a recency window (BASELINES §3, PAPER §8.1).

Store appends the unit (no embedding, no LLM call); recall ignores the query and renders the
`settings.top_k` most recently stored units, the newest at [0], truncated to
`settings.word_limit` words.
"""

from __future__ import annotations

from l2m.calls import without_llm
from l2m.memory.base import Memory, MemorySettings, Recall
from l2m.memory.baselines.common import KEEP_CHOICES, check_choice, render


class STMemory(Memory):
    """The last k units, newest first (MemEngine's STMemory with TimeRetrieval in `raw` mode).

    Options and the MemEngine behaviour each one reproduces or changes:

    * `settings.top_k` units are returned (paper D.3: 10; MemEngine's default is 5).
    * `keep="head"` (default, MemEngine): truncation keeps the first words, which here are the
      NEWEST units; "tail" keeps the last words (the oldest units in the window).

    Reproduced as they are, with no option since neither changes what the agent sees:
    `raw` mode orders by insertion and ignores timestamp values (units here carry none), and
    MemEngine's store-method config key is dead (the class hard-codes its store).
    """

    name = "STMemory"

    def __init__(self, settings: MemorySettings = MemorySettings(), *, keep: str = "head"):
        check_choice("keep", keep, KEEP_CHOICES)
        self.settings, self.keep = settings, keep
        self.texts: list[str] = []

    def reset(self) -> None:
        self.texts = []

    @without_llm
    def store(self, text: str) -> dict:
        self.texts.append(text)
        return {"type": "store", "text": text, "index": len(self.texts) - 1, "llm_calls": []}

    @without_llm
    def recall(self, query: str) -> Recall:
        # BASELINES §3: reverse insertion order, the first top_k; the query is ignored.
        newest_first = list(range(len(self.texts) - 1, -1, -1))[: self.settings.top_k]
        record = {"type": "recall", "query": query, "indices": newest_first, "llm_calls": []}
        return Recall(render([self.texts[i] for i in newest_first], self.settings, self.keep), record)
