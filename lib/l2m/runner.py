"""Run many Operations in lockstep so their LLM calls share batches (see l2m.calls).

Each round, every live operation is advanced to its next LLMRequest; requests that share a
role and sampling settings go to that role's model as one batch (the model splits it into
length-bucketed micro-batches), and each operation is resumed with its own generation.
At most `max_live` operations run at once; a finished one is replaced by the next waiting one.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence, TypeVar

from tqdm.auto import tqdm

from l2m.calls import LLMRequest, Operation, user_message
from l2m.models.llm import ChatModel, Generation, Sampling

T = TypeVar("T")


def run_lockstep(
    operations: Iterable[Operation[T]],
    models: Mapping[str, ChatModel],
    *,
    max_live: int = 16,
    on_done: Callable[[int, T], None] | None = None,
    total: int | None = None,
    description: str = "episodes",
) -> list[T]:
    """Drive `operations` to completion; returns their results in input order.

    `on_done(index, result)` is called as soon as one finishes (e.g. to append it to a log).
    """
    waiting = enumerate(operations)
    live: dict[int, Operation[T]] = {}
    pending: dict[int, LLMRequest] = {}
    results: dict[int, T] = {}
    bar = tqdm(total=total, desc=description, unit="ep")

    def advance(index: int, answer: Generation | None) -> None:
        try:
            pending[index] = live[index].send(answer)
        except StopIteration as stop:
            del live[index]
            results[index] = stop.value
            bar.update(1)
            if on_done is not None:
                on_done(index, stop.value)

    def refill() -> None:
        while len(live) < max_live:
            item = next(waiting, None)
            if item is None:
                return
            index, operation = item
            live[index] = operation
            advance(index, None)

    refill()
    while pending:
        for (role, sampling), indices in _batches(pending).items():
            if role not in models:
                raise KeyError(f"no model for role {role!r}; roles given: {', '.join(models)}")
            generations = models[role].generate([pending[i].messages for i in indices], sampling)
            for index, generation in zip(indices, generations):
                del pending[index]
                advance(index, generation)
        refill()
    bar.close()
    return [results[i] for i in sorted(results)]


def _batches(pending: Mapping[int, LLMRequest]) -> dict[tuple, list[int]]:
    groups: dict[tuple, list[int]] = {}
    for index in sorted(pending):
        request = pending[index]
        groups.setdefault((request.role, request.sampling), []).append(index)
    return groups


def answer_prompts(
    model: ChatModel,
    stage: str,
    prompts: Sequence[str],
    sampling: Sampling,
    *,
    max_live: int = 16,
    description: str | None = None,
) -> list[str]:
    """Each prompt sent alone, as one user turn, to `model` (batched across prompts); the stripped
    answers in prompt order. For memory-side work outside episodes: expert and rejected merges,
    re-extractions, reflections, zero-shot scoring."""

    def ask(prompt: str) -> Operation[str]:
        generation = yield LLMRequest("memory", stage, user_message(prompt), sampling)
        return generation.text.strip()

    operations = (ask(p) for p in prompts)
    return run_lockstep(operations, {"memory": model}, max_live=max_live, total=len(prompts), description=description or stage)
