"""Everything a notebook needs for one profile, built lazily and once.

    ws = Workspace(get_profile("smoke"))
    ws.splits["test_easy"], ws.wiki, ws.llm, ws.encoder, ws.new_env()

The LLM is wrapped in the profile's on-disk generation cache (runs/<profile>/llm_cache.sqlite),
so rerunning a notebook makes no new LLM call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from l2m.config import Profile
from l2m.data.hotpotqa import HotpotRecord, load_splits
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.env.wiki import LocalWiki
from l2m.models import ChatModel, Encoder, GenerationCache, load_llm

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
        return load_llm(self.profile, cache=self.cache)

    @cached_property
    def encoder(self) -> Encoder:
        return Encoder(self.profile.encoder)

    def test_questions(self, level: str) -> list[HotpotRecord]:
        """The profile's share of a test level (all of it unless the profile scales it down)."""
        if level not in TEST_LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {', '.join(TEST_LEVELS)}")
        records = self.splits[TEST_LEVELS[level]]
        return records[: self.profile.test_questions] if self.profile.test_questions else records

    def new_env(self, max_steps: int | None = None) -> HotpotQAEnv:
        return HotpotQAEnv(
            self.wiki,
            max_steps=max_steps or self.profile.max_steps,
            action_parser=self.profile.action_parser,
        )
