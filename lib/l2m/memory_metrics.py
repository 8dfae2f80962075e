"""Memory quality apart from the agent's answering skill (not in the paper).

A 135M reader answers badly even from the gold paragraphs, so end-task EM mostly measures the
reader. These metrics look at the memory context the agent sees instead:

* answer_in_context — the normalised gold answer occurs, on word boundaries, in the normalised
  context (normalised exactly as for EM).
* sf_coverage       — the share of the gold supporting sentences whose content survives into
  the context: a sentence counts as kept when at least `COVERAGE_THRESHOLD` of its distinct
  normalised tokens occur in the context. Token overlap, not substring match, so that a memory
  that extracts or rephrases still gets credit for the facts it keeps.
* context_words     — the context's length in whitespace-separated words (an empty memory is 0).
* recall_at_k       — for methods that rank memory units (the adaptive memory, and baselines
  that return a top-k): the share of the units holding a supporting fact that the last recall
  put in its first k (l2m.retrieval.quality.last_recall_at_k); None for the other methods.

Every metric is taken at the episode's last step: the context the agent answers from.
"""

from __future__ import annotations

from l2m.data.hotpotqa import HotpotRecord
from l2m.memory.base import EMPTY_CONTEXT
from l2m.metrics import normalize_answer
from l2m.retrieval.quality import last_recall_at_k, supporting_sentences

COVERAGE_THRESHOLD = 0.8
# The k of recall@k: the first three units a ranking puts forward.
RECALL_K = 3


def answer_in_context(gold_answer: str, context: str) -> bool:
    """The normalised gold answer occurs, on word boundaries, in the normalised context."""
    answer = normalize_answer(gold_answer)
    return bool(answer) and f" {answer} " in f" {normalize_answer(context)} "


def sentence_kept(sentence: str, context_tokens: set[str], threshold: float = COVERAGE_THRESHOLD) -> bool:
    tokens = set(normalize_answer(sentence).split())
    return bool(tokens) and len(tokens & context_tokens) / len(tokens) >= threshold


def sf_coverage(sentences: list[str], context: str, threshold: float = COVERAGE_THRESHOLD) -> float | None:
    """Share of `sentences` kept in `context` (see the module docstring); None without sentences."""
    if not sentences:
        return None
    context_tokens = set(normalize_answer(context).split())
    return sum(sentence_kept(s, context_tokens, threshold) for s in sentences) / len(sentences)


def context_words(context: str) -> int:
    return 0 if context == EMPTY_CONTEXT else len(context.split())


def episode_memory_metrics(episode: dict, record: HotpotRecord, k: int = RECALL_K) -> dict:
    """The memory metrics of one episode log at its last step (see the module docstring)."""
    if episode["question_id"] != record.id:
        raise ValueError(f"episode of question {episode['question_id']} scored against record {record.id}")
    steps = episode["step_records"]
    context = steps[-1]["context"] if steps else EMPTY_CONTEXT
    return {
        "answer_in_context": answer_in_context(record.answer, context),
        "sf_coverage": sf_coverage(supporting_sentences(record), context),
        "context_words": context_words(context),
        "recall_at_k": last_recall_at_k(episode, record, k) if steps else None,
    }
