"""Profiles: one frozen dataclass, three instances (smoke, cpu, paper).

A profile fixes the scale of every notebook: which models play the LLM and encoder roles,
how many questions each split contributes, and the decoding budgets. Everything else in the
library takes its settings from a profile, so `--profile cpu` changes one name and nothing else.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data" / "hotpotqa"
RUNS_DIR = REPO_ROOT / "runs"

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
E5_BASE = "intfloat/e5-base-v2"
# The nine memories in the order of the paper's Table 1, then the two MemEngine extras
# (l2m.methods builds them; they live here because profiles name them).
BASELINES = ("FUMemory", "LTMemory", "STMemory", "GAMemory", "MBMemory", "SCMemory", "MTMemory", "MGMemory", "RFMemory")
# The agent adapter's first design: demonstrations with FUMemory's contexts only (l2m.agent_tuning).
FUMEMORY_ONLY = ("FUMemory",)
# Demonstrations that rotate over every baseline and the adaptive memory, so the reader learns to
# finish from each memory's format (README, "The small agent": the cpu pilot).
EVERY_MEMORY = (*BASELINES, "Ours-def")


@dataclass(frozen=True, kw_only=True)
class Profile:
    """The scale and models of one reproduction run."""

    name: str
    llm: str
    encoder: str
    # OpenAI-compatible base URLs, comma-separated (e.g. "http://localhost:8000/v1" for vLLM), to
    # reach the LLM over HTTP instead of loading it in this process; $L2M_LLM_ENDPOINT sets it too.
    llm_endpoint: str | None = None
    # Questions per test split (None = the whole split, i.e. the paper's sizes).
    test_questions: int | None
    # The test levels the notebooks evaluate (the smoke profile keeps one to stay fast).
    test_levels: tuple[str, ...] = ("easy", "medium", "hard")
    # PAPER §7: at most 5 agent steps per episode.
    max_steps: int = 5
    # PAPER §7 / D.3: memory contexts are capped at 8096 words; small profiles cap lower
    # because every word is prefill time on a CPU.
    memory_word_limit: int = 8096
    # PAPER §8.1 / D.3: baselines retrieve the top 10 units.
    top_k: int = 10
    think_max_tokens: int = 128
    act_max_tokens: int = 32
    # Generation budget of the memory-side LLM calls (summaries, judges, extraction, merges).
    memory_max_tokens: int = 512
    # 0.0 = greedy. The paper's local-model decoding settings are unknown (PAPER §1.3);
    # greedy makes every number here reproducible bit for bit on one machine.
    temperature: float = 0.0
    # "strict": the paper's full-string regex ^(\w+)\[(.+)\]$ on the whole output.
    # "first_line": the first line that matches it (see l2m.actions).
    action_parser: str = "strict"
    # Constrain the ACT call to the action grammar (l2m.actions.ACTION_CONSTRAINT). Off is the
    # paper's free generation; on is the small model's default, which otherwise writes prose.
    constrained_actions: bool = False
    # Training-pool questions whose scripted demonstrations train the agent adapter
    # (l2m.agent_tuning); 0 keeps the paper's zero-shot agent.
    agent_adapter_questions: int = 0
    # Further training-pool questions that add only the final, answer-naming THINK example.
    agent_reading_questions: int = 0
    # The memory methods whose contexts the adapter's demonstrations show, in rotation over the
    # questions (question i: memory i mod M; l2m.agent_tuning).
    agent_context_memories: tuple[str, ...] = FUMEMORY_ONLY
    # Seed of the agent adapter's training, apart from `seed`: a seed study varies the memories
    # and their training while every method keeps the same reader (the paper's agent is a fixed
    # pretrained model; retraining the adapter takes about an hour at the cpu profile).
    agent_seed: int = 0
    # New tokens per merge of the adaptive memory's sequential aggregation (the code: 512).
    merge_max_tokens: int = 512
    # Training-pool questions the off-policy stages sample Ours-def trajectories on (paper: 4000;
    # our pool has 1408, after the agent adapter's questions).
    offpolicy_questions: int = 1152
    # Scale of the scorer pretraining (l2m.retrieval.pretrain): emotion seed sentences, and
    # training records that give importance chains (None: the whole pool).
    scorer_seed_sentences: int = 2000
    scorer_records: int | None = None
    # The expert whose merges train the aggregator: "programmatic" (l2m.utilization.expert), or the
    # name of a stronger model the model layer can load (through llm_endpoint if set).
    merge_expert: str = "programmatic"
    # Reflection on store records (l2m.storage.reflection): experiences per consolidation chunk
    # (the code 10, the paper 40), and at most this many records reflected on (None: all).
    reflection_chunk: int = 10
    reflection_records: int | None = None
    # On-policy optimization (l2m.onpolicy): epochs, and trajectories sampled per epoch (PAPER: 5 x 30).
    onpolicy_epochs: int = 5
    onpolicy_trajectories: int = 30
    # Experiences per consolidation chunk on-policy (PAPER and the code: 15), and at most this many
    # of an epoch's store records reflected on (None: all, as in the paper).
    onpolicy_reflection_chunk: int = 15
    onpolicy_reflection_records: int | None = None
    # Epochs of retrieval training (PAPER §5: 150).
    retrieval_epochs: int = 150
    # What counts as a success for training signals (l2m.success); evaluation always reports EM.
    success_criterion: str = "em"
    # Sequences per forward pass of the local LLM.
    llm_batch_size: int = 8
    # Episodes played at once in lockstep (their LLM calls share batches); an interrupted run
    # loses at most these, since each finished episode is logged at once.
    live_episodes: int = 16
    # Requests kept in flight over an endpoint (l2m.runner): the server batches them continuously,
    # so as many episodes play at once (at least live_episodes).
    endpoint_requests: int = 64
    # "auto" measures bf16 against fp32 on this CPU (see l2m.models.device).
    dtype: str = "auto"
    seed: int = 0
    # Questions of the hardest test level that Table 3 times each method on, alone and uncached
    # (notebook 06a; None: all the profile evaluates).
    timing_questions: int | None = None
    # Test levels notebook 01a plays every memory on under the scripted policy (None: every test
    # level). The script hands each memory the same pages whatever the level, so the level changes
    # only the questions.
    scripted_levels: tuple[str, ...] | None = None
    # Seeds of notebook 06's seed study: the headline comparison repeated under each (issue 10: 3).
    study_seeds: tuple[int, ...] = (0, 1, 2)

    def episode_config(self) -> dict:
        """The fields that shape an episode: models, budgets, decoding, parsing, seed.

        Logged episodes are keyed by these alone, so adding an unrelated profile field (how
        many questions, training epochs, success criterion...) does not discard them.
        """
        return {name: getattr(self, name) for name in EPISODE_FIELDS}

    @property
    def live_operations(self) -> int:
        """Episodes (or other operations) played at once: enough to keep endpoint_requests in
        flight over an endpoint, live_episodes in-process."""
        return max(self.live_episodes, self.endpoint_requests) if self.llm_endpoint else self.live_episodes

    @property
    def run_dir(self) -> Path:
        return RUNS_DIR / self.name

    def replace(self, **changes) -> "Profile":
        return dataclasses.replace(self, **changes)


EPISODE_FIELDS = (
    "llm",
    "encoder",
    "llm_endpoint",
    "max_steps",
    "memory_word_limit",
    "top_k",
    "think_max_tokens",
    "act_max_tokens",
    "memory_max_tokens",
    "merge_max_tokens",
    "temperature",
    "action_parser",
    "constrained_actions",
    "dtype",
    "seed",
)

# What the 135M-parameter profiles share: the small models, and the help a 135M agent needs to
# act at all (issue "A small agent that can act"; notebook 00a).
_SMALL_MODEL = dict(
    llm=SMOLLM2,
    encoder=MINILM,
    act_max_tokens=32,
    memory_max_tokens=64,
    action_parser="first_line",
    constrained_actions=True,
    # Measured (cpu, task-tuned agent, FUMemory, test_easy n=64): em 11, f1>=0.5 14, answer in the
    # last context 35 successes; only the last gives training stages a usable share of successes.
    success_criterion="answer_in_context",
)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        **_SMALL_MODEL,
        test_questions=1,
        test_levels=("easy",),
        max_steps=3,
        memory_word_limit=512,
        think_max_tokens=32,
        agent_adapter_questions=2,
        agent_reading_questions=2,
        merge_max_tokens=48,
        # Two sampling questions and a small scorer pretraining: notebook 06's seed study retrains
        # every stage per seed, and at 4 questions it took 367 s of nbval, over issue 10's 5 min.
        offpolicy_questions=2,
        scorer_seed_sentences=100,
        scorer_records=50,
        retrieval_epochs=20,
        reflection_chunk=4,
        # Reflection prompts hold a whole page; a few records exercise every step of it.
        reflection_records=4,
        onpolicy_epochs=2,
        onpolicy_trajectories=2,
        onpolicy_reflection_chunk=2,
        onpolicy_reflection_records=2,
        llm_batch_size=16,
        # Every seed retrains every stage (about 100 s each in CI): two seeds exercise the study.
        study_seeds=(0, 1),
    ),
    "cpu": Profile(
        name="cpu",
        **_SMALL_MODEL,
        # The first 32 questions of each test level: Ours-S on the three levels took about 13 min
        # on 2 cores (the whole splits hold three times as many questions), which is what makes
        # the dozen methods and three seeds of the tables affordable. The intervals say what
        # n = 32 costs.
        test_questions=32,
        # Half of them: in notebook 01 the fourteen methods' hard trajectories came to about 3 h of
        # LLM time for 32 questions each, and Table 3 plays them all again, uncached.
        timing_questions=16,
        # One level: GAMemory's importance scores and reflections over the scripted pages took
        # about 1.5 h per level, and the comparison 01a makes is between memories, not levels.
        scripted_levels=("easy",),
        memory_word_limit=1024,
        think_max_tokens=64,
        agent_adapter_questions=64,
        agent_reading_questions=192,
        # The pilot (README, "The small agent"): with FUMemory's contexts alone the reader never
        # finished an Ours-def episode (0/96 answered); rotating over every memory it answered
        # 90/96 while FUMemory's EM stayed inside the noise (19/96 -> 21/96).
        agent_context_memories=EVERY_MEMORY,
        merge_max_tokens=128,
        offpolicy_questions=128,
        # One reflection prompt holds a whole page (about 1,400 tokens): cap the calls.
        reflection_records=160,
        # Decode on this kind of CPU is bound by streaming weights and KV cache: batch 16
        # generated 111 tokens/s against 62 at batch 8 (fp32, 700-token prompts).
        llm_batch_size=16,
        live_episodes=32,
    ),
    "paper": Profile(
        name="paper",
        llm=QWEN,
        encoder=E5_BASE,
        test_questions=None,
        think_max_tokens=256,
        act_max_tokens=64,
    ),
}


class UnknownProfileError(ValueError):
    pass


def get_profile(name: str | None = None) -> Profile:
    """The profile called `name` (default: $L2M_PROFILE, else smoke)."""
    name = name or os.environ.get("L2M_PROFILE", "smoke")
    if name not in PROFILES:
        raise UnknownProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    endpoint = os.environ.get("L2M_LLM_ENDPOINT")
    return PROFILES[name].replace(llm_endpoint=endpoint) if endpoint else PROFILES[name]


def seed_everything(seed: int) -> None:
    """The one place where Python's, NumPy's and torch's generators are seeded."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
