"""Episodes per minute of the lockstep runner against playing one episode at a time.

    python benchmarks/runner_throughput.py                    # FUMemory, 16 test_easy questions, cpu profile
    python benchmarks/runner_throughput.py --methods FUMemory LTMemory --questions 8 --dtype float32

Both paths play the same questions with the same models and greedy decoding, with no
generation cache: "lockstep" plays them all at once and sends every stage's calls as one
batch (micro-batches of the profile's llm_batch_size); "one at a time" plays them in turn with
batch size 1. The script checks that both give the same answers and rewards, and writes
benchmarks/results/runner_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import RESULTS, new_report, write_report
from l2m.config import get_profile
from l2m.models.llm import TransformersChatModel
from l2m.workspace import Workspace


def play(
    profile, method: str, questions: int, *, live: int, batch: int, dtype: str, adapter
) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as scratch:
        ws = Workspace(profile.replace(live_episodes=live, llm_batch_size=batch, dtype=dtype), run_dir=Path(scratch))
        ws.agent_adapter = adapter  # the profile's trained adapter, not a new one in the scratch folder
        ws.llm = TransformersChatModel(profile.llm, dtype=dtype, batch_size=batch)
        ws.agent_llm = (
            TransformersChatModel(profile.llm, dtype=dtype, batch_size=batch, adapters=[adapter]) if adapter else ws.llm
        )
        records = ws.test_questions("easy")[:questions]
        start = time.perf_counter()
        episodes = ws.run_method(method, records)
        return time.perf_counter() - start, episodes


def summary(seconds: float, episodes: list[dict]) -> dict:
    tokens = sum(e["prompt_tokens"] + e["completion_tokens"] for e in episodes)
    return {
        "seconds": round(seconds, 1),
        "episodes_per_minute": round(60 * len(episodes) / seconds, 2),
        "llm_tokens_per_second": round(tokens / seconds, 1),
        "llm_calls": sum(e["llm_calls"] for e in episodes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--methods", nargs="+", default=["FUMemory"])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS / "runner_throughput.json")
    args = parser.parse_args()

    profile = get_profile(args.profile)
    adapter = Workspace(profile).agent_adapter
    report = new_report("runner_throughput", args, profile=profile.name)
    for method in args.methods:
        one_s, one = play(profile, method, args.questions, live=1, batch=1, dtype=args.dtype, adapter=adapter)
        lock_s, lock = play(
            profile,
            method,
            args.questions,
            live=args.questions,
            batch=profile.llm_batch_size,
            dtype=args.dtype,
            adapter=adapter,
        )
        same = [(e["answer"], e["reward"]) for e in one] == [(e["answer"], e["reward"]) for e in lock]
        row = {
            "method": method,
            "one_at_a_time": summary(one_s, one),
            "lockstep": summary(lock_s, lock),
            "identical_results": same,
        }
        row["speedup"] = round(one_s / lock_s, 2)
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
