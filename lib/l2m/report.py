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


def episode_table(result: dict, width: int = 160) -> pd.DataFrame:
    """One row per LLM call and environment step of an episode, texts shortened to `width`."""

    def short(text: str | None) -> str:
        text = " ".join((text or "").split())
        return text if len(text) <= width else text[: width - 3] + "..."

    rows = []
    for step in result["step_records"]:
        calls = {c["stage"]: c for c in step["llm_calls"]}
        rows.append(
            {
                "step": step["step"],
                "observation": short(step["observation"]),
                "memory context": short(step["context"]),
                "thought": short(step.get("thought")),
                "action": step["action"] or f"(invalid) {short(calls['act']['output'])}",
                "next observation": short(step["next_observation"]),
                "reward": step["reward"],
                **{f"{stage} s": round(c["seconds"], 2) for stage, c in calls.items()},
                **{
                    f"{stage} tokens in/out": f"{c['prompt_tokens']}/{c['completion_tokens']}"
                    for stage, c in calls.items()
                },
            }
        )
    return pd.DataFrame(rows).set_index("step")
