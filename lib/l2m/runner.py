"""Run many Operations at once so their LLM calls share the engine (see l2m.calls).

At most `max_live` operations run at once; a finished one is replaced by the next waiting one.
Each live operation is advanced to its next LLMRequest, and the request goes to its role's
model in one of two ways, by what the model is (`ChatModel.max_in_flight`):

* a batch engine (the in-process transformers model, 0): lockstep. Waiting requests that share a
  role and sampling settings go to the model as one batch (split into length-bucketed
  micro-batches), and each operation is resumed with its own generation;
* a server that batches by itself (an OpenAI-compatible endpoint such as vLLM, N > 0): each
  request is sent as soon as its operation asks it, from a thread of its own, and its operation is
  resumed as soon as that reply returns, so no episode waits for another's round and the server's
  continuous batching keeps it busy. Up to `max_live` requests are in flight.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

from tqdm.auto import tqdm

from l2m.calls import LLMRequest, Operation, user_message
from l2m.models.llm import AdapterNotServedError, ChatModel, Generation, Sampling

T = TypeVar("T")


def run_operations(
    operations: Iterable[Operation[T]],
    models: Mapping[str, ChatModel],
    *,
    max_live: int = 16,
    on_done: Callable[[int, T], None] | None = None,
    total: int | None = None,
    description: str = "episodes",
    name_of: Callable[[int], str] | None = None,
) -> list[T]:
    """Drive `operations` to completion; returns their results in input order.

    `on_done(index, result)` is called as soon as one finishes (e.g. to append it to a log).
    `name_of(index)` names an operation (e.g. its method) in the error of a model that cannot
    serve its request.
    """
    waiting = enumerate(operations)
    live: dict[int, Operation[T]] = {}
    pending: dict[int, LLMRequest] = {}
    in_flight: dict[Future, int] = {}
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

    with ThreadPoolExecutor(max_workers=max_live) as pool:
        refill()
        while pending or in_flight:
            send_to_servers(pending, models, pool, in_flight, name_of)
            for (role, sampling), indices in _batches(pending).items():
                model = model_for(models, role, name_of and name_of(indices[0]))
                generations = model.generate([pending[i].messages for i in indices], sampling)
                for index, generation in zip(indices, generations):
                    del pending[index]
                    advance(index, generation)
            if in_flight:
                done, _ = wait(in_flight, timeout=None if not pending else 0, return_when=FIRST_COMPLETED)
                for future in done:
                    advance(in_flight.pop(future), future.result()[0])
            refill()
    bar.close()
    return [results[i] for i in sorted(results)]


def model_for(models: Mapping[str, ChatModel], role: str, requester: str | None = None) -> ChatModel:
    """The model of `role` (loaded on first use); an adapter it cannot serve names `requester`."""
    try:
        return models[role]
    except KeyError:
        raise KeyError(f"no model for role {role!r}; roles given: {', '.join(models)}") from None
    except AdapterNotServedError as err:
        if requester is None:
            raise
        raise AdapterNotServedError(f"{requester} needs an adapter the endpoint does not serve: {err}") from None


def send_to_servers(
    pending: dict[int, LLMRequest],
    models: Mapping[str, ChatModel],
    pool: ThreadPoolExecutor,
    in_flight: dict[Future, int],
    name_of: Callable[[int], str] | None,
) -> None:
    """Move each pending request whose model is a server into flight, one request per thread."""
    for index in sorted(pending):
        request = pending[index]
        model = model_for(models, request.role, name_of and name_of(index))
        if getattr(model, "max_in_flight", 0) > 0:
            del pending[index]
            in_flight[pool.submit(model.generate, [request.messages], request.sampling)] = index


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
    return run_operations(
        operations, {"memory": model}, max_live=max_live, total=len(prompts), description=description or stage
    )
