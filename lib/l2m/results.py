"""runs/<profile>/results.csv: every reported number of a profile in one file.

One row per (table, level, method, seed); `table` names what produced the row ("table1" for the
paper's Table 1 analogue, "memory_quality_scripted", "data:<file>" for a user's file...). A
notebook that recomputes a table replaces its rows and leaves every other row alone; the file is
rewritten whole under a temporary name, so an interrupted write never loses earlier results.
Floats are written with 6 significant digits, so that rerunning from the same episode logs
rewrites the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

KEY = ("table", "level", "method", "seed")
# The columns every row carries (those a summary lacks are left empty); intervals are 95%.
COLUMNS = (
    "n",
    "em", "em_low", "em_high",
    "f1", "f1_low", "f1_high",
    "answered", "answered_low", "answered_high",
    "mean_steps", "sec_per_step", "sec_per_traj", "llm_tokens",
    "answer_in_context", "answer_in_context_low", "answer_in_context_high",
    "sf_coverage", "sf_coverage_low", "sf_coverage_high",
    "context_words", "context_words_low", "context_words_high",
    "profile", "policy",
)  # fmt: skip


def result_rows(table: str, summary: pd.DataFrame, *, profile: str, seed: int, policy: str = "agent") -> pd.DataFrame:
    """The rows of `summary` (a Workspace.summary_table indexed by level and method) for results.csv."""
    if list(summary.index.names) != ["level", "method"]:
        raise ValueError(f"a results table is indexed by (level, method), not {summary.index.names}")
    rows = summary.reset_index().assign(table=table, seed=seed, profile=profile, policy=policy)
    return rows.reindex(columns=[*KEY, *COLUMNS])


def record_results(path: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Replace the rows of `path` that share a key with `rows`, add the others; returns the whole file."""
    path = Path(path)
    if rows.duplicated(list(KEY)).any():
        raise ValueError("the new rows repeat a (table, level, method, seed) key")
    if path.is_file():
        earlier = pd.read_csv(path, dtype={"seed": int})
        replaced = earlier.set_index(list(KEY)).index.isin(rows.set_index(list(KEY)).index)
        rows = pd.concat([earlier[~replaced], rows], ignore_index=True)
    # A file written before a column was added gets the current layout, the new column empty.
    rows = rows.reindex(columns=[*KEY, *COLUMNS]).sort_values(list(KEY), kind="stable", ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    rows.to_csv(staging, index=False, float_format="%.6g")
    staging.replace(path)
    return rows
