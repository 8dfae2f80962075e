"""The paper's reported numbers (PAPER.md §8.2-8.4), to set beside ours.

Table 1 and Table 2 are exact-match accuracies per (level, inference LLM); Table 3 is seconds per
step and per trajectory, presumably on hard with Qwen-2.5 (the paper does not say). The paper
reports single runs, no intervals; its test sets have 107 (easy), 109 (medium) and 113 (hard)
questions, so one question is about 0.9 points and the 95% binomial half-width near 0.3 is about
8.5 points.
"""

from __future__ import annotations

import pandas as pd

TABLE1_METHODS = (
    "ActOnly", "CoTOnly", "FUMemory", "LTMemory", "STMemory", "GAMemory", "MBMemory", "SCMemory", "MTMemory",
    "Ours-def", "Ours-off", "Ours-on",
)  # fmt: skip
# EM per level and LLM, in the order of TABLE1_METHODS.
_TABLE1 = {
    ("hard", "GPT-4o-mini"): (.2832, .3274, .3451, .3274, .3540, .3186, .3009, .3363, .3628, .3274, .3186, .3274),
    ("hard", "Qwen-2.5"): (.1504, .2389, .2920, .2212, .1504, .2124, .2301, .1416, .2566, .2832, .2832, .3186),
    ("hard", "Llama-3.1"): (.1770, .2566, .1239, .0619, .0177, .0354, .1062, .0619, .1504, .2478, .1416, .2920),
    ("medium", "GPT-4o-mini"): (.3303, .4220, .4862, .4037, .3945, .3853, .3853, .3486, .3853, .4220, .4037, .4404),
    ("medium", "Qwen-2.5"): (.2202, .2844, .2844, .2385, .1651, .1468, .2385, .1009, .2752, .3119, .3486, .4037),
    ("medium", "Llama-3.1"): (.1560, .2294, .1284, .0642, .0275, .0642, .0642, .0826, .1743, .2752, .1468, .3119),
    ("easy", "GPT-4o-mini"): (.3738, .4019, .3645, .3832, .3832, .3738, .3364, .3645, .3271, .3832, .3738, .3738),
    ("easy", "Qwen-2.5"): (.2991, .3364, .2710, .2523, .2056, .1776, .2523, .2056, .3364, .3925, .3364, .4112),
    ("easy", "Llama-3.1"): (.2991, .3271, .1589, .0654, .0374, .0935, .1028, .0748, .1495, .2523, .1682, .3271),
}  # fmt: skip

TABLE2_METHODS = ("Ours-def", "Ours-R", "Ours-U/sft", "Ours-U/dpo", "Ours-S", "Ours-off", "Ours-on")
_TABLE2 = {
    ("hard", "GPT-4o-mini"): (.3274, .3451, .3097, .3186, .2920, .3186, .3274),
    ("hard", "Qwen-2.5"): (.2832, .3186, .3009, .3186, .2832, .2832, .3186),
    ("hard", "Llama-3.1"): (.2478, .2301, .2478, .1593, .2566, .1416, .2920),
    ("medium", "GPT-4o-mini"): (.4220, .4587, .4220, .4312, .4495, .4037, .4404),
    ("medium", "Qwen-2.5"): (.3119, .3303, .3211, .2661, .3853, .3486, .4037),
    ("medium", "Llama-3.1"): (.2752, .2385, .2385, .0917, .2844, .1468, .3119),
    ("easy", "GPT-4o-mini"): (.3832, .3925, .3645, .3551, .3645, .3738, .3738),
    ("easy", "Qwen-2.5"): (.3925, .4112, .3271, .3458, .3645, .3364, .4112),
    ("easy", "Llama-3.1"): (.2523, .2710, .2243, .1589, .2617, .1682, .3271),
}  # fmt: skip

# Seconds per step and per trajectory, in the order of TABLE1_METHODS.
_TABLE3 = {
    "sec_per_step": (0.08, 2.80, 11.33, 9.68, 11.64, 8.83, 8.38, 7.14, 107.34, 14.98, 13.03, 11.74),
    "sec_per_traj": (0.08, 2.80, 43.05, 32.91, 54.73, 39.72, 35.21, 29.99, 472.31, 40.45, 33.88, 25.83),
}


def _long(cells: dict[tuple[str, str], tuple[float, ...]], methods: tuple[str, ...]) -> pd.DataFrame:
    rows = [
        {"level": level, "llm": llm, "method": method, "paper_em": em}
        for (level, llm), values in cells.items()
        for method, em in zip(methods, values, strict=True)
    ]
    return pd.DataFrame(rows)


def paper_table1() -> pd.DataFrame:
    """Table 1 in long form: level, llm, method, paper_em."""
    return _long(_TABLE1, TABLE1_METHODS)


def paper_table2() -> pd.DataFrame:
    """Table 2 in long form: level, llm, method, paper_em."""
    return _long(_TABLE2, TABLE2_METHODS)


def paper_table3() -> pd.DataFrame:
    """Table 3 indexed by method: seconds per step and per trajectory, and the implied mean steps."""
    table = pd.DataFrame(_TABLE3, index=pd.Index(TABLE1_METHODS, name="method"))
    table["mean_steps"] = (table["sec_per_traj"] / table["sec_per_step"]).round(2)
    return table


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame, llm: str = "Qwen-2.5") -> pd.DataFrame:
    """Our summary (indexed by level and method, with em and its interval) joined with the paper's
    EM for one inference LLM (Qwen-2.5 by default, the paper profile's model): one row per
    (level, method) we measured, with paper_em (NaN where the paper has no such cell)."""
    theirs = paper[paper["llm"] == llm].set_index(["level", "method"])["paper_em"]
    return ours[["n", "em", "em_low", "em_high"]].join(theirs, how="left")
