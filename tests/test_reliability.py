"""Faults survived and runs reproduced: a dying endpoint keeps finished episodes; same seed, same rows."""

import json

import pytest

from conftest import HashingEncoder, ScriptedChatModel
from l2m.agent import Agent
from l2m.config import get_profile
from l2m.memory.full import FUMemory
from l2m.models.llm import EndpointError
from l2m.workspace import Workspace

TIMING_FIELDS = {"seconds", "llm_seconds"}


def agent_reply(prompt: str) -> str:
    if "Search[entity]" not in prompt:
        return "I should search first."
    return "Finish[England]" if "Observation (Step 2)" in prompt else "Search[Verulamium]"


class DyingModel(ScriptedChatModel):
    """Answers like the scripted agent, then fails as an endpoint that went down would."""

    def __init__(self, respond, calls_before_death: int):
        super().__init__(respond)
        self.calls_before_death = calls_before_death

    def generate(self, conversations, sampling):
        if self.calls + len(conversations) > self.calls_before_death:
            raise EndpointError("http://localhost:9/v1 did not answer after 3 attempts")
        return super().generate(conversations, sampling)


def workspace(run_dir, agent_llm) -> Workspace:
    ws = Workspace(get_profile("smoke").replace(live_episodes=1), run_dir=run_dir)
    ws.encoder = HashingEncoder()
    ws.llm = ScriptedChatModel(lambda prompt: "7\nTrue\nVerulamium is in England.")
    ws.agent_llm = agent_llm
    ws.agent_adapter = None
    return ws


def test_an_endpoint_that_dies_keeps_the_finished_episodes(tmp_path):
    ws = workspace(tmp_path, DyingModel(agent_reply, calls_before_death=9))
    records = ws.splits["test_easy"][:4]
    with pytest.raises(EndpointError, match="did not answer"):
        ws.run_method("FUMemory", records)
    (log,) = ws.episodes_dir.glob("FUMemory.jsonl")
    kept = [json.loads(line)["question_id"] for line in log.read_text().splitlines()]
    assert kept == [r.id for r in records[: len(kept)]] and 1 <= len(kept) < len(records)
    # Back up: the rerun plays only what is missing, and every episode is there once.
    ws.agent_llm = ScriptedChatModel(agent_reply)
    episodes = ws.run_method("FUMemory", records)
    assert [e["question_id"] for e in episodes] == [r.id for r in records]
    assert ws.agent_llm.calls == 4 * (len(records) - len(kept))  # think + act, two steps each
    assert len(log.read_text().splitlines()) == len(records)


def test_logged_plays_resume_and_a_second_call_asks_no_llm(tmp_path):
    ws = workspace(tmp_path, DyingModel(agent_reply, calls_before_death=5))
    records = ws.splits["test_easy"][:3]
    agent = Agent.from_profile(ws.profile)

    def play():
        return ws.play(records, agent, lambda record: FUMemory(), agent_llm=ws.agent_llm, log_as="00a-demo")

    with pytest.raises(EndpointError):
        play()
    assert len((ws.episodes_dir / "00a-demo.jsonl").read_text().splitlines()) == 1
    ws.agent_llm = ScriptedChatModel(agent_reply)
    episodes = play()
    assert [e["question_id"] for e in episodes] == [r.id for r in records]
    assert {e["method"] for e in episodes} == {"00a-demo"} and ws.agent_llm.calls == 4 * 2
    assert play() == episodes and ws.agent_llm.calls == 4 * 2


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_two_runs_with_one_seed_write_identical_rows(tmp_path):
    methods = ["Ours-def", "MBMemory", "GAMemory"]  # a seeded stop rule, seeded forgetting, recency refresh
    runs = []
    for name in ("first", "second"):
        ws = workspace(tmp_path / name, ScriptedChatModel(agent_reply))
        records = ws.splits["test_easy"][:2]
        runs.append((ws, ws.run_methods(methods, records)))
    (ws_a, a), (ws_b, b) = runs
    for method in methods:
        for row in a[method] + b[method]:
            assert row["seed"] == 0 and row["profile"] == "smoke"
        assert json.dumps(without_timings(a[method]), sort_keys=True) == json.dumps(
            without_timings(b[method]), sort_keys=True
        )
    # The result rows (accuracy and memory columns; the timing columns are the wall clock's).
    tables = [ws.summary_table({(m,): r[m] for m in methods}, ["method"]) for ws, r in runs]
    columns = [c for c in tables[0].columns if not c.startswith("sec_")]
    assert tables[0][columns].to_csv() == tables[1][columns].to_csv()


def test_unknown_level_and_policy_are_refused():
    ws = Workspace(get_profile("smoke"))
    with pytest.raises(ValueError, match="unknown level 'impossible'; choose one of easy, medium, hard"):
        ws.test_questions("impossible")
    with pytest.raises(ValueError, match="unknown policy 'oracle'; choose one of agent, scripted"):
        ws.run_method("FUMemory", ws.splits["test_easy"][:1], policy="oracle")
