import re

import pytest

from conftest import ScriptedChatModel
from l2m.agent import Agent
from l2m.calls import LLMRequest, run_without_llm
from l2m.config import get_profile
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.env.wiki import LocalWiki
from l2m.episode import play_episode
from l2m.memory.base import EMPTY_CONTEXT, render_indexed, truncate_words
from l2m.memory.full import FUMemory
from l2m.runner import run_operations


def test_fumemory_renders_all_units_in_order():
    memory = FUMemory()
    for text in ["a b", "c", "d e f"]:
        run_without_llm(memory.store(text))
    context = run_without_llm(memory.recall("ignored")).context
    assert context == "[Memory Start]\n[0] a b\n[1] c\n[2] d e f\n[Memory End]"


def test_fumemory_truncation_keeps_the_head_by_default():
    memory = FUMemory(word_limit=4)
    for text in ["one two", "three four", "five six"]:
        run_without_llm(memory.store(text))
    context = run_without_llm(memory.recall("q")).context
    assert context == "[Memory Start]\n[0] one two\n[1]"  # newlines do not separate words
    assert len(context.split(" ")) == 4


def test_truncation_tail_and_reset():
    assert truncate_words("a b c d", 2, keep="tail") == "c d"
    memory = FUMemory()
    run_without_llm(memory.store("x"))
    memory.reset()
    assert run_without_llm(memory.recall("q")).context == EMPTY_CONTEXT == render_indexed([])


def scripted_agent(prompt: str) -> str:
    """Searches the title named in the question, then answers from memory."""
    if "Choose one of the following actions" not in prompt:
        return "I should look it up."
    if "capital and largest city" in prompt:
        return "Finish[Paris]"
    return "Search[Paris]"


def test_episode_runs_and_logs_every_step(record):
    wiki = LocalWiki.from_records([record])
    profile = get_profile("smoke")
    model = ScriptedChatModel(scripted_agent)
    (result,) = run_operations(
        [play_episode(record, HotpotQAEnv(wiki, max_steps=5), Agent.from_profile(profile), FUMemory())],
        {"agent": model},
    )
    assert result["reward"] == 1.0 and result["answer"] == "Paris" and result["steps"] == 2
    first, second = result["step_records"]
    assert first["action"] == "Search[Paris]" and first["next_observation"].startswith("Paris is")
    assert [s["stage"] for s in first["llm_calls"]] == ["think", "act"]
    # Everything the agent saw at step 2 came through memory: the observation of step 1 is in it.
    assert "Observation (Step 2): Paris is the capital" in second["context"]
    assert re.search(r"\[\d\] Thought \(Step 1\)", second["context"])
    assert result["llm_calls"] == 4


def test_lockstep_batches_across_episodes(record):
    wiki = LocalWiki.from_records([record])
    agent = Agent.from_profile(get_profile("smoke"))
    model = ScriptedChatModel(scripted_agent)
    done = []
    results = run_operations(
        (play_episode(record, HotpotQAEnv(wiki), agent, FUMemory()) for _ in range(5)),
        {"agent": model},
        max_live=3,
        on_done=lambda i, r: done.append(i),
    )
    assert len(results) == 5 and all(r["reward"] == 1.0 for r in results)
    assert max(model.batches) == 3 and sorted(done) == [0, 1, 2, 3, 4]
    # 5 episodes x 2 steps x 2 calls = 20 calls in far fewer batches
    assert model.calls == 20 and len(model.batches) < 20


def test_memoryless_agents_take_one_step(record):
    wiki = LocalWiki.from_records([record])
    for kind, calls in [("act_only", 1), ("cot_only", 2)]:
        model = ScriptedChatModel(lambda p: "Finish[Paris]")
        agent = Agent.from_profile(get_profile("smoke"), kind)
        (result,) = run_operations(
            [play_episode(record, HotpotQAEnv(wiki, max_steps=1), agent, None)], {"agent": model}
        )
        assert result["steps"] == 1 and result["reward"] == 1.0 and model.calls == calls
        assert "memory" not in result["step_records"][0]["llm_calls"][-1]["prompt"]


def test_react_agent_requires_memory(record):
    agent = Agent.from_profile(get_profile("smoke"))
    with pytest.raises(ValueError, match="needs a memory"):
        next(play_episode(record, HotpotQAEnv(LocalWiki({})), agent, None))


def test_run_without_llm_refuses_an_llm_request():
    def asks():
        yield LLMRequest("memory", "merge", [], None)

    with pytest.raises(RuntimeError, match="memory/merge"):
        run_without_llm(asks())


def test_initial_units_survive_reset():
    memory = FUMemory(initial_units=("gold A", "gold B"))
    run_without_llm(memory.store("new"))
    memory.reset()
    assert run_without_llm(memory.recall("q")).context == "[Memory Start]\n[0] gold A\n[1] gold B\n[Memory End]"


def test_episode_log_resumes_and_drops_a_torn_last_line(tmp_path):
    from l2m.episode_log import EpisodeLog

    path = tmp_path / "episodes.jsonl"
    log = EpisodeLog(path)
    log.append({"method": "FU", "question_id": "a", "seed": 0, "reward": 1.0})
    with pytest.raises(ValueError, match="already logged"):
        log.append({"method": "FU", "question_id": "a", "seed": 0, "reward": 0.0})
    with open(path, "a") as handle:
        handle.write('{"method": "FU", "question_id": "b", "se')  # killed mid-write
    again = EpisodeLog(path)
    assert ("FU", "a", 0) in again and ("FU", "b", 0) not in again
    assert path.read_text().count("\n") == 1 and path.read_text().endswith("\n")
    again.append({"method": "FU", "question_id": "b", "seed": 0, "reward": 0.0})
    assert len(EpisodeLog(path).rows) == 2


def test_unknown_method_is_refused():
    from l2m.methods import UnknownMethodError, get_method

    with pytest.raises(
        UnknownMethodError, match="unknown method 'Nope'; choose one of ActOnly, CoTOnly, FUMemory, LTMemory"
    ):
        get_method("Nope")


def test_unit_kinds_follow_the_store_order():
    from l2m.report import first_ranked_kinds, unit_kind

    # Stores: obs1 | thought1 act1 obs2 | thought2 act2 obs3 ...
    assert [unit_kind(i) for i in range(7)] == [
        "question",
        "thought",
        "action",
        "observation",
        "thought",
        "action",
        "observation",
    ]
    steps = [{"recall": {"indices": [0]}}, {"recall": {"indices": [3, 0]}}, {"recall": {"indices": [0, 3]}}]
    assert first_ranked_kinds([{"step_records": steps}]) == {
        "question": 0.5,
        "observation": 0.5,
        "thought": 0.0,
        "action": 0.0,
    }
