"""The README's results tables as Markdown, read from runs/<profile>/results.csv.

    python -m l2m.readme_tables --profile cpu                 # every table the file holds
    python -m l2m.readme_tables --profile cpu --table table3

Nothing is recomputed: each cell is a number a notebook recorded. Proportions carry their 95%
Wilson interval and every row its n; an accuracy sits beside the paper's EM with Qwen-2.5 (the
paper profile's model, l2m.paper_numbers) where the paper has that cell. Table 3 is notebook 06a's
timing pass (each method alone, uncached, on the hardest level), with each method's seconds per
trajectory relative to FUMemory's, ours and the paper's; the seeds table is the spread of EM over
the seeds notebook 06 ran; memory_quality_scripted is notebook 01a's: what each memory's last
context held under the scripted policy, and the EM the reader made of it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from l2m.config import PROFILES, get_profile
from l2m.methods import METHODS
from l2m.paper_numbers import paper_table1, paper_table2, paper_table3
from l2m.summary import seed_spread
from l2m.workspace import TEST_LEVELS

ACCURACY_TABLES = ("table1", "table2", "ablations")
MEMORY_QUALITY = "memory_quality_scripted"
TABLES = (*ACCURACY_TABLES, "table3", "seeds", MEMORY_QUALITY)
PAPER_LLM = "Qwen-2.5"


def load_results(path: Path) -> pd.DataFrame:
    """results.csv as a frame; a clear error when the notebooks have not written it yet."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no results file at {path}; run the notebooks (./reproduce.sh) first")
    return pd.read_csv(path, dtype={"seed": int})


def table_rows(results: pd.DataFrame, table: str, seed: int, policy: str = "agent") -> pd.DataFrame:
    """The `policy` rows of `table` under `seed`, indexed by (level, method) in the order of the
    test levels and of the method registry."""
    rows = results[(results["table"] == table) & (results["seed"] == seed) & (results["policy"] == policy)]
    if rows.empty:
        raise ValueError(f"results.csv has no rows of table {table!r} under seed {seed}")
    order = {name: i for i, name in enumerate([*TEST_LEVELS, *METHODS])}
    return rows.set_index(["level", "method"]).sort_index(key=lambda keys: keys.map(lambda k: order.get(k, len(order))))


def paper_em() -> pd.Series:
    """The paper's EM with PAPER_LLM, indexed by (level, method), from its Tables 1 and 2."""
    both = pd.concat([paper_table1(), paper_table2()])
    both = both[both["llm"] == PAPER_LLM].drop_duplicates(["level", "method"])
    return both.set_index(["level", "method"])["paper_em"]


def with_interval(rows: pd.DataFrame, name: str) -> pd.Series:
    """`name` and its 95% interval as text: "0.188 [0.089, 0.353]"."""
    return rows.apply(lambda r: f"{r[name]:.3f} [{r[f'{name}_low']:.3f}, {r[f'{name}_high']:.3f}]", axis=1)


def accuracy_table(results: pd.DataFrame, table: str, seed: int = 0) -> pd.DataFrame:
    """Table 1, Table 2 or the ablations: accuracy, how episodes ended and what the memory held,
    beside the paper's EM where it has the cell."""
    rows = table_rows(results, table, seed)
    shown = pd.DataFrame(
        {
            "n": rows["n"].astype(int),
            "EM [95%]": with_interval(rows, "em"),
            "F1": rows["f1"].map("{:.3f}".format),
            "answered": rows["answered"].map("{:.3f}".format),
            "answer in context [95%]": with_interval(rows, "answer_in_context"),
            "context words": rows["context_words"].round().astype(int),
            "mean steps": rows["mean_steps"].map("{:.2f}".format),
            "s / step": rows["sec_per_step"].map("{:.1f}".format),
        }
    )
    paper = paper_em().reindex(rows.index)
    if paper.notna().any():
        shown[f"paper EM ({PAPER_LLM})"] = paper.map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return shown


def time_table(results: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table 3: the timing pass's seconds per step and per trajectory and mean steps, each
    trajectory's seconds relative to FUMemory's, beside the paper's (a GPU server)."""
    rows = table_rows(results, "table3", seed)
    level = max(rows.index.get_level_values("level"), key=list(TEST_LEVELS).index)
    ours = rows.loc[level]
    theirs = paper_table3().reindex(ours.index)

    def relative(seconds: pd.Series) -> pd.Series:
        return seconds / seconds.get("FUMemory", float("nan"))

    shown = pd.DataFrame(
        {
            "n": ours["n"].astype(int),
            "mean steps": ours["mean_steps"].map("{:.2f}".format),
            "s / step": ours["sec_per_step"].map("{:.2f}".format),
            "s / trajectory": ours["sec_per_traj"].map("{:.2f}".format),
            "vs FUMemory": relative(ours["sec_per_traj"]).map("{:.2f}".format),
            "paper: mean steps": theirs["mean_steps"].map("{:.1f}".format),
            "paper: s / trajectory": theirs["sec_per_traj"].map("{:.2f}".format),
            "paper: vs FUMemory": relative(theirs["sec_per_traj"]).map("{:.2f}".format),
        }
    )
    return pd.concat({level: shown.replace("nan", "")}, names=["level"])


def seeds_table(results: pd.DataFrame, table: str = "seeds") -> pd.DataFrame:
    """EM of `table` under every seed it holds, then mean, sample standard deviation and range."""
    seeds = sorted(results.loc[results["table"] == table, "seed"].unique())
    if len(seeds) < 2:
        raise ValueError(f"results.csv holds table {table!r} under {len(seeds)} seed(s); a spread needs two or more")
    spread = seed_spread({s: table_rows(results, table, s) for s in seeds})
    shown = pd.DataFrame({"n": spread["n"].astype(int), "seeds": spread["seeds"]})
    for s in seeds:
        shown[f"EM seed {s}"] = spread[f"em seed {s}"].map("{:.3f}".format)
    shown["mean"] = spread["em_mean"].map("{:.3f}".format)
    shown["sd"] = spread["em_sd"].map("{:.3f}".format)
    shown["range"] = [f"{lo:.3f}-{hi:.3f}" for lo, hi in zip(spread["em_min"], spread["em_max"], strict=True)]
    return shown


def memory_quality_table(results: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Notebook 01a: what each memory's last context held when a script chose every action before
    the last (answer in context, supporting facts kept, words), and the reader's EM from it."""
    rows = table_rows(results, MEMORY_QUALITY, seed, policy="scripted")
    return pd.DataFrame(
        {
            "n": rows["n"].astype(int),
            "answer in context [95%]": with_interval(rows, "answer_in_context"),
            "supporting facts kept [95%]": with_interval(rows, "sf_coverage"),
            "context words": rows["context_words"].round().astype(int),
            "EM [95%]": with_interval(rows, "em"),
            "F1": rows["f1"].map("{:.3f}".format),
        }
    )


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of `frame`, its index as the first columns."""
    flat = frame.reset_index()
    lines = ["| " + " | ".join(map(str, flat.columns)) + " |", "|" + "---|" * len(flat.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in flat.itertuples(index=False)]
    return "\n".join(lines)


def render(results: pd.DataFrame, table: str, seed: int = 0) -> str:
    """One of TABLES as Markdown."""
    if table in ACCURACY_TABLES:
        return to_markdown(accuracy_table(results, table, seed))
    if table == "table3":
        return to_markdown(time_table(results, seed))
    if table == "seeds":
        return to_markdown(seeds_table(results))
    if table == MEMORY_QUALITY:
        return to_markdown(memory_quality_table(results, seed))
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2m.readme_tables", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), help="default: $L2M_PROFILE, else smoke")
    parser.add_argument("--table", choices=TABLES, help="default: every table results.csv holds")
    parser.add_argument("--seed", type=int, default=0, help="the seed of the single-seed tables (default 0)")
    args = parser.parse_args(argv)
    path = get_profile(args.profile).run_dir / "results.csv"
    try:
        results = load_results(path)
        tables = [args.table] if args.table else [t for t in TABLES if (results["table"] == t).any()]
        print(f"From {path}:\n\n" + "\n\n".join(f"**{t}**\n\n{render(results, t, args.seed)}" for t in tables))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
