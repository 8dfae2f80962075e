"""Pieces the baselines share: the embedding index, top-k, rendering, one memory-side LLM call."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from l2m.calls import Operation, call_record
from l2m.memory.base import (
    MemorySettings,
    memory_request,
    render_indexed,
    truncate_words,
)

KEEP_CHOICES = ("head", "tail")


def check_choice(option: str, value: str, choices: Sequence[str]) -> None:
    """Fail at construction, naming the option, rather than at the first recall of a run."""
    if value not in choices:
        raise ValueError(f"{option} must be one of {tuple(choices)}, got {value!r}")


class EmbeddingIndex:
    """One embedding row per stored text, in insertion order.

    The encoder returns L2-normalised rows (BASELINES §0: normalised e5), so a dot product is
    the cosine. Units are embedded as passages and queries as queries; whether that adds e5's
    prefixes is the encoder's choice (MemEngine adds none).
    """

    def __init__(self, encoder):
        self.encoder = encoder
        self.rows: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.rows)

    def clear(self) -> None:
        self.rows = []

    def add(self, text: str) -> None:
        self.rows.append(self.encoder.encode([text], kind="passage")[0])

    def cosine(self, query: str) -> np.ndarray:
        """The cosine between `query` and every stored row (an empty array when nothing is stored)."""
        if not self.rows:
            return np.zeros(0, dtype=np.float32)
        return np.stack(self.rows) @ self.encoder.encode([query], kind="query")[0]


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k highest scores, best first; equal scores keep insertion order."""
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def rounded(values) -> list[float]:
    """Plain floats at 4 decimals, for JSON records."""
    return [round(float(v), 4) for v in values]


def render(texts: list[str], settings: MemorySettings, keep: str = "head") -> str:
    """ConcateUtilization then word truncation (BASELINES §0); MemEngine keeps the head."""
    return truncate_words(render_indexed(texts), settings.word_limit, keep)


def ask(stage: str, prompt: str, settings: MemorySettings, calls: list[dict], role: str = "memory") -> Operation[str]:
    """One memory-side LLM call with the profile's sampling; its record is appended to `calls`."""
    request = memory_request(stage, prompt, settings.llm, role)
    generation = yield request
    calls.append(call_record(request, generation))
    return generation.text.strip()


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] per query, as the original Generative Agents does; a constant component
    becomes 0.5 everywhere (it cannot change the order)."""
    if values.size == 0:
        return values
    spread = np.ptp(values)
    return np.full_like(values, 0.5) if spread == 0 else (values - values.min()) / spread
