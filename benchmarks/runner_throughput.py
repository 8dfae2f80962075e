"""Episodes per minute of the lockstep runner against playing one episode at a time.

    python benchmarks/runner_throughput.py --methods Ours-def     # 16 test_easy questions, cpu profile
    python benchmarks/runner_throughput.py --methods FUMemory LTMemory --questions 8 --dtype float32

Three plays of the same questions with the same models, greedy decoding and no generation
cache:

* "one at a time": one episode after another, batch size 1, in `--reference-dtype` (fp32,
  the slow path the lockstep runner replaces);
* "lockstep, same dtype": every question at once, every stage's calls sent as one batch
  (micro-batches of the profile's llm_batch_size), in the reference dtype. Its answers and
  rewards must equal the one-at-a-time play: batching may not change results;
* "lockstep": the same in `--dtype` (auto: bf16 where this CPU measures it faster). Its
  speed-up over "one at a time" is the runner's figure; a different dtype may change the
  answers, which the report says but does not count against it.

Writes benchmarks/results/runner_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import RESULTS, new_report, write_report
from l2m.config import get_profile
from l2m.models import load_llm
from l2m.models.device import choose_device
from l2m.models.llm import TransformersChatModel
from l2m.workspace import Workspace


def play(
    profile, method: str, questions: int, *, live: int, batch: int, dtype: str, endpoint: str | None = None
) -> tuple[float, list[dict]]:
    """`questions` test_easy episodes of `method` in a scratch folder (no generation cache), with the
    profile's trained agent adapter and pretrained scorers; (seconds, episodes). With `endpoint`,
    every LLM call goes to that server (adapters served there), `live` requests in flight."""
    trained = Workspace(profile)
    settings = dict(
        live_episodes=live, endpoint_requests=live, llm_batch_size=batch, dtype=dtype, llm_endpoint=endpoint,
        test_questions=questions,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        ws = Workspace(profile.replace(**settings), run_dir=Path(scratch))
        adapter = ws.agent_adapter = trained.agent_adapter
        ws.scorers_folder = trained.scorers_folder
        if endpoint:
            ws.llm = load_llm(ws.profile)
            ws.agent_llm = load_llm(ws.profile, adapters=[adapter] if adapter else [])
        else:
            ws.llm = TransformersChatModel(profile.llm, dtype=dtype, batch_size=batch)
            ws.agent_llm = (
                TransformersChatModel(profile.llm, dtype=dtype, batch_size=batch, adapters=[adapter])
                if adapter
                else ws.llm
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


def outcomes(episodes: list[dict]) -> list[tuple]:
    return [(e["answer"], e["reward"]) for e in episodes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--methods", nargs="+", default=["Ours-def"])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--reference-dtype", default="float32")
    parser.add_argument("--out", type=Path, default=RESULTS / "runner_throughput.json")
    args = parser.parse_args()

    profile = get_profile(args.profile)
    report = new_report("runner_throughput", args, profile=profile.name)
    batched = dict(live=args.questions, batch=profile.llm_batch_size)
    for method in args.methods:
        one_s, one = play(profile, method, args.questions, live=1, batch=1, dtype=args.reference_dtype)
        same_s, same = play(profile, method, args.questions, dtype=args.reference_dtype, **batched)
        fast_s, fast = play(profile, method, args.questions, dtype=args.dtype, **batched)
        row = {
            "method": method,
            "dtype": str(choose_device(args.dtype).dtype).removeprefix("torch."),
            "one_at_a_time": summary(one_s, one),
            "lockstep_same_dtype": summary(same_s, same),
            "lockstep": summary(fast_s, fast),
            "identical_results_same_dtype": outcomes(one) == outcomes(same),
            "identical_results_lockstep": outcomes(one) == outcomes(fast),
            "speedup_same_dtype": round(one_s / same_s, 2),
            "speedup": round(one_s / fast_s, 2),
        }
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
