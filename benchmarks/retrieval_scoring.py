"""Milliseconds to rank N memory units with all 8 experts and the gate, on one core.

    python benchmarks/retrieval_scoring.py                    # the cpu profile's scorers, N = 100, 1,000, 10,000
    python benchmarks/retrieval_scoring.py --profile paper --sizes 100 1000

What is timed is the adaptive memory's ranking at a recall (`AdaptiveMemory._rank` without its log
record): the expert matrix (cosine, five recency terms, emotion and importance scorers), the gate,
the weighted sum and the stable argsort. Units are embedded, and their query-independent keys
computed, once when stored (`ScoreModel.unit_keys`), so both are given here; the time to compute
the keys of all N units is reported beside it ("keys_ms", paid once per unit over a memory's life).
Embeddings are random unit vectors of the encoder's size (the arithmetic does not depend on their
values); the scorers are the profile's pretrained ones. Each figure is the median of --repeats runs
after one warm-up, with torch limited to --threads threads.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from common import RESULTS, new_report, write_report
from l2m.config import get_profile
from l2m.retrieval.experts import normalised_ages
from l2m.retrieval.gate import ScoreModel, UnitKeys
from l2m.workspace import Workspace


@torch.no_grad()
def rank(model: ScoreModel, query: torch.Tensor, keys: UnitKeys) -> torch.Tensor:
    gates, experts = model.gates_and_experts(query, keys, normalised_ages(len(keys.gate)))
    return torch.argsort(-(gates * experts).sum(-1), stable=True)


def median_ms(work: Callable[[], object], repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def timings(model: ScoreModel, units: int, dim: int, repeats: int) -> dict:
    generator = torch.Generator().manual_seed(units)
    memories = torch.nn.functional.normalize(torch.randn(units, dim, generator=generator), dim=-1)
    query = torch.nn.functional.normalize(torch.randn(dim, generator=generator), dim=-1)
    with torch.no_grad():
        keys = model.unit_keys(memories)
        keys_ms = median_ms(lambda: model.unit_keys(memories), max(1, repeats // 4))
    return {"units": units, "median_ms": round(median_ms(lambda: rank(model, query, keys), repeats), 3), "keys_ms": round(keys_ms, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ws = Workspace(get_profile(args.profile))
    model, dim = ws.score_model(), ws.encoder.dim
    report = new_report("retrieval_scoring", args, encoder=ws.profile.encoder, scorers=ws.scorers_folder.name)
    print(f"{'units':>8} {'rank ms':>8} {'keys ms':>8}")
    for units in args.sizes:
        row = timings(model, units, dim, args.repeats)
        report["runs"].append(row)
        print(f"{units:>8} {row['median_ms']:>8.2f} {row['keys_ms']:>8.2f}")
    write_report(report, args.out or RESULTS / "retrieval_scoring.json")


if __name__ == "__main__":
    main()
