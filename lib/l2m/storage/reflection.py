"""Task-specific reflection: the extraction hint learned from store records (PAPER §4.2).

1. Reflect: one LLM call per store record. A success is asked what its extraction did right, a
   failure what its extraction missed; each answer is a short, general "experience". The
   authors' code reflects failures with the success prompt too (PAPER §4.2 MISMATCH): that is
   `failure_prompt="success"`; the paper's real failure reflection is the default.
2. Consolidate: starting from "Summarize carefully." (the code's offline start; on-policy starts
   from the current hint), each chunk of experiences rewrites the hint in one LLM call, so the
   hint after the last chunk is theta_s. Chunks of 10 as in the code by default (the paper says
   40 offline and reports 20-50 alike, §5.6). A trailing partial chunk is dropped, as in the
   code (`partial_chunk="drop"`), or consolidated like a full one (`"keep"`). An empty answer
   keeps the hint it would have replaced.

The prompts are this project's wording of the ones PAPER §4.2 describes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from l2m.artifacts import staged_folder, write_json
from l2m.memory.baselines.common import check_choice
from l2m.models.llm import ChatModel, Sampling
from l2m.runner import answer_prompts
from l2m.storage.records import StoreRecord

INITIAL_HINT = "Summarize carefully."
HINT_FILE = "hint.json"
FAILURE_PROMPTS = ("failure", "success")
PARTIAL_CHUNKS = ("drop", "keep")

_CASE = """Raw observation: {observation}
Extracted information: {extracted}
Question: {question}
Answer: {answer}"""

SUCCESS_REFLECTION = """I extract the key information from raw observations to help answer questions. Here is one of my successful cases:

{case}

Summarise in one or two sentences what made this extraction successful, as advice for future extractions. Keep it general, not about this question. Output only the advice."""

FAILURE_REFLECTION = """I extract the key information from raw observations to help answer questions. Here is one of my failed cases:

{case}

Summarise in one or two sentences what this extraction missed or should have done differently, as advice for future extractions. Keep it general, not about this question. Output only the advice."""

CONSOLIDATION = """Current hint for extracting information from observations: {hint}

New experiences:
{experiences}

Rewrite the hint as one rich, comprehensive and informative paragraph that combines it with these experiences, to guide future information extraction. Output only the new hint."""


@dataclass(frozen=True)
class ReflectionSettings:
    chunk_size: int = 10
    partial_chunk: str = "drop"
    failure_prompt: str = "failure"
    # At most this many records are reflected on (None: all); see records.reflection_order.
    records: int | None = None
    start: str = INITIAL_HINT
    seed: int = 0

    def __post_init__(self):
        check_choice("partial_chunk", self.partial_chunk, PARTIAL_CHUNKS)
        check_choice("failure_prompt", self.failure_prompt, FAILURE_PROMPTS)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LearnedHint:
    """The outcome of reflection: the final hint and everything that led to it."""

    start: str
    # One experience per reflected record, in consolidation order.
    experiences: list[str]
    # The hint after each consolidated chunk (empty when no chunk was consolidated).
    history: list[str] = field(default_factory=list)

    @property
    def hint(self) -> str:
        return self.history[-1] if self.history else self.start


def reflection_prompt(record: StoreRecord, failure_prompt: str = "failure") -> str:
    case = _CASE.format(
        observation=record.raw_observation, extracted=record.extracted, question=record.question, answer=record.answer
    )
    template = FAILURE_REFLECTION if not record.success and failure_prompt == "failure" else SUCCESS_REFLECTION
    return template.format(case=case)


def consolidation_prompt(hint: str, experiences: list[str]) -> str:
    return CONSOLIDATION.format(hint=hint, experiences="\n".join(f"- {e}" for e in experiences))


def chunks(items: list, size: int, partial_chunk: str = "drop") -> list[list]:
    """Consecutive chunks of `size`; the trailing partial chunk is dropped or kept."""
    check_choice("partial_chunk", partial_chunk, PARTIAL_CHUNKS)
    whole = len(items) - len(items) % size if partial_chunk == "drop" else len(items)
    return [items[i : i + size] for i in range(0, whole, size)]


def _consolidate(experiences: list[str], model: ChatModel, sampling: Sampling, settings: ReflectionSettings) -> list[str]:
    """The hint after each chunk; each consolidation waits for the hint of the one before."""
    history, hint = [], settings.start
    for chunk in chunks(experiences, settings.chunk_size, settings.partial_chunk):
        [answer] = answer_prompts(model, "consolidate", [consolidation_prompt(hint, chunk)], sampling, description="consolidation")
        hint = answer or hint
        history.append(hint)
    return history


def learn_hint(
    records: list[StoreRecord], model: ChatModel, sampling: Sampling, settings: ReflectionSettings
) -> LearnedHint:
    """Reflect on every record (batched), then consolidate the non-empty experiences chunk by chunk."""
    prompts = [reflection_prompt(r, settings.failure_prompt) for r in records]
    experiences = answer_prompts(model, "reflect", prompts, sampling, description="reflections")
    history = _consolidate([e for e in experiences if e], model, sampling, settings)
    return LearnedHint(settings.start, experiences, history)


def save_hint(learned: LearnedHint, target: Path, fields: dict, manifest: dict) -> Path:
    """`target`/hint.json: the hint, its history and experiences, and `fields`; written atomically."""
    with staged_folder(target, manifest) as staging:
        write_json(staging / HINT_FILE, {"artifact": "hint", "hint": learned.hint, **asdict(learned), **fields})
    return target


def load_hint(folder: Path) -> LearnedHint:
    path = Path(folder) / HINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a hint artifact: {HINT_FILE} is missing")
    saved = json.loads(path.read_text())
    if saved.get("artifact") != "hint":
        raise ValueError(f"{path} is not a hint (it says artifact {saved.get('artifact')!r})")
    return LearnedHint(saved["start"], saved["experiences"], saved["history"])
