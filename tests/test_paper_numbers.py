"""The paper's numbers as transcribed: checked against the means PAPER.md derives from them."""

import pytest

from l2m.paper_numbers import TABLE1_METHODS, beside_paper, paper_table1, paper_table2, paper_table3


def test_table1_means_over_the_nine_cells_match_the_paper_notes():
    means = paper_table1().groupby("method")["paper_em"].mean().round(3)
    stated = (.254, .314, .273, .224, .193, .201, .224, .191, .269, .322, .280, .356)  # fmt: skip
    assert [means[m] for m in TABLE1_METHODS] == pytest.approx(stated, abs=1e-3)


def test_table2_means_and_its_columns_shared_with_table1():
    table2 = paper_table2()
    means = table2.groupby("method")["paper_em"].mean().round(3)
    stated = {"Ours-def": .322, "Ours-R": .333, "Ours-U/sft": .306, "Ours-U/dpo": .272, "Ours-S": .327, "Ours-off": .280, "Ours-on": .356}  # fmt: skip
    assert {m: means[m] for m in stated} == pytest.approx(stated, abs=1e-3)
    table1 = paper_table1().set_index(["level", "llm", "method"])["paper_em"]
    for row in table2[table2["method"].isin(["Ours-def", "Ours-off"])].itertuples():
        assert table1[(row.level, row.llm, row.method)] == row.paper_em


def test_table3_implies_the_mean_steps_of_the_paper_notes():
    steps = paper_table3()["mean_steps"]
    assert steps["FUMemory"] == 3.80 and steps["Ours-def"] == 2.70 and steps["Ours-on"] == 2.20


def test_our_rows_get_the_paper_cell_of_one_llm():
    import pandas as pd

    ours = pd.DataFrame(
        {"level": ["hard", "hard"], "method": ["Ours-on", "Ours-R/loss=paper"], "n": [113, 113],
         "em": [0.1, 0.2], "em_low": [0.05, 0.1], "em_high": [0.2, 0.3]}
    ).set_index(["level", "method"])  # fmt: skip
    joined = beside_paper(ours, paper_table1())
    assert joined.loc[("hard", "Ours-on"), "paper_em"] == 0.3186
    assert joined["paper_em"].isna().tolist() == [False, True]
