"""Everything a notebook needs for one profile, built lazily and once.

    ws = Workspace(get_profile("smoke"))
    ws.splits["test_easy"], ws.wiki, ws.llm, ws.encoder, ws.new_env()

The LLM is wrapped in the profile's on-disk generation cache (runs/<profile>/llm_cache.sqlite),
so rerunning a notebook makes no new LLM call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Callable

import pandas as pd

from l2m.agent import Agent
from l2m.agent_tuning import (
    AgentAdapterSettings,
    Demonstration,
    demonstration_episode,
    episode_demonstrations,
    rotation,
    train_agent_adapter,
)
from l2m.artifacts import check_artifact
from l2m.calls import Operation
from l2m.config import REPO_ROOT, Profile
from l2m.data.hotpotqa import HotpotRecord, load_splits
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.env.wiki import LocalWiki
from l2m.episode import POLICIES, Turn, play_episode, scripted_searches
from l2m.episode_log import EpisodeLog
from l2m.memory.adaptive import DEFAULT_HINT, AdaptiveMemory, AdaptiveOptions
from l2m.memory.base import Memory, MemorySettings
from l2m.methods import get_method
from l2m.models import CachedChatModel, ChatModel, Encoder, GenerationCache, Sampling, load_llm
from l2m.models.device import machine_description
from l2m.offpolicy import (
    load_gate_into,
    reflection_settings,
    train_aggregator,
    train_gate,
    train_hint,
    untrained_gate,
)
from l2m.onpolicy import OnPolicyLoop, Parameters, off_policy_parameters, settings_for
from l2m.results import record_results, result_rows
from l2m.retrieval.gate import GateSettings, ScoreModel
from l2m.retrieval.pretrain import PretrainSettings, load_scorers, pretrain_scorers
from l2m.retrieval.training import RetrievalTrainSettings
from l2m.runner import run_operations
from l2m.storage.reflection import load_hint
from l2m.summary import summary_table

TEST_LEVELS = {"easy": "test_easy", "medium": "test_medium", "hard": "test_hard"}


def log_name(method: str) -> str:
    """A method's episode log file name, without suffix ("/" in an ablation's name becomes "_")."""
    return method.replace("/", "_")


AGGREGATOR_ROLE = "aggregator:"


class RoleModels(Mapping):
    """The model behind each LLM role, resolved on first use.

    "agent" (the profile's agent, or the one given), "memory" (the base LLM) and
    "aggregator:<adapter>+<adapter>" (the base LLM with those adapters of the run stacked).
    With `scripted_agent`, every agent step is scripted: asking the agent role is an error, and
    nothing is loaded for it. With `uncached`, every role's model generates every request,
    neither served from nor written to the generation cache (the timing pass of Table 3).
    """

    def __init__(
        self, ws: "Workspace", agent: ChatModel | None = None, *, scripted_agent: bool = False, uncached: bool = False
    ):
        self.ws, self.agent, self.scripted_agent, self.uncached = ws, agent, scripted_agent, uncached

    def __getitem__(self, role: str) -> ChatModel:
        model = self._resolve(role)
        return model.inner if self.uncached and isinstance(model, CachedChatModel) else model

    def _resolve(self, role: str) -> ChatModel:
        if role == "agent" and self.scripted_agent:
            raise RuntimeError("a scripted episode asked the agent role for a generation")
        if role == "agent":
            return self.agent or self.ws.agent_llm
        if role == "memory":
            return self.ws.llm
        if role.startswith(AGGREGATOR_ROLE):
            return self.ws.aggregator_llm(tuple(role.removeprefix(AGGREGATOR_ROLE).split("+")))
        raise KeyError(role)

    def __iter__(self):
        return iter(("agent", "memory"))

    def __len__(self) -> int:
        return 2


@dataclass(frozen=True)
class LoggedEpisode:
    """One episode to play unless its log holds it: the row header (method and seed name its key),
    and how to start it."""

    log: EpisodeLog
    header: dict
    record: HotpotRecord
    start: Callable[[], Operation]

    @property
    def key(self) -> tuple[str, str, int]:
        return self.header["method"], self.record.id, self.header["seed"]


@dataclass
class Workspace:
    profile: Profile
    # Where this workspace keeps its cache, artifacts and episode logs (default runs/<profile>/).
    run_dir: Path | None = None
    # Records beyond the shipped ones (a user's file): their paragraphs join the wiki and their
    # supporting facts the memory metrics.
    extra_records: tuple[HotpotRecord, ...] = ()

    def __post_init__(self):
        self.run_dir = Path(self.run_dir) if self.run_dir else self.profile.run_dir
        self._aggregators: dict[tuple[str, ...], ChatModel] = {}
        self._ranking_models: dict[Path | None, ScoreModel] = {}
        # Ablation artifacts by their changed settings, resolved once (methods ask per episode).
        self._ablations: dict[tuple, Path | str] = {}

    @cached_property
    def splits(self) -> dict[str, list[HotpotRecord]]:
        return load_splits()

    @cached_property
    def wiki(self) -> LocalWiki:
        """Pages from the paragraphs of every shipped record, test and train alike, and the extra ones."""
        return LocalWiki.from_records(self._all_records())

    def _all_records(self):
        yield from (r for split in self.splits.values() for r in split)
        yield from self.extra_records

    @cached_property
    def cache(self) -> GenerationCache:
        return GenerationCache(self.run_dir / "llm_cache.sqlite")

    @cached_property
    def llm(self) -> ChatModel:
        """The base LLM: the memory-side role, and the zero-shot agent."""
        return load_llm(self.profile, cache=self.cache)

    @cached_property
    def test_ids(self) -> set[str]:
        return {r.id for name, split in self.splits.items() if name != "train" for r in split}

    @cached_property
    def agent_adapter(self) -> Path | None:
        """The task-tuned agent adapter of the profile (trained once, then reused), or None.

        Every seed shares the adapter of `agent_seed`, whose demonstrations play under that seed.
        """
        if not self.profile.agent_adapter_questions:
            return None
        if self.profile.seed != self.profile.agent_seed:
            adapter_profile = self.profile.replace(seed=self.profile.agent_seed)
            return Workspace(adapter_profile, self.run_dir, self.extra_records).agent_adapter
        settings = AgentAdapterSettings.for_profile(self.profile)
        return self.checked(
            train_agent_adapter(
                self.splits["train"],
                self.agent_demonstrations,
                llm_name=self.profile.llm,
                word_limit=self.profile.memory_word_limit,
                settings=settings,
                forbidden_ids=self.test_ids,
                out_dir=self.run_dir / "artifacts",
                provenance=self.provenance,
            )
        )

    def agent_demonstrations(self, full: list[HotpotRecord], reading: list[HotpotRecord]) -> list[Demonstration]:
        """The agent adapter's demonstrations: every step of the gold episodes of `full`, the final
        THINK step of those of `reading`.

        Question i of full + reading plays with the memory agent_context_memories[i mod M]; the
        episodes play in lockstep, so the memories' LLM calls (base model) share batches. Each
        finished episode is logged at once to runs/<profile>/demonstrations/<config>/episodes.jsonl
        (<config> as for episodes_dir, without the adapter), so an interrupted run resumes.
        """
        records = [*full, *reading]
        methods = [get_method(name) for name in rotation(self.profile.agent_context_memories, len(records))]
        if not_memories := sorted({m.name for m in methods if m.build is None}):
            raise ValueError(f"agent_context_memories names methods without a memory: {', '.join(not_memories)}")
        log = EpisodeLog(self._config_folder("demonstrations", self.profile.episode_config()) / "episodes.jsonl")
        agent = Agent.from_profile(self.profile)

        def demonstration(record: HotpotRecord, method) -> Operation:
            return demonstration_episode(record, self.new_env, agent, method.make_memory(self))

        seed = self.profile.seed
        jobs = [
            LoggedEpisode(log, {"method": m.name, "seed": seed}, r, partial(demonstration, r, m))
            for r, m in zip(records, methods)
        ]
        # Every step is scripted: only the memories ask (the base LLM, loaded if one does).
        episodes = self._play_logged(jobs, RoleModels(self, scripted_agent=True), "demonstration episodes")
        return [
            demo
            for i, episode in enumerate(episodes)
            for demo in episode_demonstrations(episode, agent, reading_only=i >= len(full))
        ]

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
        log_as: str | None = None,
    ) -> list[dict]:
        """Play one episode per record in lockstep; returns the episode logs in record order.

        With `log_as`, each finished episode is appended at once to
        runs/<profile>/episodes/<config>/<log_as>.jsonl (its "method"), and a rerun plays only
        the records missing there, as run_methods does for the registered methods.
        """
        models = RoleModels(self, agent=agent_llm)

        def episode(record: HotpotRecord) -> Operation:
            return play_episode(record, self.new_env(max_steps), agent, make_memory(record))

        if log_as is None:
            return run_operations(
                (episode(r) for r in records),
                models,
                max_live=self.profile.live_operations,
                total=len(records),
                description=description,
            )
        log = EpisodeLog(self.episodes_dir / f"{log_as}.jsonl")
        header = {"method": log_as, "seed": self.profile.seed, "profile": self.profile.name, "policy": "agent"}
        return self._play_logged(
            [LoggedEpisode(log, header, r, partial(episode, r)) for r in records], models, description
        )

    def _play_logged(self, jobs: list[LoggedEpisode], models: RoleModels, description: str) -> list[dict]:
        """Each job's logged episode, in job order: the jobs missing from their log play in one
        lockstep pool, and each is appended to its log (header | episode) as soon as it finishes."""
        todo = [job for job in jobs if job.key not in job.log]
        run_operations(
            (job.start() for job in todo),
            models,
            max_live=self.profile.live_operations,
            on_done=lambda index, episode: todo[index].log.append(todo[index].header | episode),
            total=len(todo),
            description=description,
            name_of=lambda index: todo[index].header["method"],
        )
        return [job.log.rows[job.key] for job in jobs]

    @cached_property
    def encoder(self) -> Encoder:
        return Encoder(self.profile.encoder)

    @cached_property
    def memory_settings(self) -> MemorySettings:
        p = self.profile
        return MemorySettings(
            word_limit=p.memory_word_limit,
            top_k=p.top_k,
            llm=Sampling(p.memory_max_tokens, p.temperature, seed=p.seed),
            seed=p.seed,
        )

    @cached_property
    def merge_sampling(self) -> Sampling:
        """Decoding of the adaptive memory's merges (and of the merges that train them)."""
        p = self.profile
        return Sampling(p.merge_max_tokens, p.temperature, seed=p.seed)

    @cached_property
    def scorer_settings(self) -> PretrainSettings:
        p = self.profile
        return PretrainSettings(seed=p.seed, emotion_seeds=p.scorer_seed_sentences, importance_records=p.scorer_records)

    @cached_property
    def scorers_folder(self) -> Path:
        """The pretrained emotion and importance scorers (trained once, then reused; PAPER §2.4)."""
        folder = pretrain_scorers(
            self.encoder,
            self.splits["train"],
            self.run_dir / "artifacts",
            self.scorer_settings,
            forbidden_ids=self.test_ids,
            provenance=self.provenance,
        )
        return self.checked(folder)

    def score_model(self, gate: Path | None = None, init: GateSettings | None = None) -> ScoreModel:
        """Pretrained scorers with the untrained gate of Ours-def (or one initialised by `init`),
        or the gate saved in `gate`."""
        emotion, importance = load_scorers(self.scorers_folder)
        model = ScoreModel(untrained_gate(self.encoder.dim, self.profile.seed, init), emotion, importance)
        return load_gate_into(model, gate) if gate else model.eval()

    def adaptive_memory(
        self, gate: Path | None = None, hint: str = DEFAULT_HINT, aggregator: tuple[str, ...] = ()
    ) -> AdaptiveMemory:
        """A fresh adaptive memory: Ours-def with no arguments.

        `aggregator` names adapters under runs/<profile>/artifacts/ that the merges stack on the
        base LLM (SFT, then DPO: Ours-U); the extraction keeps the base LLM.
        """
        role = AGGREGATOR_ROLE + "+".join(aggregator) if aggregator else "memory"
        options = AdaptiveOptions(hint=hint, merge_sampling=self.merge_sampling, merge_role=role)
        return AdaptiveMemory(self.encoder, self.ranking_model(gate), self.memory_settings, options)

    def ranking_model(self, gate: Path | None = None) -> ScoreModel:
        """The score model memories rank with, loaded once per gate and shared (memories only read it).

        score_model() gives a fresh copy instead, for training.
        """
        if gate not in self._ranking_models:
            self._ranking_models[gate] = self.score_model(gate)
        return self._ranking_models[gate]

    def aggregator_llm(self, names: tuple[str, ...]) -> ChatModel:
        """The base LLM with the named aggregator adapters of this run stacked, loaded once."""
        if names not in self._aggregators:
            folders = [self.artifact(name) for name in names]
            self._aggregators[names] = load_llm(self.profile, adapters=folders, cache=self.cache)
        return self._aggregators[names]

    def artifact(self, name: str) -> Path:
        """runs/<profile>/artifacts/<name>, checked; a name that leads anywhere else is refused."""
        folder = self.run_dir / "artifacts" / name
        if Path(name).name != name or name in ("", ".", "..") or not folder.is_dir():
            raise FileNotFoundError(f"no artifact {name!r} in {self.run_dir / 'artifacts'}")
        return self.checked(folder)

    @property
    def provenance(self) -> dict:
        """What every artifact of this workspace records as its maker (l2m.artifacts manifest)."""
        p = self.profile
        return {"profile": p.name, "seed": p.seed, "models": {"llm": p.llm, "encoder": p.encoder}}

    def checked(self, folder: Path) -> Path:
        """`folder`, once its manifest shows it was made under this profile and no file changed."""
        check_artifact(folder, self.profile.name)
        return folder

    @cached_property
    def trained_aggregator(self) -> tuple[str, ...]:
        """(SFT, DPO) aggregator adapter names of Ours-U (samples and trains on first use)."""
        return train_aggregator(self)

    @cached_property
    def trained_gate(self) -> Path:
        """The off-policy retrieval artifact of Ours-R (samples and trains on first use)."""
        return self.gate_trained_with()

    def gate_trained_with(self, init: str = "paper", **training) -> Path:
        """The off-policy retrieval artifact for a gate initialised by `init` and trained with the
        profile's settings changed by `training` (RetrievalTrainSettings fields): the ablations."""
        key = ("gate", init, *sorted(training.items()))
        if key not in self._ablations:
            p = self.profile
            settings = replace(RetrievalTrainSettings(epochs=p.retrieval_epochs, seed=p.seed), **training)
            self._ablations[key] = self.checked(train_gate(self, settings, GateSettings(init=init, seed=p.seed)))
        return self._ablations[key]

    @cached_property
    def trained_hint(self) -> Path:
        """The off-policy storage artifact of Ours-S (samples, reflects and consolidates on first use)."""
        return self.checked(train_hint(self))

    def hint_learned_with(self, **reflection) -> str:
        """The hint learned off-policy with the profile's reflection settings changed by
        `reflection` (ReflectionSettings fields): the ablations."""
        key = ("hint", *sorted(reflection.items()))
        if key not in self._ablations:
            settings = replace(reflection_settings(self), **reflection)
            self._ablations[key] = load_hint(self.checked(train_hint(self, settings))).hint
        return self._ablations[key]

    @cached_property
    def learned_hint(self) -> str:
        """The extraction hint of Ours-S (theta_s after off-policy reflection)."""
        return load_hint(self.trained_hint).hint

    def memory_with(self, parameters: Parameters) -> AdaptiveMemory:
        """A fresh adaptive memory with the gate, aggregator and hint of `parameters`."""
        gate = self.artifact(parameters.gate) if parameters.gate else None
        return self.adaptive_memory(gate=gate, hint=parameters.hint, aggregator=parameters.aggregator)

    @cached_property
    def off_policy_parameters(self) -> Parameters:
        """Ours-off: the three off-policy results together (each trained on first use)."""
        return off_policy_parameters(self)

    @cached_property
    def on_policy_loop(self) -> OnPolicyLoop:
        """Algorithm 1 from Ours-off at the profile's scale (l2m.onpolicy)."""
        return OnPolicyLoop(self, self.off_policy_parameters, settings_for(self.profile))

    @cached_property
    def on_policy_parameters(self) -> Parameters:
        """Ours-on: the parameters after the last on-policy epoch (runs the missing epochs)."""
        loop = self.on_policy_loop
        loop.run()
        return loop.parameters_after(loop.settings.epochs)

    @property
    def levels(self) -> tuple[str, ...]:
        """The test levels this profile evaluates."""
        return self.profile.test_levels

    def test_questions(self, level: str) -> list[HotpotRecord]:
        """The profile's share of a test level (all of it unless the profile scales it down)."""
        if level not in TEST_LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {', '.join(TEST_LEVELS)}")
        records = self.splits[TEST_LEVELS[level]]
        return records[: self.profile.test_questions] if self.profile.test_questions else records

    @cached_property
    def episodes_dir(self) -> Path:
        """runs/<profile>/episodes/<config>/: one folder per configuration of profile and agent.

        <config> hashes the profile fields that shape an episode (Profile.episode_config) and
        the agent adapter, so episodes played under other settings are never mistaken for these;
        config.json beside the logs says what the hash stands for.
        """
        adapter = self.agent_adapter
        config = self.profile.episode_config() | {"agent_adapter": adapter.name if adapter else None}
        return self._config_folder("episodes", config)

    def _config_folder(self, kind: str, config: dict) -> Path:
        """runs/<profile>/<kind>/<hash of config>/, with config.json saying what the hash stands for."""
        text = json.dumps(config, sort_keys=True, default=str, indent=2)
        folder = self.run_dir / kind / hashlib.sha256(text.encode()).hexdigest()[:12]
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "config.json").is_file():
            staging = folder / "config.json.tmp"
            staging.write_text(text + "\n")
            staging.replace(folder / "config.json")
        return folder

    def run_method(self, name: str, records: list[HotpotRecord], policy: str = "agent") -> list[dict]:
        """Episodes of method `name` on `records` (see run_methods)."""
        return self.run_methods([name], records, policy)[name]

    def run_methods(
        self, names: list[str], records: list[HotpotRecord], policy: str = "agent"
    ) -> dict[str, list[dict]]:
        """Episodes of every method in `names` on `records`, with the profile's seed, resumable.

        All missing (method, question) episodes play in one lockstep pool, so the agent calls of
        different methods share batches too. Each finished episode is appended at once to
        runs/<profile>/episodes/<config>/<method>.jsonl (a "/" in the name becomes "_"); a rerun
        plays only the pairs missing there.
        `policy="scripted"` replaces the agent's actions before the last step by the fixed
        searches of l2m.episode.scripted_searches (an analysis tool: every memory sees the same
        observations); those episodes go to <method>.scripted.jsonl.
        Returns each method's episodes in record order. For another seed, use a Workspace of
        `profile.replace(seed=...)`.
        """
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        methods = [get_method(name) for name in names]
        suffix = ".scripted" if policy == "scripted" else ""
        logs = {m.name: EpisodeLog(self.episodes_dir / f"{log_name(m.name)}{suffix}.jsonl") for m in methods}
        jobs = [job for m in methods for job in self._method_jobs(m, records, logs[m.name], policy)]
        description = ", ".join(names) if len(names) <= 3 else f"{len(names)} methods"
        episodes = iter(self._play_logged(jobs, RoleModels(self), description))
        return {m.name: [next(episodes) for _ in records] for m in methods}

    def _method_jobs(
        self, method, records: list[HotpotRecord], log: EpisodeLog, policy: str, **tags: str
    ) -> list[LoggedEpisode]:
        """The episodes of `method` on `records` under `policy`, to be logged in `log` with `tags`."""
        p = self.profile
        agent = Agent.from_profile(p, method.agent_kind)
        header = {"method": method.name, "seed": p.seed, "profile": p.name, "policy": policy, **tags}

        def episode(record: HotpotRecord) -> Operation:
            env = self.new_env(method.max_steps)
            searches = scripted_searches(record, env.max_steps - 1) if policy == "scripted" else []
            script = [Turn(action) for action in searches]
            return play_episode(record, env, agent, method.make_memory(self), script)

        return [LoggedEpisode(log, header, r, partial(episode, r)) for r in records]

    def timed_runs(self, names: list[str], records: list[HotpotRecord]) -> dict[str, list[dict]]:
        """Episodes of every method in `names` on `records`, each method timed alone (Table 3).

        run_methods is the wrong clock: its pool mixes methods, so a batch's seconds are shared
        between them, and cached calls carry the seconds of whenever they were generated. Here each
        method plays in a lockstep pool of its own and every LLM request is generated (no cache
        served or written), so each call's seconds are this method's, on this machine, now.
        A method's episodes go to runs/<profile>/timing/<config>/<method>.jsonl (<config> as for
        episodes_dir) once all of them finish, each naming its machine (`machine_description`); a
        rerun reads that file, and a method interrupted midway plays again from its first question,
        so no pool mixes two runs. Table 3 compares the methods, so all of them must be timed on
        one machine: a pass that would add a method timed here to methods timed on another machine
        raises before playing.
        """
        folder = self.run_dir / "timing" / self.episodes_dir.name
        methods = [get_method(name) for name in names]
        logged = {method.name: self._timing_log(method, records, folder) for method in methods}
        if all(logged.values()):
            return logged
        here = machine_description(self.profile.dtype)
        machines = {episode.get("machine", "not recorded") for episodes in logged.values() for episode in episodes}
        if machines - {here}:
            raise ValueError(
                f"{folder} holds methods timed on another machine ({'; '.join(sorted(machines))}) and "
                f"this one is {here}; Table 3 compares methods timed on one machine, so time them all "
                f"here (move the folder aside) or finish the pass on that machine"
            )
        return {m.name: logged[m.name] or self._time_alone(m, records, folder, here) for m in methods}

    @staticmethod
    def _timing_path(method, folder: Path) -> Path:
        return folder / f"{log_name(method.name)}.jsonl"

    def _timing_log(self, method, records: list[HotpotRecord], folder: Path) -> list[dict]:
        """The logged timing episodes of `method` on `records`; none unless all of them are logged."""
        path = self._timing_path(method, folder)
        logged = EpisodeLog(path).rows if path.is_file() else {}
        keys = [(method.name, r.id, self.profile.seed) for r in records]
        return [logged[key] for key in keys] if all(key in logged for key in keys) else []

    def _time_alone(self, method, records: list[HotpotRecord], folder: Path, machine: str) -> list[dict]:
        """Play `method` on `records` in a pool of its own, uncached, and log the episodes at once."""
        path = self._timing_path(method, folder)
        staging = path.with_name(path.name + ".partial")
        staging.unlink(missing_ok=True)
        jobs = self._method_jobs(method, records, EpisodeLog(staging), "agent", machine=machine)
        episodes = self._play_logged(jobs, RoleModels(self, uncached=True), f"timing {method.name}")
        staging.replace(path)
        return episodes

    @cached_property
    def records_by_id(self) -> dict[str, HotpotRecord]:
        """Every record by its _id (the memory metrics look up supporting facts here); shipped ones win."""
        by_id = {}
        for record in self._all_records():
            by_id.setdefault(record.id, record)
        return by_id

    def summary_table(self, runs: Mapping[tuple, list[dict]], index: list[str]) -> pd.DataFrame:
        """l2m.summary.summary_table with this workspace's wiki and records: every column."""
        return summary_table(runs, index, self.wiki, self.records_by_id)

    def level_runs(
        self, methods: list[str], levels: Sequence[str] | None = None, policy: str = "agent"
    ) -> dict[tuple[str, str], list[dict]]:
        """Episodes of every method on every test level (the profile's by default), by (level, method)."""
        runs = {}
        for level in levels or self.levels:
            for name, episodes in self.run_methods(methods, self.test_questions(level), policy).items():
                runs[(level, name)] = episodes
        return runs

    def results_table(
        self, table: str, methods: list[str], levels: Sequence[str] | None = None, policy: str = "agent"
    ) -> tuple[dict[tuple[str, str], list[dict]], pd.DataFrame]:
        """(level_runs, their summary_table indexed by level and method), the rows recorded in
        results.csv under `table`."""
        runs = self.level_runs(methods, levels, policy)
        summary = self.summary_table(runs, ["level", "method"])
        self.record_results(table, summary, policy)
        return runs, summary

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.csv"

    def record_results(self, table: str, summary: pd.DataFrame, policy: str = "agent") -> pd.DataFrame:
        """Put the rows of `summary` (indexed by level and method) into runs/<profile>/results.csv
        under `table`, replacing that table's earlier rows for the same level, method and seed."""
        p = self.profile
        rows = result_rows(table, summary, profile=p.name, seed=p.seed, policy=policy)
        return record_results(self.results_path, rows)

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
