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


class HashingEncoder:
    """A deterministic stand-in for the sentence encoder: hashed bag of lower-cased words, L2-normalised.

    Texts that share words get a positive cosine; texts with no word in common get ~0.
    """

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = "hashing-encoder"

    def encode(self, texts, kind="passage"):
        import hashlib

        import numpy as np

        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1.0, norms)


def drive(operation, respond=lambda prompt: ""):
    """Run an Operation, answering each LLM request with respond(prompt_text).

    Returns (value, requests) where requests lists the LLMRequests in the order they came.
    """
    requests = []
    answer = None
    try:
        while True:
            request = operation.send(answer)
            requests.append(request)
            text = respond(request.messages[-1]["content"])
            answer = Generation(text, len(request.messages[-1]["content"].split()), len(text.split()), 0.0)
    except StopIteration as stop:
        return stop.value, requests
