"""The README's Markdown tables, read back from results.csv: order, intervals, the paper's cells."""

import pandas as pd
import pytest

from l2m.readme_tables import (
    accuracy_table,
    load_results,
    main,
    memory_quality_table,
    render,
    seeds_table,
    time_table,
    to_markdown,
)
from l2m.results import record_results, result_rows


def summary(cells: dict[tuple[str, str], tuple[float, float]]) -> pd.DataFrame:
    """A summary_table of (level, method) -> (em, sec_per_traj), every other column a fixed value."""
    rows = [
        {"level": level, "method": method, "n": 32, "em": em, "em_low": em / 2, "em_high": (1 + em) / 2,
         "f1": em, "answered": 1.0, "answer_in_context": 0.5, "answer_in_context_low": 0.25,
         "answer_in_context_high": 0.75, "sf_coverage": 0.6, "sf_coverage_low": 0.4, "sf_coverage_high": 0.8,
         "context_words": 99.6, "mean_steps": 2.0,
         "sec_per_step": seconds / 2, "sec_per_traj": seconds}
        for (level, method), (em, seconds) in cells.items()
    ]  # fmt: skip
    return pd.DataFrame(rows).set_index(["level", "method"])


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "results.csv"
    table1 = {
        ("hard", "MGMemory"): (0.25, 6.0),
        ("hard", "FUMemory"): (0.5, 3.0),
        ("easy", "Ours-def"): (0.0, 1.0),
        ("medium", "FUMemory"): (0.125, 3.0),
    }
    record_results(path, result_rows("table1", summary(table1), profile="cpu", seed=0))
    # The timing pass (notebook 06a) times each method alone: other seconds than Table 1's pool.
    table3 = {("hard", "MGMemory"): (0.25, 9.0), ("hard", "FUMemory"): (0.5, 3.0)}
    record_results(path, result_rows("table3", summary(table3), profile="cpu", seed=0))
    for seed, em in [(0, 0.25), (1, 0.5), (2, 0.75)]:
        seeds = summary({("easy", "Ours-def"): (em, 1.0)})
        record_results(path, result_rows("seeds", seeds, profile="cpu", seed=seed))
    # Notebook 01a's scripted runs: rows of another policy, which the agent tables leave out.
    scripted = summary({("easy", "FUMemory"): (0.125, 2.0), ("easy", "Ours-def"): (0.25, 2.0)})
    record_results(path, result_rows("memory_quality_scripted", scripted, profile="cpu", seed=0, policy="scripted"))
    return load_results(path)


def test_rows_follow_the_levels_then_the_method_registry_with_intervals_and_the_papers_cells(results):
    table = accuracy_table(results, "table1")
    assert list(table.index) == [
        ("easy", "Ours-def"),
        ("medium", "FUMemory"),
        ("hard", "FUMemory"),
        ("hard", "MGMemory"),
    ]
    assert table.loc[("hard", "FUMemory"), "EM [95%]"] == "0.500 [0.250, 0.750]"
    assert table.loc[("hard", "FUMemory"), "context words"] == 100
    # The paper's Table 1, Qwen-2.5: FUMemory on hard 0.2920; it never ran MGMemory.
    assert table.loc[("hard", "FUMemory"), "paper EM (Qwen-2.5)"] == "0.292"
    assert table.loc[("hard", "MGMemory"), "paper EM (Qwen-2.5)"] == ""


def test_table3_is_the_timing_pass_relative_to_fumemory_beside_the_papers(results):
    table = time_table(results)
    assert list(table.index) == [("hard", "FUMemory"), ("hard", "MGMemory")]
    assert table.loc[("hard", "MGMemory"), "s / trajectory"] == "9.00"
    assert table.loc[("hard", "MGMemory"), "vs FUMemory"] == "3.00"
    assert table.loc[("hard", "FUMemory"), "paper: s / trajectory"] == "43.05"
    assert table.loc[("hard", "MGMemory"), "paper: vs FUMemory"] == ""


def test_the_seed_table_gives_each_seed_then_mean_sd_and_range(results):
    row = seeds_table(results).loc[("easy", "Ours-def")]
    assert [row["EM seed 0"], row["EM seed 1"], row["EM seed 2"]] == ["0.250", "0.500", "0.750"]
    assert (row["seeds"], row["mean"], row["sd"], row["range"]) == (3, "0.500", "0.250", "0.250-0.750")


def test_the_memory_quality_table_reads_the_scripted_rows_with_their_intervals(results):
    table = memory_quality_table(results)
    assert list(table.index) == [("easy", "FUMemory"), ("easy", "Ours-def")]
    row = table.loc[("easy", "Ours-def")]
    assert (row["EM [95%]"], row["supporting facts kept [95%]"]) == ("0.250 [0.125, 0.625]", "0.600 [0.400, 0.800]")
    with pytest.raises(ValueError, match="no rows of table 'memory_quality_scripted' under seed 1"):
        memory_quality_table(results, seed=1)


def test_markdown_has_a_header_a_rule_and_one_line_per_row(results):
    lines = to_markdown(accuracy_table(results, "table1")).splitlines()
    assert lines[0].startswith("| level | method | n | EM [95%] |") and lines[1] == "|" + "---|" * 11
    assert len(lines) == 2 + 4 and lines[2].startswith("| easy | Ours-def | 32 | 0.000 [0.000, 0.500] |")


def test_a_table_the_file_lacks_is_a_clear_error(results, tmp_path, capsys):
    with pytest.raises(ValueError, match="no rows of table 'table2' under seed 0"):
        render(results, "table2")
    with pytest.raises(ValueError, match="unknown table"):
        render(results, "table9")
    one_seed = results[results["seed"] == 0]
    with pytest.raises(ValueError, match="a spread needs two or more"):
        seeds_table(one_seed)
    with pytest.raises(FileNotFoundError, match="run the notebooks"):
        load_results(tmp_path / "missing.csv")


def test_the_command_line_prints_the_tables_or_fails_with_exit_code_2(results, monkeypatch, tmp_path, capsys):
    import l2m.config

    monkeypatch.setattr(l2m.config, "RUNS_DIR", tmp_path / "runs")
    assert main(["--profile", "smoke"]) == 2
    assert "no results file" in capsys.readouterr().err
    (tmp_path / "runs" / "smoke").mkdir(parents=True)
    results.to_csv(tmp_path / "runs" / "smoke" / "results.csv", index=False)
    assert main(["--profile", "smoke"]) == 0
    printed = capsys.readouterr().out
    assert [line for line in printed.splitlines() if line.startswith("**")] == [
        "**table1**",
        "**table3**",
        "**seeds**",
        "**memory_quality_scripted**",
    ]
