"""A task-tuned agent for the small profiles: LoRA SFT on scripted demonstrations.

Zero-shot, SmolLM2-135M cannot act as the paper's agent (it writes prose, or copies the prompt's
own examples "Search[Alan Turing]"), so no episode ever succeeds and no training stage of the
paper gets a signal. The small profiles therefore stack one agent adapter, trained here, under
the agent role. Every memory method shares the same adapter, so comparisons between memories
stay fair; the memory-side LLM calls (extraction, merges, ...) use the base model. The paper
profile keeps the zero-shot agent.

Demonstrations come from the training pool only (never a test question). Each is the episode an
ideal agent would have: search the gold titles in order, then finish with the gold answer
(`gold_script`), played by `l2m.episode.play_episode` with every step scripted, so the memory
sees, stores and recalls exactly what it would at run time. At every step the THINK and ACT
prompts are the ones the agent sees then (the paper's prompts, with the memory context of that
step), and the targets are short templated thoughts and the action.

Which memory gives those contexts is the profile's `agent_context_memories`, in rotation over
the questions. With FUMemory alone (the first design) the reader learned one format, raw pages
plus the thought and action of every step, and at the cpu profile it never ended an episode
with the adaptive memory's extracted units (README, "Results at the cpu profile").

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
from typing import Callable

import torch

from l2m.agent import Agent
from l2m.artifacts import content_key, staged_folder
from l2m.calls import LLMRequest, Operation
from l2m.config import FUMEMORY_ONLY
from l2m.data.hotpotqa import HotpotRecord, check_training_pool
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.episode import Turn, play_episode
from l2m.memory.base import Memory
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


def gold_script(record: HotpotRecord) -> list[Turn]:
    """What an ideal agent does: search the gold titles in order, then finish with the gold answer."""
    searches = [Turn(f"Search[{title}]", search_thought(title)) for title in record.gold_titles]
    return [*searches, Turn(f"Finish[{record.answer}]", finish_thought(record.answer))]


def demonstration_episode(
    record: HotpotRecord, new_env: Callable[[int], HotpotQAEnv], agent: Agent, memory: Memory
) -> Operation[dict]:
    """The episode of `gold_script(record)` with `memory`; `new_env(max_steps)` gives the environment.

    Every step is scripted, so only the memory asks the LLM (FUMemory never does).
    """
    script = gold_script(record)
    return play_episode(record, new_env(len(script)), agent, memory, script)


def episode_demonstrations(episode: dict, agent: Agent, *, reading_only: bool = False) -> list[Demonstration]:
    """THINK and ACT examples of every step of a demonstration episode, or with `reading_only`
    just the final THINK example (the full memory, the answer as target)."""
    question, demos = episode["question"], []
    for step in episode["step_records"]:
        context, thought, action = step["context"], step["thought"], step["action"]
        think = agent.think_request(question, context)
        act = agent.act_request(question, thought, context)
        demos += [
            Demonstration(episode["question_id"], step["step"], "think", _example(think, thought)),
            Demonstration(episode["question_id"], step["step"], "act", _example(act, action)),
        ]
    return [d for d in demos if d.stage == "think"][-1:] if reading_only else demos


def rotation(memories: tuple[str, ...], count: int) -> list[str]:
    """The memory of each of `count` questions: question i gets memories[i mod M]."""
    if not memories:
        raise ValueError("the agent adapter's demonstrations need at least one memory")
    return [memories[i % len(memories)] for i in range(count)]


@dataclass(frozen=True, kw_only=True)
class AgentAdapterSettings:
    questions: int
    # Further training questions that contribute only their final THINK example (see the module doc).
    reading_questions: int = 0
    # The memories whose contexts the demonstrations show, in rotation over the questions.
    context_memories: tuple[str, ...] = FUMEMORY_ONLY
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
    def default(
        cls, questions: int, reading_questions: int = 0, *, seed: int, context_memories: tuple[str, ...] = FUMEMORY_ONLY
    ) -> "AgentAdapterSettings":
        """The defaults (LoRA r 16 on every linear projection, lr 1e-3, batch 8, 1 epoch), seeded."""
        sft = dataclasses.replace(cls.sft, seed=seed)
        return cls(questions=questions, reading_questions=reading_questions, context_memories=context_memories, sft=sft)

    @classmethod
    def for_profile(cls, profile) -> "AgentAdapterSettings":
        """The profile's adapter: its question counts and memories, seeded by `agent_seed` (not `seed`)."""
        return cls.default(
            profile.agent_adapter_questions,
            profile.agent_reading_questions,
            seed=profile.agent_seed,
            context_memories=profile.agent_context_memories,
        )

    def split(self, pool: list[HotpotRecord]) -> tuple[list[HotpotRecord], list[HotpotRecord]]:
        """The questions of the full demonstrations, then those of the reading ones, from `pool`."""
        end = self.questions + self.reading_questions
        return pool[: self.questions], pool[self.questions : end]

    def key(self, llm: str, word_limit: int, question_ids: list[str], reading_ids: list[str]) -> str:
        # FUMemory-only adapters predate the choice of memories: their key leaves it out, so the
        # committed ones stay valid.
        memories = {} if self.context_memories == FUMEMORY_ONLY else {"context_memories": list(self.context_memories)}
        payload = memories | {
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
    pool: list[HotpotRecord],
    demonstrate: Callable[[list[HotpotRecord], list[HotpotRecord]], list[Demonstration]],
    *,
    llm_name: str,
    word_limit: int,
    settings: AgentAdapterSettings,
    forbidden_ids: set[str],
    out_dir: Path,
    provenance: dict,
) -> Path:
    """Train the adapter and save it (PEFT format + manifest.json) under `out_dir`/agent_adapter-<key>.

    `demonstrate(full, reading)` gives the demonstrations of the settings' questions from `pool`
    (the workspace plays them: `Workspace.agent_demonstrations`). An adapter with the same key
    already on disk is reused without playing them. The folder is written under a
    temporary name and renamed when complete, so an interrupted run never leaves a partial
    adapter that a later notebook would load.
    """
    from l2m.models.llm import TransformersChatModel
    from l2m.training.sft import train_lora_sft

    chosen, reading = settings.split(pool)
    ids, reading_ids = [r.id for r in chosen], [r.id for r in reading]
    target = out_dir / f"agent_adapter-{settings.key(llm_name, word_limit, ids, reading_ids)}"
    if (target / "manifest.json").is_file():
        return target
    check_training_pool(chosen + reading, forbidden_ids, "the agent adapter's demonstrations")
    demos = demonstrate(chosen, reading)
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
        "context_memories": list(settings.context_memories),
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
