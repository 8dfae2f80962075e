"""Every registered method plays whole episodes through the runner and logs JSON records."""

import json

import pytest

from conftest import HashingEncoder, ScriptedChatModel
from l2m.config import get_profile
from l2m.methods import BASELINES, METHODS
from l2m.workspace import Workspace


def agent_reply(prompt: str) -> str:
    if "Search[entity]" not in prompt and "Finish[answer]" not in prompt:
        return "I should search first."
    return "Finish[England]" if "Observation (Step 2)" in prompt else "Search[Verulamium]"


def memory_reply(prompt: str) -> str:
    # Good enough for every judge, rating, trigger and summary prompt: a number, a verdict, a fact.
    return "7\nTrue\nVerulamium is in England."


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(get_profile("smoke"), run_dir=tmp_path_factory.mktemp("run"))
    ws.encoder = HashingEncoder()
    ws.llm = ScriptedChatModel(memory_reply)
    ws.agent_llm = ScriptedChatModel(agent_reply)
    ws.agent_adapter = None
    return ws


@pytest.mark.parametrize("name", list(METHODS))
def test_method_plays_and_logs(workspace, name):
    records = workspace.splits["test_easy"][:2]
    episodes = workspace.run_method(name, records)
    assert [e["question_id"] for e in episodes] == [r.id for r in records]
    for episode in episodes:
        assert episode["method"] == name and 1 <= episode["steps"] <= workspace.profile.max_steps
        json.dumps(episode)
    if name in BASELINES:
        # At step 2 the agent saw the page found at step 1, through its memory only.
        assert any("Verulamium" in s["context"] for e in episodes for s in e["step_records"][1:])
    # A rerun plays nothing new: the log already holds these episodes.
    calls = workspace.agent_llm.calls
    assert workspace.run_method(name, records) == episodes and workspace.agent_llm.calls == calls


def test_other_settings_get_their_own_episode_logs(tmp_path):
    folders = []
    for seed in (0, 1):
        ws = Workspace(get_profile("smoke").replace(seed=seed), run_dir=tmp_path)
        ws.agent_adapter = None
        folders.append(ws.episodes_dir)
    assert folders[0] != folders[1]
    assert json.loads((folders[1] / "config.json").read_text())["seed"] == 1


def test_episode_logs_are_keyed_by_the_fields_that_shape_an_episode(tmp_path):
    from l2m.config import get_profile
    from l2m.workspace import Workspace

    paper = get_profile("paper")
    folder = Workspace(paper, run_dir=tmp_path).episodes_dir
    unrelated = paper.replace(test_questions=3, offpolicy_questions=7, retrieval_epochs=1, success_criterion="f1")
    assert Workspace(unrelated, run_dir=tmp_path).episodes_dir == folder
    assert Workspace(paper.replace(max_steps=4), run_dir=tmp_path).episodes_dir != folder
    assert Workspace(paper.replace(seed=1), run_dir=tmp_path).episodes_dir != folder


def test_the_timing_pass_plays_each_method_alone_and_uncached(tmp_path):
    from l2m.models import CachedChatModel, GenerationCache
    from l2m.workspace import RoleModels

    ws = Workspace(get_profile("smoke"), run_dir=tmp_path)
    ws.encoder, ws.agent_adapter = HashingEncoder(), None
    cache = GenerationCache(tmp_path / "cache.sqlite")
    memory, agent = ScriptedChatModel(memory_reply), ScriptedChatModel(agent_reply)
    ws.llm, ws.agent_llm = CachedChatModel(memory, cache), CachedChatModel(agent, cache)
    assert RoleModels(ws, uncached=True)["memory"] is memory and RoleModels(ws)["memory"] is ws.llm
    records, methods = ws.splits["test_easy"][:2], ["FUMemory", "LTMemory"]
    played = ws.run_methods(methods, records)
    assert max(agent.batches) == 4  # run_methods: one pool, the two methods' batches mixed
    stored, calls, batches = len(cache), agent.calls, len(agent.batches)

    timed = ws.timed_runs(methods, records)
    assert agent.calls > calls and len(cache) == stored  # generated again, nothing stored
    assert max(agent.batches[batches:]) == 2  # each method's two episodes in a pool of their own
    for name in methods:
        assert [e["answer"] for e in timed[name]] == [e["answer"] for e in played[name]]
    # A rerun reads the pass's logs; a method whose pass was interrupted plays again from the start.
    calls = agent.calls
    assert ws.timed_runs(methods, records) == timed and agent.calls == calls
    logged = tmp_path / "timing" / ws.episodes_dir.name / "LTMemory.jsonl"
    logged.unlink()
    logged.with_name("LTMemory.jsonl.partial").write_text('{"method": "LTMemory", "question_id": "cut')
    assert [e["answer"] for e in ws.timed_runs(["LTMemory"], records)["LTMemory"]] == [
        e["answer"] for e in played["LTMemory"]
    ]
    assert agent.calls > calls and logged.is_file() and not logged.with_name("LTMemory.jsonl.partial").exists()


def test_the_timing_pass_names_its_machine_and_never_mixes_two(workspace, monkeypatch):
    records = workspace.splits["test_easy"][:1]
    monkeypatch.setattr("l2m.workspace.machine_description", lambda dtype: "machine A")
    timed = workspace.timed_runs(["FUMemory"], records)
    assert [e["machine"] for e in timed["FUMemory"]] == ["machine A"]
    # What machine A timed reads back on machine B (the notebook reports A) ...
    monkeypatch.setattr("l2m.workspace.machine_description", lambda dtype: "machine B")
    assert workspace.timed_runs(["FUMemory"], records) == timed
    # ... but a method timed on B never joins it: the pass refuses before anything plays.
    calls = workspace.agent_llm.calls
    with pytest.raises(ValueError, match="another machine \\(machine A\\) and this one is machine B"):
        workspace.timed_runs(["FUMemory", "LTMemory"], records)
    assert workspace.agent_llm.calls == calls
    monkeypatch.setattr("l2m.workspace.machine_description", lambda dtype: "machine A")
    both = workspace.timed_runs(["FUMemory", "LTMemory"], records)
    assert both["FUMemory"] == timed["FUMemory"] and [e["machine"] for e in both["LTMemory"]] == ["machine A"]
