"""Shared fixtures: tiny hand-made records and a scripted chat model (no real LLM)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import pytest

from l2m.data.hotpotqa import HotpotRecord, parse_record
from l2m.models.llm import Generation, Messages, Sampling

os.environ.setdefault("TQDM_DISABLE", "1")


def raw_record(**overrides) -> dict:
    record = {
        "_id": "q1",
        "question": "Which city is the capital of France?",
        "answer": "Paris",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["France", 0], ["Paris", 0]],
        "context": [
            ["France", ["France is a country in Europe.", "Its capital is Paris."]],
            ["Paris", ["Paris is the capital and largest city of France."]],
            ["Berlin", ["Berlin is the capital of Germany."]],
        ],
    }
    record.update(overrides)
    return record


@pytest.fixture
def record() -> HotpotRecord:
    return parse_record(raw_record(), source="test", index=0)


@dataclass
class ScriptedChatModel:
    """Answers each conversation with `respond(prompt_text)`; records every batch it saw."""

    respond: Callable[[str], str]
    name: str = "scripted"
    batches: list[int] = field(default_factory=list)
    calls: int = 0

    def generate(self, conversations: list[Messages], sampling: Sampling) -> list[Generation]:
        self.batches.append(len(conversations))
        self.calls += len(conversations)
        out = []
        for messages in conversations:
            text = self.respond(messages[-1]["content"])
            out.append(Generation(text, len(messages[-1]["content"].split()), len(text.split()), 0.0))
        return out
