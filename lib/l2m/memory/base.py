"""The memory protocol every method implements (PAPER §1.2, DESIGN "How data flows").

    reset()              forget everything (a new episode)
    store(text)          an Operation returning the store record
    recall(query)        an Operation returning a Recall: the context the agent sees and a
                         record of what was done (retrieved units, scores, LLM calls...)

`store` and `recall` are Operations (see l2m.calls) because some methods call the LLM in them
(extraction, merges, summaries, judges); those calls are then batched across episodes.
Methods that never call the LLM decorate plain methods with `without_llm`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from l2m.calls import LLMRequest, Operation, user_message
from l2m.models.llm import Sampling

EMPTY_CONTEXT = "None"


@dataclass
class Recall:
    context: str
    record: dict = field(default_factory=dict)


class Memory(ABC):
    name: str = "memory"

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def store(self, text: str) -> Operation[dict]: ...

    @abstractmethod
    def recall(self, query: str) -> Operation[Recall]: ...


def truncate_words(text: str, limit: int, keep: str = "head") -> str:
    """Keep the first (head) or last (tail) `limit` pieces of `text` split on single spaces.

    MemEngine's truncation (BASELINES §0) splits on ' ' only, so newlines do not separate
    words, and keeps the head; "tail" is the option that keeps the newest content instead.
    """
    if keep not in ("head", "tail"):
        raise ValueError(f"keep must be 'head' or 'tail', got {keep!r}")
    pieces = text.split(" ")
    if len(pieces) <= limit:
        return text
    return " ".join(pieces[:limit] if keep == "head" else pieces[-limit:])


def indexed_lines(texts: list[str]) -> str:
    """The body of ConcateUtilization's list form (BASELINES §0): `[i] text` lines, `None` if empty."""
    return "\n".join(f"[{i}] {t}" for i, t in enumerate(texts)) if texts else EMPTY_CONTEXT


def render_sections(sections: dict[str, list[str] | str | None]) -> str:
    """ConcateUtilization of a dict (BASELINES §0): a `(Key)` line, then the value, per key.

    Lists are indexed from 0 and an empty value shows as `None`, all between the memory markers.
    When every section is empty the memory is empty, and that is the bare `None` (EMPTY_CONTEXT).
    """
    if not any(sections.values()):
        return EMPTY_CONTEXT
    lines = []
    for key, value in sections.items():
        lines += [f"({key})", indexed_lines(value) if isinstance(value, list) else (value or EMPTY_CONTEXT)]
    return "[Memory Start]\n" + "\n".join(lines) + "\n[Memory End]"


def render_indexed(texts: list[str]) -> str:
    """MemEngine's ConcateUtilization (BASELINES §0): an indexed list between markers."""
    return f"[Memory Start]\n{indexed_lines(texts)}\n[Memory End]" if texts else EMPTY_CONTEXT


@dataclass(frozen=True, kw_only=True)
class MemorySettings:
    """What every memory method takes from the profile."""

    # Context cap in words (PAPER §7 / D.3: 8096; the small profiles cap lower).
    word_limit: int = 8096
    # Units retrieved by the top-k baselines (PAPER D.3: 10; MemEngine's defaults differ).
    top_k: int = 10
    # Decoding of the memory-side LLM calls (summaries, judges, merges, extraction).
    llm: Sampling = Sampling(max_new_tokens=128)
    # Seed of the method's own randomness (forgetting, stop rules).
    seed: int = 0


def memory_request(stage: str, prompt: str, sampling: Sampling, role: str = "memory") -> LLMRequest:
    """A memory-side LLM call (role "memory" unless named), sent as a single user message."""
    return LLMRequest(role, stage, user_message(prompt), sampling)
