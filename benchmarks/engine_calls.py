"""Where an engine's time goes: batches of the project's own calls, in-process against vLLM.

    python benchmarks/engine_calls.py                  # 32 think and 32 act prompts, bf16 where it pays

The think and act prompts of the committed cpu run's Ours-def log (l2m.models.agreement), each
set sent as one batch of 32: to the in-process engine (micro-batches of 16) and to a vLLM server
started for the run (32 requests in flight), with the base model and with the agent adapter
(a LoRA on the server), and the act calls with and without the action constraint. One warm-up
batch each first. Wall seconds and generated tokens per second.

Writes benchmarks/results/engine_calls.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import RESULTS, new_report, write_report
from l2m.actions import ACTION_CONSTRAINT
from l2m.calls import user_message
from l2m.config import REPO_ROOT, get_profile
from l2m.models import load_llm
from l2m.models.agreement import project_prompts
from l2m.models.device import choose_device
from l2m.models.llm import Sampling, TransformersChatModel
from l2m.serve import ServerSettings, VLLMServer, free_port

PROMPT_LOG = REPO_ROOT / "runs" / "cpu" / "episodes" / "0252217f50b3" / "Ours-def.jsonl"
AGENT_ADAPTER = REPO_ROOT / "runs" / "cpu" / "artifacts" / "agent_adapter-c55458d0d1c9"


def timed(model, prompts: list[str], sampling: Sampling) -> dict:
    start = time.perf_counter()
    generations = model.generate([user_message(p) for p in prompts], sampling)
    seconds = time.perf_counter() - start
    generated = sum(g.completion_tokens for g in generations)
    return {
        "seconds": round(seconds, 1),
        "generated_tokens": generated,
        "generated_per_second": round(generated / seconds, 1),
    }


def engine_rows(models: dict, think: list[str], act: list[str]) -> dict:
    """The batches of one engine: {model name: base or agent adapter} -> timings per call kind."""
    constrained, free = Sampling(32, constraint=ACTION_CONSTRAINT), Sampling(32)
    rows = {}
    for name, model in models.items():
        timed(model, think[:4], Sampling(64))  # warm-up
        rows[f"{name}, think"] = timed(model, think, Sampling(64))
        rows[f"{name}, act constrained"] = timed(model, act, constrained)
        rows[f"{name}, act free"] = timed(model, act, free)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS / "engine_calls.json")
    args = parser.parse_args()

    dtype = choose_device(args.dtype).dtype_name
    profile = get_profile("cpu").replace(dtype=dtype, endpoint_requests=args.prompts)
    prompts = project_prompts(PROMPT_LOG, profile, args.prompts)
    think = [p.prompt for p in prompts if p.stage == "think"]
    act = [p.prompt for p in prompts if p.stage == "act"]
    report = new_report("engine_calls", args, dtype=dtype)
    local = {
        "base": TransformersChatModel(profile.llm, dtype=dtype, batch_size=16),
        "agent adapter": TransformersChatModel(profile.llm, dtype=dtype, batch_size=16, adapters=[AGENT_ADAPTER]),
    }
    report["runs"].append({"engine": "in-process", **engine_rows(local, think, act)})
    with VLLMServer(profile, ServerSettings(port=free_port())) as server:
        served = profile.replace(llm_endpoint=server.url)
        remote = {"base": load_llm(served), "agent adapter": load_llm(served, adapters=[AGENT_ADAPTER])}
        report["runs"].append({"engine": "vllm", **engine_rows(remote, think, act)})
    for row in report["runs"]:
        print(json.dumps(row), flush=True)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
