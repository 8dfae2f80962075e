"""Episodes per minute of the in-process engine (lockstep) against a vLLM server (requests in flight).

    python benchmarks/engine_throughput.py                       # Ours-def and FUMemory, 64 easy questions
    python benchmarks/engine_throughput.py --questions 16 --dtype float32

For each method, the same questions are played twice with the same models, adapters, dtype and
greedy decoding, without a generation cache: by the in-process transformers engine in lockstep
(micro-batches of the profile's llm_batch_size, `--live` episodes at once), and by a vLLM server
that l2m.serve starts on loopback for the run, with `--live` requests in flight. The ratio of
their episodes per minute is the figure; how many episodes end with the same answer says how far
the two engines' numerics part (they agree exactly on fp32 prompts, tests/test_vllm.py).
The server's environment is this process's: VLLM_CPU_NUM_OF_RESERVED_CPU=0 lets vLLM compute on
every core instead of leaving one to its front end.

Writes benchmarks/results/engine_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from common import RESULTS, new_report, write_report
from l2m.config import get_profile
from l2m.models.device import choose_device
from l2m.serve import ServerSettings, VLLMServer, free_port
from runner_throughput import outcomes, play, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--methods", nargs="+", default=["Ours-def", "FUMemory"])
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument(
        "--live", type=int, default=64, help="episodes at once (in-process) and requests in flight (vLLM)"
    )
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS / "engine_throughput.json")
    args = parser.parse_args()

    profile = get_profile(args.profile)
    dtype = choose_device(args.dtype).dtype_name
    reserved = os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "vLLM's default")
    report = new_report("engine_throughput", args, profile=profile.name, dtype=dtype, vllm_reserved_cpus=reserved)
    batched = dict(live=args.live, batch=profile.llm_batch_size, dtype=dtype)
    with VLLMServer(profile.replace(dtype=dtype), ServerSettings(port=free_port())) as server:
        for method in args.methods:
            local_s, local = play(profile, method, args.questions, **batched)
            vllm_s, served = play(profile, method, args.questions, endpoint=server.url, **batched)
            row = {
                "method": method,
                "in_process_lockstep": summary(local_s, local),
                "vllm_in_flight": summary(vllm_s, served),
                "speedup": round(local_s / vllm_s, 2),
                "same_answers": sum(a == b for a, b in zip(outcomes(local), outcomes(served))),
                "episodes": len(local),
            }
            report["runs"].append(row)
            print(json.dumps(row), flush=True)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
