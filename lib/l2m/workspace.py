"""Everything a notebook needs for one profile, built lazily and once.

    ws = Workspace(get_profile("smoke"))
    ws.splits["test_easy"], ws.wiki, ws.llm, ws.encoder, ws.new_env()

The LLM is wrapped in the profile's on-disk generation cache (runs/<profile>/llm_cache.sqlite),
so rerunning a notebook makes no new LLM call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

from l2m.agent import Agent
from l2m.agent_tuning import AgentAdapterSettings, train_agent_adapter
from l2m.config import REPO_ROOT, Profile
from l2m.data.hotpotqa import HotpotRecord, load_splits
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.env.wiki import LocalWiki
from l2m.episode import play_episode
from l2m.memory.base import Memory
from l2m.models import ChatModel, Encoder, GenerationCache, load_llm
from l2m.runner import run_lockstep

TEST_LEVELS = {"easy": "test_easy", "medium": "test_medium", "hard": "test_hard"}


@dataclass
class Workspace:
    profile: Profile

    @cached_property
    def splits(self) -> dict[str, list[HotpotRecord]]:
        return load_splits()

    @cached_property
    def wiki(self) -> LocalWiki:
        """Pages from the paragraphs of every shipped record, test and train alike."""
        return LocalWiki.from_records(r for split in self.splits.values() for r in split)

    @cached_property
    def cache(self) -> GenerationCache:
        return GenerationCache(self.profile.run_dir / "llm_cache.sqlite")

    @cached_property
    def llm(self) -> ChatModel:
        """The base LLM: the memory-side role, and the zero-shot agent."""
        return load_llm(self.profile, cache=self.cache)

    @cached_property
    def test_ids(self) -> set[str]:
        return {r.id for name, split in self.splits.items() if name != "train" for r in split}

    @cached_property
    def agent_adapter(self) -> Path | None:
        """The task-tuned agent adapter of the profile (trained once, then reused), or None."""
        if not self.profile.agent_adapter_questions:
            return None
        settings = AgentAdapterSettings.default(self.profile.agent_adapter_questions, seed=self.profile.seed)
        return train_agent_adapter(
            self.splits["train"],
            self.wiki,
            Agent.from_profile(self.profile),
            llm_name=self.profile.llm,
            word_limit=self.profile.memory_word_limit,
            settings=settings,
            forbidden_ids=self.test_ids,
            out_dir=self.profile.run_dir / "artifacts",
            manifest_extra={"profile": self.profile.name, "seed": self.profile.seed},
        )

    @cached_property
    def agent_llm(self) -> ChatModel:
        """The agent role: the base LLM with the profile's agent adapter stacked, if any."""
        adapter = self.agent_adapter
        return load_llm(self.profile, adapters=[adapter], cache=self.cache) if adapter else self.llm

    def play(
        self,
        records: list[HotpotRecord],
        agent: Agent,
        make_memory: Callable[[HotpotRecord], Memory | None],
        *,
        agent_llm: ChatModel | None = None,
        max_steps: int | None = None,
        description: str = "episodes",
    ) -> list[dict]:
        """Play one episode per record in lockstep; returns the episode logs in record order."""
        operations = (play_episode(r, self.new_env(max_steps), agent, make_memory(r)) for r in records)
        models = {"agent": agent_llm or self.agent_llm, "memory": self.llm}
        return run_lockstep(operations, models, total=len(records), description=description)

    @cached_property
    def encoder(self) -> Encoder:
        return Encoder(self.profile.encoder)

    def test_questions(self, level: str) -> list[HotpotRecord]:
        """The profile's share of a test level (all of it unless the profile scales it down)."""
        if level not in TEST_LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {', '.join(TEST_LEVELS)}")
        records = self.splits[TEST_LEVELS[level]]
        return records[: self.profile.test_questions] if self.profile.test_questions else records

    def figure_path(self, name: str) -> Path:
        """figures/<profile>/<name>.png (the cpu profile's figures are the committed ones)."""
        path = REPO_ROOT / "figures" / self.profile.name / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def new_env(self, max_steps: int | None = None) -> HotpotQAEnv:
        return HotpotQAEnv(
            self.wiki,
            max_steps=max_steps or self.profile.max_steps,
            action_parser=self.profile.action_parser,
        )
