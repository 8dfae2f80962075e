"""Do two engines generate the same text? Greedy outputs of the project's own prompts compared.

The prompts are the LLM calls of a logged episode file (think, act, extract, merge: what the agent
and the adaptive memory really send), each with its stage's budget and the act call's constraint.
tests/test_vllm.py holds vLLM to the in-process engine with it; benchmarks/vllm_agreement.py
records the figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from l2m.actions import ACTION_CONSTRAINT
from l2m.calls import user_message
from l2m.config import Profile
from l2m.models.llm import ChatModel, Sampling

STAGES = ("think", "act", "extract", "merge")


@dataclass(frozen=True)
class ProjectPrompt:
    stage: str
    prompt: str
    sampling: Sampling


def stage_sampling(profile: Profile, stage: str) -> Sampling:
    """The greedy settings the profile gives a stage's calls."""
    budgets = {
        "think": profile.think_max_tokens,
        "act": profile.act_max_tokens,
        "extract": profile.memory_max_tokens,
        "merge": profile.merge_max_tokens,
    }
    constraint = ACTION_CONSTRAINT if stage == "act" and profile.constrained_actions else None
    return Sampling(budgets[stage], constraint=constraint)


def logged_calls(episode: dict) -> Iterator[dict]:
    for step in episode["step_records"]:
        yield from step["llm_calls"]
        yield from (step.get("recall") or {}).get("llm_calls", [])
        for stored in step.get("store") or []:
            yield from stored["llm_calls"]


def project_prompts(log: Path, profile: Profile, per_stage: int) -> list[ProjectPrompt]:
    """The first `per_stage` distinct prompts of each of STAGES in an episode log, in log order."""
    found: dict[str, list[str]] = {stage: [] for stage in STAGES}
    with open(log) as lines:
        for line in lines:
            for call in logged_calls(json.loads(line)):
                prompts = found.get(call["stage"])
                if prompts is not None and len(prompts) < per_stage and call["prompt"] not in prompts:
                    prompts.append(call["prompt"])
    if short := [stage for stage, prompts in found.items() if len(prompts) < per_stage]:
        raise ValueError(f"{log} holds fewer than {per_stage} distinct prompts of {', '.join(short)}")
    return [ProjectPrompt(s, p, stage_sampling(profile, s)) for s in STAGES for p in found[s]]


@dataclass(frozen=True)
class Comparison:
    stage: str
    reference: str
    other: str
    # Index of the first differing token (in the reference's tokens), None when the texts match.
    first_difference: int | None
    reference_token: str | None
    other_token: str | None

    @property
    def same(self) -> bool:
        return self.first_difference is None


def generate_all(model: ChatModel, prompts: Sequence[ProjectPrompt]) -> list[str]:
    """Each prompt's output, the prompts of one sampling setting sent as one batch."""
    outputs: dict[int, str] = {}
    for sampling in dict.fromkeys(p.sampling for p in prompts):
        indices = [i for i, p in enumerate(prompts) if p.sampling == sampling]
        generations = model.generate([user_message(prompts[i].prompt) for i in indices], sampling)
        outputs.update((i, g.text) for i, g in zip(indices, generations))
    return [outputs[i] for i in range(len(prompts))]


def compare_engines(
    reference: ChatModel, other: ChatModel, prompts: Sequence[ProjectPrompt], tokenizer
) -> list[Comparison]:
    """Both engines' greedy outputs of every prompt, compared token by token."""
    return [
        comparison(prompt.stage, a, b, tokenizer)
        for prompt, a, b in zip(prompts, generate_all(reference, prompts), generate_all(other, prompts))
    ]


def comparison(stage: str, reference: str, other: str, tokenizer) -> Comparison:
    if reference == other:
        return Comparison(stage, reference, other, None, None, None)
    a, b = tokenizer.encode(reference, add_special_tokens=False), tokenizer.encode(other, add_special_tokens=False)
    first = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    def token_at(ids: list[int]) -> str:
        return tokenizer.decode(ids[first : first + 1]) if first < len(ids) else "<end>"

    return Comparison(stage, reference, other, first, token_at(a), token_at(b))
