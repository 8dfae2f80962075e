"""LTMemory: long-term memory by embedding retrieval (BASELINES §2, PAPER §8.1).

Store embeds each unit's full text, one row per unit; recall embeds the query, ranks every unit
by cosine and renders the `settings.top_k` most similar, the most similar at [0], truncated to
`settings.word_limit` words.

"""

from __future__ import annotations

from l2m.calls import without_llm
from l2m.memory.base import Memory, MemorySettings, Recall
from l2m.memory.baselines.common import (
    KEEP_CHOICES,
    EmbeddingIndex,
    check_choice,
    render,
    rounded,
    top_k,
)

QUERY_SOURCES = ("query", "latest", "query+latest")


class LTMemory(Memory):
    """Top-k cosine retrieval over every stored unit (MemEngine's LTMemory).

    Options and the MemEngine behaviour each one reproduces or changes:

    * `settings.top_k` units are returned (paper D.3: 10; MemEngine's default is 5), with no
      similarity threshold, as in MemEngine.
    * `keep="head"` (default, MemEngine): truncation keeps the first `settings.word_limit` words,
      so the least similar units are the ones cut; "tail" keeps the last words instead.
    * `query_source="query"` (default, MemEngine): search with the query the harness passes.
      In the HotpotQA loop that query is always the question, so the step-1 unit holding the
      question nearly always ranks first (BASELINES §2). "latest" searches with the newest
      stored unit instead (at recall time, the current observation); "query+latest" with both.
    """

    name = "LTMemory"

    def __init__(
        self, encoder, settings: MemorySettings = MemorySettings(), *, keep: str = "head", query_source: str = "query"
    ):
        check_choice("keep", keep, KEEP_CHOICES)
        check_choice("query_source", query_source, QUERY_SOURCES)
        self.settings, self.keep, self.query_source = settings, keep, query_source
        self.index = EmbeddingIndex(encoder)
        self.texts: list[str] = []

    def reset(self) -> None:
        self.texts = []
        self.index.clear()

    @without_llm
    def store(self, text: str) -> dict:
        # BASELINES §2: append the unit and embed its full text, one row per unit.
        self.texts.append(text)
        self.index.add(text)
        return {"type": "store", "text": text, "index": len(self.texts) - 1, "llm_calls": []}

    @without_llm
    def recall(self, query: str) -> Recall:
        # BASELINES §2: cosine with every unit, descending, top-k, rendered in score order.
        scores = self.index.cosine(self._search_text(query))
        chosen = top_k(scores, self.settings.top_k)
        record = {
            "type": "recall",
            "query": query,
            "query_source": self.query_source,
            "indices": chosen,
            "scores": rounded(scores[chosen]),
            "llm_calls": [],
        }
        return Recall(render([self.texts[i] for i in chosen], self.settings, self.keep), record)

    def _search_text(self, query: str) -> str:
        if self.query_source == "query" or not self.texts:
            return query
        latest = self.texts[-1]
        return latest if self.query_source == "latest" else f"{query}\n{latest}"
