"""LLM calls as values, so that many episodes can share one batch.

Code that needs the LLM (the agent's think and act, a memory's extraction or merge) is
written as a generator: it yields an `LLMRequest` and receives the `Generation` back,

    generation = yield LLMRequest("memory", "merge", messages, sampling)

The runner (`l2m.runner.run_operations`) advances every live episode to its next request,
sends all requests that share a role and sampling settings to the model as one batch, and
resumes each episode with its answer. Within an episode the calls stay sequential (a merge
waits for the previous merge); across episodes they are batched.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Generator, TypeVar

from l2m.models.llm import Generation, Messages, Sampling

T = TypeVar("T")


@dataclass(frozen=True)
class LLMRequest:
    # Which model answers: "agent" (think/act) or "memory" (extraction, merges, judges...).
    role: str
    # What the call is for, recorded for the cost model: "think", "act", "extract", "merge", ...
    stage: str
    messages: Messages
    sampling: Sampling


# A computation that may ask the LLM: yields requests, receives generations, returns T.
Operation = Generator[LLMRequest, Generation, T]


def without_llm(method: Callable[..., T]) -> Callable[..., Operation[T]]:
    """Give a method that never calls the LLM the Operation interface (`yield from` works on it)."""

    @functools.wraps(method)
    def operation(*args: Any, **kwargs: Any) -> Operation[T]:
        return method(*args, **kwargs)
        yield  # unreachable; its presence makes this function a generator

    return operation


def run_without_llm(operation: Operation[T]) -> T:
    """Run an Operation that must not ask the LLM (e.g. a store into FUMemory) and return its value."""
    try:
        request = next(operation)
    except StopIteration as stop:
        return stop.value
    operation.close()
    raise RuntimeError(f"the operation asked the LLM ({request.role}/{request.stage}) where no LLM is available")


def user_message(text: str) -> Messages:
    """A single user turn: how every prompt of the paper is sent (PAPER §3.3)."""
    return [{"role": "user", "content": text}]


def call_record(request: LLMRequest, generation: Generation) -> dict:
    """What an episode log keeps of one LLM call."""
    return {
        "role": request.role,
        "stage": request.stage,
        "prompt": request.messages[-1]["content"],
        "output": generation.text,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "seconds": round(generation.seconds, 4),
        "cached": generation.cached,
        "constrained": request.sampling.constraint is not None,
    }
