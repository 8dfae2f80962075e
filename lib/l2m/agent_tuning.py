"""A task-tuned agent for the small profiles: LoRA SFT on scripted demonstrations.

Zero-shot, SmolLM2-135M cannot act as the paper's agent (it writes prose, or copies the prompt's
own examples "Search[Alan Turing]"), so no episode ever succeeds and no training stage of the
paper gets a signal. The small profiles therefore stack one agent adapter, trained here, under
the agent role. Every memory method shares the same adapter, so comparisons between memories
stay fair; the memory-side LLM calls (extraction, merges, ...) use the base model. The paper
profile keeps the zero-shot agent.

Demonstrations come from the training pool only (never a test question). Each replays the
episode an ideal agent would have with FUMemory: search the gold titles in order, then finish
with the gold answer. At every step the THINK and ACT prompts are exactly the ones the agent
will see at run time (the paper's prompts, with the memory context FUMemory gives at that step),
and the targets are short templated thoughts and the action.

Reading the answer out of a long memory context is what the small model finds hardest (measured
on test_easy at the cpu profile: the gold answer was in the final context in 30 of 64 episodes,
EM 4 of 64 with 64 full demonstrations). So after the `questions` full episodes, a further
`reading_questions` training questions contribute only the THINK example of their final step,
the one whose target names the answer: four times the reading practice at a third of the cost of
as many full episodes.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from l2m.agent import Agent
from l2m.artifacts import content_key, staged_folder
from l2m.calls import LLMRequest, run_without_llm
from l2m.data.hotpotqa import HotpotRecord
from l2m.env.hotpotqa import question_observation
from l2m.env.wiki import LocalWiki
from l2m.memory.full import FUMemory
from l2m.models.device import choose_device
from l2m.training.sft import LoraSettings, SFTExample, SFTSettings

# Bump when the demonstrations change, so that an adapter trained on older ones is not reused.
DEMO_VERSION = 2


def search_thought(title: str) -> str:
    return f"I need information about {title} to answer the question. I will search for {title}."


def finish_thought(answer: str) -> str:
    return f"My memory now holds the information I need. The answer is {answer}."


@dataclass(frozen=True)
class Demonstration:
    question_id: str
    step: int
    stage: str
    example: SFTExample


def _example(request: LLMRequest, target: str) -> SFTExample:
    return SFTExample(messages=request.messages, target=target)


def demonstrations(record: HotpotRecord, wiki: LocalWiki, agent: Agent, word_limit: int) -> list[Demonstration]:
    """THINK and ACT examples for every step of the scripted episode of `record`."""
    memory = FUMemory(word_limit=word_limit)
    plan = [("Search", title) for title in record.gold_titles] + [("Finish", record.answer)]
    observation = question_observation(record.question)
    demos = []
    for step, (verb, argument) in enumerate(plan, start=1):
        run_without_llm(memory.store(f"Observation (Step {step}): {observation}"))
        context = run_without_llm(memory.recall(record.question)).context
        thought = search_thought(argument) if verb == "Search" else finish_thought(argument)
        action = f"{verb}[{argument}]"
        demos.append(
            Demonstration(record.id, step, "think", _example(agent.think_request(record.question, context), thought))
        )
        demos.append(
            Demonstration(
                record.id, step, "act", _example(agent.act_request(record.question, thought, context), action)
            )
        )
        run_without_llm(memory.store(f"Thought (Step {step}): {thought}"))
        run_without_llm(memory.store(f"Action (Step {step}): {action}"))
        observation = wiki.search(argument) or "Content not found."
    return demos


def reading_demonstration(record: HotpotRecord, wiki: LocalWiki, agent: Agent, word_limit: int) -> Demonstration:
    """The THINK example of the scripted episode's final step: the full memory, the answer as target."""
    return [d for d in demonstrations(record, wiki, agent, word_limit) if d.stage == "think"][-1]


def build_demonstrations(
    records: Iterable[HotpotRecord],
    wiki: LocalWiki,
    agent: Agent,
    word_limit: int,
    *,
    forbidden_ids: set[str],
    reading_records: Iterable[HotpotRecord] = (),
) -> list[Demonstration]:
    """Full demonstrations of `records` and reading demonstrations of `reading_records`.

    Refuses any record whose id is in `forbidden_ids` (the test questions).
    """
    demos = []
    for record, full in [(r, True) for r in records] + [(r, False) for r in reading_records]:
        if record.id in forbidden_ids:
            raise ValueError(f"record {record.id} is a test question; demonstrations come from the training pool only")
        demos += (
            demonstrations(record, wiki, agent, word_limit)
            if full
            else [reading_demonstration(record, wiki, agent, word_limit)]
        )
    return demos


@dataclass(frozen=True, kw_only=True)
class AgentAdapterSettings:
    questions: int
    # Further training questions that contribute only their final THINK example (see the module doc).
    reading_questions: int = 0
    lora: LoraSettings = LoraSettings(
        r=16,
        alpha=32,
        dropout=0.05,
        target_modules=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    )
    # Micro-batch 1: examples differ in length by up to 4x, and on CPU a pair padded to the longer
    # one costs more than the two alone. cpu adapters on the 2-core EPYC: 60 real (unpadded)
    # tokens/s at micro-batch 2, about 135 at micro-batch 1 (26-28 s per step of ~3,600 tokens).
    sft: SFTSettings = SFTSettings(lr=1e-3, epochs=1, micro_batch=1, grad_accum=8, max_length=1024)

    @classmethod
    def default(cls, questions: int, reading_questions: int = 0, *, seed: int) -> "AgentAdapterSettings":
        """The defaults (LoRA r 16 on every linear projection, lr 1e-3, batch 8, 1 epoch), seeded."""
        return cls(
            questions=questions, reading_questions=reading_questions, sft=dataclasses.replace(cls.sft, seed=seed)
        )

    @classmethod
    def for_profile(cls, profile) -> "AgentAdapterSettings":
        """The profile's adapter: its question counts, seeded by `agent_seed` (not `seed`)."""
        return cls.default(profile.agent_adapter_questions, profile.agent_reading_questions, seed=profile.agent_seed)

    def key(self, llm: str, word_limit: int, question_ids: list[str], reading_ids: list[str]) -> str:
        payload = {
            "llm": llm,
            "word_limit": word_limit,
            "questions": question_ids,
            "reading_questions": reading_ids,
            "lora": self.lora.as_dict(),
            "sft": self.sft.as_dict(),
            "demo_version": DEMO_VERSION,
        }
        return content_key(payload)


def train_agent_adapter(
    records: list[HotpotRecord],
    wiki: LocalWiki,
    agent: Agent,
    *,
    llm_name: str,
    word_limit: int,
    settings: AgentAdapterSettings,
    forbidden_ids: set[str],
    out_dir: Path,
    provenance: dict,
) -> Path:
    """Train the adapter and save it (PEFT format + manifest.json) under `out_dir`/agent_adapter-<key>.

    An adapter with the same key already on disk is reused. The folder is written under a
    temporary name and renamed when complete, so an interrupted run never leaves a partial
    adapter that a later notebook would load.
    """
    from l2m.models.llm import TransformersChatModel
    from l2m.training.sft import train_lora_sft

    chosen = records[: settings.questions]
    reading = records[settings.questions : settings.questions + settings.reading_questions]
    ids, reading_ids = [r.id for r in chosen], [r.id for r in reading]
    target = out_dir / f"agent_adapter-{settings.key(llm_name, word_limit, ids, reading_ids)}"
    if (target / "manifest.json").is_file():
        return target
    demos = build_demonstrations(chosen, wiki, agent, word_limit, forbidden_ids=forbidden_ids, reading_records=reading)
    base = TransformersChatModel(llm_name, dtype="float32")
    # Weights and LoRA stay fp32; matmuls run in bf16 only where this CPU measures bf16 faster.
    measured = choose_device("auto").dtype
    autocast = measured if measured == torch.bfloat16 else None
    start = time.perf_counter()
    peft_model, losses = train_lora_sft(
        base.model, base.tokenizer, [d.example for d in demos], settings.lora, settings.sft, autocast_dtype=autocast
    )
    seconds = time.perf_counter() - start
    manifest = {
            "artifact": "agent_adapter",
            "llm": llm_name,
            "word_limit": word_limit,
            "question_ids": ids,
            "reading_question_ids": reading_ids,
            "examples": len(demos),
            "lora": settings.lora.as_dict(),
            "sft": settings.sft.as_dict(),
            "autocast": str(autocast) if autocast else None,
            "demo_version": DEMO_VERSION,
            "losses": [round(x, 4) for x in losses],
            "train_seconds": round(seconds, 1),
            **provenance,
    }
    with staged_folder(target, manifest) as staging:
        peft_model.save_pretrained(staging)
    return target
