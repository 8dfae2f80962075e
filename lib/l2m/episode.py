"""One HotpotQA episode as an Operation (PAPER §1.2, the per-step loop).

At step k:
  1. store("Observation (Step k): ...")   the question at k = 1, then the env's answer
  2. recall(question)                     the query is always the question
  3. think, then act                      two agent LLM calls
  4. store("Thought (Step k): ...") and store("Action (Step k): ...")
  5. the environment carries out the action

Everything is logged: each store and recall record, the context the agent saw, both agent
calls with their prompts, outputs, tokens and seconds, the action, observation and reward.

The scripted policy (an analysis tool, not the paper's protocol) separates the memory from the
agent: a fixed script of actions replaces the agent's think and act at the first steps (the
thought stored is empty), so every memory sees exactly the same observations; the agent acts
only after the script, as the reader that answers from its memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from l2m.agent import Agent
from l2m.calls import Operation, call_record
from l2m.data.hotpotqa import HotpotRecord
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.memory.base import EMPTY_CONTEXT, Memory, Recall

POLICIES = ("agent", "scripted")


@dataclass(frozen=True)
class Turn:
    """A scripted step: the action taken and the thought stored in memory before it."""

    action: str
    thought: str = ""


def scripted_searches(record: HotpotRecord, count: int) -> list[str]:
    """The scripted policy's actions: Search the gold titles in order of first mention, then the
    distractor titles in the order of the record's context; the first `count` of them."""
    distractors = [title for title, _ in record.context if title not in record.gold_titles]
    return [f"Search[{title}]" for title in [*record.gold_titles, *distractors][:count]]


def play_episode(
    record: HotpotRecord, env: HotpotQAEnv, agent: Agent, memory: Memory | None, script: Sequence[Turn] = ()
) -> Operation[dict]:
    """The episode as an Operation; `script` holds the turns of the first steps, which replace the
    agent's (the scripted policy; the agent adapter's demonstrations)."""
    if agent.uses_memory and memory is None:
        raise ValueError(f"a {agent.kind} agent needs a memory")
    started = time.perf_counter()
    observation = env.reset(record)
    if memory is not None:
        memory.reset()
    steps, reward, result = [], 0.0, None
    for k in range(1, env.max_steps + 1):
        step = {"step": k, "observation": observation, "store": [], "llm_calls": []}
        recall = Recall(EMPTY_CONTEXT)
        if memory is not None:
            step["store"].append((yield from memory.store(f"Observation (Step {k}): {observation}")))
            recall = yield from memory.recall(record.question)
        step["recall"], step["context"] = recall.record, recall.context
        if k <= len(script):
            step["scripted"] = True
            thought, action_text = script[k - 1].thought, script[k - 1].action
        else:
            thought, action_text = yield from agent_turn(agent, record.question, recall.context, step["llm_calls"])
        if memory is not None:
            step["store"].append((yield from memory.store(f"Thought (Step {k}): {thought}")))
            step["store"].append((yield from memory.store(f"Action (Step {k}): {action_text.strip()}")))
        result = env.step(action_text)
        observation, reward = result.observation, result.reward
        step.update(
            thought=thought,
            action=str(result.action) if result.action else None,
            action_valid=bool(result.action and result.action.valid),
            next_observation=observation,
            reward=reward,
        )
        steps.append(step)
        if result.done:
            break
    return summarize_episode(record, steps, reward, result, time.perf_counter() - started)


def agent_turn(agent: Agent, question: str, context: str, calls: list[dict]) -> Operation[tuple[str, str]]:
    """Think (if the agent thinks), then act; returns (thought, raw action output), logs both calls."""
    thought = ""
    if agent.thinks:
        request = agent.think_request(question, context)
        generation = yield request
        thought = generation.text.strip()
        calls.append(call_record(request, generation))
    request = agent.act_request(question, thought, context)
    generation = yield request
    calls.append(call_record(request, generation))
    return thought, generation.text


def step_calls(step: dict) -> list[dict]:
    """Every LLM call record of one step: the agent's, then its memory's (recall and stores)."""
    memory = [c for r in [step["recall"], *step["store"]] for c in r.get("llm_calls", [])]
    return step["llm_calls"] + memory


def summarize_episode(record: HotpotRecord, steps: list[dict], reward: float, last, seconds: float) -> dict:
    calls = [c for s in steps for c in step_calls(s)]
    finished = last is not None and last.action is not None and last.action.verb == "Finish"
    return {
        "question_id": record.id,
        "question": record.question,
        "gold_answer": record.answer,
        "level": record.level,
        "type": record.type,
        "gold_titles": list(record.gold_titles),
        "reward": reward,
        "answer": last.action.argument if finished else None,
        "steps": len(steps),
        "seconds": round(seconds, 3),
        "llm_calls": len(calls),
        # Each call's share of its batch's wall time, summed: comparable across batch sizes.
        "llm_seconds": round(sum(c["seconds"] for c in calls), 3),
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "completion_tokens": sum(c["completion_tokens"] for c in calls),
        "step_records": steps,
    }
