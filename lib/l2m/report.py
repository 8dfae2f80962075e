"""Tables for notebooks: data statistics and one episode shown step by step."""

from __future__ import annotations

import pandas as pd

from l2m.data.hotpotqa import HotpotRecord


def split_statistics(splits: dict[str, list[HotpotRecord]]) -> pd.DataFrame:
    rows = []
    for name, records in splits.items():
        rows.append(
            {
                "split": name,
                "n": len(records),
                **{f"level_{lv}": sum(r.level == lv for r in records) for lv in ("easy", "medium", "hard")},
                **{f"type_{t}": sum(r.type == t for r in records) for t in ("bridge", "comparison")},
                "question_words": round(sum(len(r.question.split()) for r in records) / len(records), 1),
                "paragraphs": round(sum(len(r.context) for r in records) / len(records), 2),
                "supporting_facts": round(sum(len(r.supporting_facts) for r in records) / len(records), 2),
            }
        )
    return pd.DataFrame(rows).set_index("split")


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def episode_table(result: dict, width: int = 160) -> pd.DataFrame:
    """One row per LLM call and environment step of an episode, texts shortened to `width`."""
    rows = []
    for step in result["step_records"]:
        calls = {c["stage"]: c for c in step["llm_calls"]}
        rows.append(
            {
                "step": step["step"],
                "observation": _short(step["observation"], width),
                "memory context": _short(step["context"], width),
                "thought": _short(step.get("thought"), width),
                "action": step["action"] or f"(invalid) {_short(calls['act']['output'], width)}",
                "next observation": _short(step["next_observation"], width),
                "reward": step["reward"],
                **{f"{stage} s": round(c["seconds"], 2) for stage, c in calls.items()},
                **{
                    f"{stage} tokens in/out": f"{c['prompt_tokens']}/{c['completion_tokens']}"
                    for stage, c in calls.items()
                },
            }
        )
    return pd.DataFrame(rows).set_index("step")


def _calls(record: dict) -> str:
    calls = record.get("llm_calls", [])
    return ", ".join(f"{c['stage']} {c['prompt_tokens']}/{c['completion_tokens']} tok" for c in calls)


def operations_table(episode: dict, width: int = 110) -> pd.DataFrame:
    """Every operation of an episode in order: stores, the recall, think, act, the environment."""
    rows = []
    for step in episode["step_records"]:
        k = step["step"]
        stores = step["store"]
        calls = {c["stage"]: c for c in step["llm_calls"]}
        rows += [
            {
                "step": k,
                "operation": "store",
                "input": _short(stores[0]["text"], width),
                "output": "",
                "LLM calls": _calls(stores[0]),
            }
            if stores
            else None,
            {
                "step": k,
                "operation": "recall",
                "input": _short(step["recall"].get("query"), width),
                "output": _short(step["context"], width),
                "LLM calls": _calls(step["recall"]),
            },
            *[
                {
                    "step": k,
                    "operation": stage,
                    "input": "",
                    "output": _short(c["output"], width),
                    "LLM calls": _calls({"llm_calls": [c]}),
                }
                for stage, c in calls.items()
            ],
            *[
                {
                    "step": k,
                    "operation": "store",
                    "input": _short(r["text"], width),
                    "output": "",
                    "LLM calls": _calls(r),
                }
                for r in stores[1:]
            ],
            {
                "step": k,
                "operation": "environment",
                "input": step["action"] or "(invalid action)",
                "output": _short(step["next_observation"], width),
                "LLM calls": f"reward {step['reward']}",
            },
        ]
    return pd.DataFrame([r for r in rows if r is not None])


UNIT_KINDS = ("question", "observation", "thought", "action")


def unit_kind(index: int) -> str:
    """What the i-th stored unit of a baseline episode holds (one observation, thought, action per step)."""
    return "question" if index == 0 else UNIT_KINDS[1 + (index - 3) % 3]


def first_ranked_kinds(episodes: list[dict]) -> dict[str, float]:
    """Share of recalls from step 2 on whose top-ranked unit is the question, a later observation, a thought or an action.

    For ranking memories whose recall record lists the retrieved `indices` (LTMemory and its
    summarised variant), in the order the runner stored units (PAPER §1.2).
    """
    kinds = [
        unit_kind(s["recall"]["indices"][0])
        for e in episodes
        for s in e["step_records"][1:]
        if s["recall"].get("indices")
    ]
    return {kind: kinds.count(kind) / len(kinds) if kinds else float("nan") for kind in UNIT_KINDS}
