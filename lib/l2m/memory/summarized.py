"""A storage variant for the memory-cycle experiment (PAPER §1, §3.1, notebook 01).

`SummarizedStorage(inner)` passes every text through one LLM summary before the inner memory
stores it, and leaves recall to the inner memory. Comparing a memory with and without it on
the same questions shows the memory cycle effect: what is stored changes what retrieval ranks
first at the next steps, hence the agent's actions, hence the next observations.
"""

from __future__ import annotations

from l2m.calls import Operation, call_record
from l2m.memory.base import Memory, MemorySettings, Recall, memory_request

SUMMARY_PROMPT = (
    "Summarize the following text in one concise sentence that keeps every name, date and number "
    "it contains. Output only the summary.\nText: {text}"
)


class SummarizedStorage(Memory):
    def __init__(self, inner: Memory, settings: MemorySettings = MemorySettings()):
        self.inner, self.settings = inner, settings
        self.name = f"{inner.name}+summarized"

    def reset(self) -> None:
        self.inner.reset()

    def store(self, text: str) -> Operation[dict]:
        request = memory_request("summarize", SUMMARY_PROMPT.format(text=text), self.settings.llm)
        generation = yield request
        record = yield from self.inner.store(generation.text.strip() or text)
        return record | {
            "raw_text": text,
            "llm_calls": [call_record(request, generation), *record.get("llm_calls", [])],
        }

    def recall(self, query: str) -> Operation[Recall]:
        return (yield from self.inner.recall(query))
