"""The cost model: per method and stage, per agent step, from the logged calls."""

import pytest

from l2m.cost import cost_table


def call(stage: str, prompt: int, completion: int, seconds: float) -> dict:
    return {"stage": stage, "prompt_tokens": prompt, "completion_tokens": completion, "seconds": seconds}


def step(agent: list[dict], recall: list[dict] = (), stores: list[list[dict]] = ()) -> dict:
    return {"llm_calls": list(agent), "recall": {"llm_calls": list(recall)}, "store": [{"llm_calls": list(s)} for s in stores]}


def test_costs_are_per_agent_step_by_stage_with_memory_calls_from_recall_and_store():
    episodes = [
        {"steps": 2, "step_records": [
            step([call("think", 100, 10, 1.0), call("act", 120, 5, 0.5)], recall=[call("merge", 50, 20, 2.0)]),
            step([call("think", 100, 10, 1.0), call("act", 120, 5, 0.5)], stores=[[call("summary", 40, 8, 1.0)], []]),
        ]},
        {"steps": 1, "step_records": [step([call("act", 80, 5, 0.5)], recall=[call("merge", 50, 20, 2.0)] * 2)]},
    ]
    table = cost_table({"M": episodes})
    assert table.loc[("M", "think"), "calls_per_step"] == pytest.approx(2 / 3)
    assert table.loc[("M", "act"), "prompt_tokens_per_step"] == pytest.approx(320 / 3)
    assert table.loc[("M", "merge"), "calls_per_step"] == pytest.approx(1.0)
    assert table.loc[("M", "merge"), "completion_tokens_per_step"] == pytest.approx(20.0)
    assert table.loc[("M", "summary"), "seconds_per_step"] == pytest.approx(1 / 3)
    # Shares of the method's LLM seconds: merges 6 of 10.5.
    assert table.loc[("M", "merge"), "seconds_share"] == pytest.approx(6 / 10.5)
    assert table["seconds_share"].sum() == pytest.approx(1.0)
