"""Evaluate any method on any HotpotQA-format file, writing the columns of results.csv.

    python -m l2m.evaluate --method Ours-def --profile cpu --data FILE --limit 50

The method is a baseline or an Ours variant (its trained artifacts are built on first use, or
reused from runs/<profile>/artifacts/); names match case-insensitively. The file's paragraphs
join the local wiki, so its questions can be answered by search. Episodes are logged and
resumable like every run; the rows (one per level present in the file) go to
runs/<profile>/results.csv under the table "data:<file name>" and are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from l2m.config import PROFILES, get_profile
from l2m.data.hotpotqa import HotpotRecord, load_hotpotqa
from l2m.episode import POLICIES
from l2m.methods import METHODS, UnknownMethodError
from l2m.models import EndpointError
from l2m.workspace import Workspace

SHOWN = ["n", "em", "em_low", "em_high", "f1", "answered", "mean_steps", "sec_per_traj", "answer_in_context", "sf_coverage", "context_words"]


def method_name(name: str) -> str:
    """The registered method called `name`, ignoring case ("ours-def" is "Ours-def")."""
    matches = [m for m in METHODS if m.lower() == name.lower()]
    if not matches:
        raise UnknownMethodError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return matches[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m l2m.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", required=True, help=f"one of: {', '.join(METHODS)}")
    parser.add_argument("--data", required=True, type=Path, help="a HotpotQA-format json file (a list of records)")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="default: $L2M_PROFILE, else smoke")
    parser.add_argument("--limit", type=int, help="the first N records of the file only")
    parser.add_argument("--seed", type=int, help="default: the profile's")
    parser.add_argument("--policy", choices=POLICIES, default="agent", help="scripted: the analysis policy of notebook 01a")
    return parser.parse_args(argv)


def load_file(data: Path, limit: int | None = None) -> list[HotpotRecord]:
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    return load_hotpotqa(data)[:limit]


def evaluate_on(ws: Workspace, method: str, records: list[HotpotRecord], table: str, policy: str = "agent") -> pd.DataFrame:
    """Play `method` on `records` in `ws` and record one results row per level under `table`."""
    name = method_name(method)
    episodes = ws.run_method(name, records, policy)
    levels = dict.fromkeys(r.level for r in records)
    runs = {(level, name): [e for e, r in zip(episodes, records) if r.level == level] for level in levels}
    summary = ws.summary_table(runs, ["level", "method"])
    ws.record_results(table, summary, policy)
    return summary


def evaluate(method: str, data: Path, *, profile: str | None = None, limit: int | None = None,
             seed: int | None = None, policy: str = "agent") -> pd.DataFrame:
    """The results rows of `method` on the records of `data` (also written to results.csv)."""
    method_name(method)  # an unknown method fails before anything loads
    records = load_file(data, limit)
    p = get_profile(profile)
    ws = Workspace(p if seed is None else p.replace(seed=seed), extra_records=tuple(records))
    return evaluate_on(ws, method, records, f"data:{Path(data).name}", policy)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        table = evaluate(args.method, args.data, profile=args.profile, limit=args.limit, seed=args.seed, policy=args.policy)
    except (ValueError, FileNotFoundError, EndpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table[SHOWN].round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
