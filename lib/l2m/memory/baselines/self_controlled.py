"""SCMemory: Self-Controlled Memory (BASELINES §6, PAPER §8.1).

Store summarises each unit (one LLM call) and embeds its text. Recall shows the agent a small
"flash memory" of the newest units; an LLM judge decides whether that is enough, and if not the
units with the highest relevance + recency are activated and a second judge chooses whether the
agent sees their summaries or their full texts.

This module also holds `render_sections`, the dict form of MemEngine's ConcateUtilization, which
MGMemory and RFMemory use too.
"""

from __future__ import annotations

import numpy as np

from l2m.calls import Operation
from l2m.memory.base import (
    EMPTY_CONTEXT,
    Memory,
    MemorySettings,
    Recall,
    indexed_lines,
    render_indexed,
    render_sections,
    truncate_words,
)
from l2m.memory.baselines.common import (
    KEEP_CHOICES,
    EmbeddingIndex,
    ask,
    check_choice,
    min_max,
    rounded,
    top_k,
)
from l2m.memory.judge import parse_bool

SUMMARIZE_PROMPT = (
    "Content: {content}\n"
    "Summarise the content above in one line that keeps its main topics and key facts. "
    "Output only the summary."
)
ACTIVATION_PROMPT = (
    "Query: {query}\n"
    "Memory:\n{flash}\n"
    "Does answering the query correctly need information that is not in this memory? "
    "Output only True or False."
)
SUMMARY_JUDGE_PROMPT = (
    "Query: {query}\n"
    "Memory:\n{memory}\n"
    "Can the query be answered correctly from this memory? Output only True or False."
)


def judge_verdict(reply: str, exact: bool) -> tuple[bool, bool]:
    """(verdict, used_fallback) for a True/False judge reply.

    Tolerant (default): true/false or yes/no in any case, anywhere in the reply. A reply with
    neither counts as True, which is what MemEngine does with it: its parser returns an error
    string, and a non-empty string is truthy (BASELINES §0).
    Exact (MemEngine): only the strings "True" and "False" (the reply stripped of surrounding
    whitespace) are read; anything else is truthy.
    """
    if exact:
        return reply != "False", reply not in ("True", "False")
    parsed = parse_bool(reply, fallback=True)
    return bool(parsed.value), parsed.used_fallback


class SCMemory(Memory):
    """Flash memory, an activation judge and a summary judge (MemEngine's SCMemory).

    Options, with the MemEngine behaviour each one reproduces or changes:

    * `flash_capacity=3`, `activation_topk=3`, `decay=0.995`: MemEngine's defaults, which are
      the paper's ("flash memory = the 3 most recent units", "top-3 by relevance + recency").
      `settings.top_k` is not used: the paper gives SCMemory its own top-3.
    * `refresh_recency=True` (reproduce): an activated unit's time becomes "now", so it joins
      the next flash memory. False keeps insertion times, so the flash memory is simply the
      newest units, as in the original SCM.
    * `resummarize=False` (fix): activation reuses the summary written at store time. MemEngine
      writes that summary, never reads it, and pays one fresh summary call per activated unit;
      True does that.
    * `normalise=False` (reproduce): the activation score is the plain sum cos + 0.995^Δt. True
      min-max scales each part per query first, as Generative Agents does.
    * `deduplicate=False` (reproduce): activated units may repeat flash units. True activates
      only units outside the flash memory.
    * `exact_judge=False` (fix): judges are parsed tolerantly, a reply with no verdict counting
      as True and being logged. True reads only the exact strings "True"/"False", anything
      else being truthy, so "False." activates (MemEngine).
    * `keep="head"` (reproduce): truncation to `settings.word_limit` keeps the first words.

    Fixed without an option: an empty memory returns EMPTY_CONTEXT with no judge call (as
    MemEngine does), and MemEngine's crash when `activation_topk` is missing cannot happen.
    Equal recency (an activated unit and the next stored unit share a time) goes to the newer
    insertion. The summary judge sees the activated summaries and the flash memory, as
    MemEngine's template does despite its mismatched variable list; here they are shown as the
    labelled sections the agent would get.
    """

    name = "SCMemory"

    def __init__(
        self,
        encoder,
        settings: MemorySettings = MemorySettings(),
        *,
        flash_capacity: int = 3,
        activation_topk: int = 3,
        decay: float = 0.995,
        refresh_recency: bool = True,
        resummarize: bool = False,
        normalise: bool = False,
        deduplicate: bool = False,
        exact_judge: bool = False,
        keep: str = "head",
    ):
        check_choice("keep", keep, KEEP_CHOICES)
        self.settings, self.keep = settings, keep
        self.flash_capacity, self.activation_topk, self.decay = flash_capacity, activation_topk, decay
        self.refresh_recency, self.resummarize = refresh_recency, resummarize
        self.normalise, self.deduplicate, self.exact_judge = normalise, deduplicate, exact_judge
        self.index = EmbeddingIndex(encoder)
        self.reset()

    def reset(self) -> None:
        self.texts: list[str] = []
        self.summaries: list[str] = []
        self.times: list[int] = []
        self.index.clear()

    def store(self, text: str) -> Operation[dict]:
        calls: list[dict] = []
        # BASELINES §6: time = the storage counter; one LLM call writes the unit's summary.
        time = len(self.texts)
        summary = yield from ask("summarize", SUMMARIZE_PROMPT.format(content=text), self.settings, calls)
        self.texts.append(text)
        self.summaries.append(summary)
        self.times.append(time)
        self.index.add(text)
        return {"type": "store", "text": text, "time": time, "summary": summary, "llm_calls": calls}

    def recall(self, query: str) -> Operation[Recall]:
        calls: list[dict] = []
        record: dict = {"type": "recall", "query": query, "llm_calls": calls}
        if not self.texts:
            return Recall(EMPTY_CONTEXT, record)
        now = len(self.texts)
        # BASELINES §6 steps 1-2: the flash memory, and a judge on whether it is enough.
        flash = self._flash()
        flash_texts = [self.texts[i] for i in flash]
        prompt = ACTIVATION_PROMPT.format(query=query, flash=indexed_lines(flash_texts))
        reply = yield from ask("judge", prompt, self.settings, calls)
        activate, fallback = judge_verdict(reply, self.exact_judge)
        record.update(flash=flash, activate=activate, activate_fallback=fallback)
        if not activate:
            return Recall(self._truncate(render_indexed(flash_texts)), record)

        # Step 3: activate the best units by relevance + recency; step 4: judge their summaries.
        activated, scores = self._activate(query, now, excluded=flash if self.deduplicate else [])
        summaries = yield from self._summaries(activated, calls)
        candidate = render_sections({"History Summary": summaries, "Flash Memory": flash_texts})
        prompt = SUMMARY_JUDGE_PROMPT.format(query=query, memory=candidate)
        reply = yield from ask("judge", prompt, self.settings, calls)
        use_summaries, fallback = judge_verdict(reply, self.exact_judge)
        record.update(activated=activated, scores=rounded(scores))
        record.update(use_summaries=use_summaries, summary_fallback=fallback)
        # The summaries if the judge says they suffice, else the full texts (step 5: truncate).
        if not use_summaries:
            full_texts = [self.texts[i] for i in activated]
            candidate = render_sections({"History Memory": full_texts, "Flash Memory": flash_texts})
        return Recall(self._truncate(candidate), record)

    def _flash(self) -> list[int]:
        """The `flash_capacity` units with the highest 0.995^(now − t), i.e. the latest t, newest first."""
        order = np.lexsort((np.arange(len(self.times)), np.asarray(self.times)))[::-1]
        return [int(i) for i in order[: self.flash_capacity]]

    def _activate(self, query: str, now: int, excluded: list[int]) -> tuple[list[int], np.ndarray]:
        """The `activation_topk` best units by relevance + recency, with their times refreshed."""
        relevance = self.index.cosine(query).astype(np.float64)
        recency = self.decay ** (now - np.asarray(self.times, dtype=np.float64))
        if self.normalise:
            relevance, recency = min_max(relevance), min_max(recency)
        # BASELINES §6: score = cos(q, m) + 0.995^(now − t), an unweighted sum.
        scores = relevance + recency
        candidates = np.array([i for i in range(len(self.texts)) if i not in excluded], dtype=int)
        activated = [int(candidates[r]) for r in top_k(scores[candidates], self.activation_topk)]
        if self.refresh_recency:
            for i in activated:
                self.times[i] = now
        return activated, scores[activated]

    def _summaries(self, ids: list[int], calls: list[dict]) -> Operation[list[str]]:
        """The activated units' summaries: those written at store time, or fresh ones (MemEngine)."""
        if not self.resummarize:
            return [self.summaries[i] for i in ids]
        summaries = []
        for i in ids:
            prompt = SUMMARIZE_PROMPT.format(content=self.texts[i])
            summaries.append((yield from ask("summarize", prompt, self.settings, calls)))
        return summaries

    def _truncate(self, context: str) -> str:
        return truncate_words(context, self.settings.word_limit, self.keep)
