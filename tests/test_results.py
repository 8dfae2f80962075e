"""results.csv: rows replaced by key, others kept, bytes stable; the evaluate entry point."""

import json

import pandas as pd
import pytest

from conftest import HashingEncoder, ScriptedChatModel, raw_record
from l2m.config import get_profile
from l2m.evaluate import evaluate_on, load_file, main, method_name
from l2m.methods import UnknownMethodError
from l2m.results import COLUMNS, KEY, record_results, result_rows
from l2m.workspace import Workspace


def summary(methods: dict[str, float], level: str = "hard") -> pd.DataFrame:
    rows = [{"level": level, "method": m, "n": 10, "em": em, "em_low": 0.0, "em_high": 1.0} for m, em in methods.items()]
    return pd.DataFrame(rows).set_index(["level", "method"])


def rows(table: str, methods: dict[str, float], seed: int = 0, level: str = "hard") -> pd.DataFrame:
    return result_rows(table, summary(methods, level), profile="cpu", seed=seed)


def test_a_table_replaces_its_own_rows_and_keeps_every_other(tmp_path):
    path = tmp_path / "results.csv"
    record_results(path, rows("table1", {"FUMemory": 0.1, "LTMemory": 0.2}))
    record_results(path, rows("table2", {"Ours-R": 0.3}))
    record_results(path, rows("table1", {"FUMemory": 0.1}, seed=1))
    record_results(path, rows("table1", {"LTMemory": 0.25}))
    written = pd.read_csv(path)
    assert list(written.columns) == [*KEY, *COLUMNS]
    assert written[["table", "method", "seed", "em"]].values.tolist() == [
        ["table1", "FUMemory", 0, 0.1],
        ["table1", "FUMemory", 1, 0.1],
        ["table1", "LTMemory", 0, 0.25],
        ["table2", "Ours-R", 0, 0.3],
    ]
    assert (written["profile"] == "cpu").all() and written["f1"].isna().all()


def test_rewriting_the_same_rows_writes_the_same_bytes(tmp_path):
    path = tmp_path / "results.csv"
    record_results(path, rows("table1", {"FUMemory": 1 / 3, "LTMemory": 2 / 3}))
    before = path.read_bytes()
    record_results(path, rows("table1", {"LTMemory": 2 / 3}))
    assert path.read_bytes() == before
    assert b"0.333333" in before and b"0.3333333" not in before


def test_a_file_in_an_older_layout_is_rewritten_in_the_current_one(tmp_path):
    path = tmp_path / "results.csv"
    older = rows("table2", {"Ours-R": 0.3}).drop(columns=["answered", "answered_low", "answered_high"])
    older[[*reversed(older.columns)]].to_csv(path, index=False)
    record_results(path, rows("table1", {"FUMemory": 0.1}))
    written = pd.read_csv(path)
    assert list(written.columns) == [*KEY, *COLUMNS]
    assert written[["table", "method", "em"]].values.tolist() == [["table1", "FUMemory", 0.1], ["table2", "Ours-R", 0.3]]
    assert written["answered"].isna().all()


def test_bad_rows_are_refused_and_the_file_is_left_alone(tmp_path):
    path = tmp_path / "results.csv"
    record_results(path, rows("table1", {"FUMemory": 0.1}))
    before = path.read_bytes()
    duplicated = pd.concat([rows("table1", {"LTMemory": 0.2})] * 2)
    with pytest.raises(ValueError, match="repeat"):
        record_results(path, duplicated)
    with pytest.raises(ValueError, match="indexed by"):
        result_rows("table1", summary({"FUMemory": 0.1}).reset_index().set_index("method"), profile="cpu", seed=0)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp"))


def test_method_names_match_ignoring_case():
    assert method_name("ours-def") == "Ours-def" and method_name("FUMEMORY") == "FUMemory"
    with pytest.raises(UnknownMethodError, match="choose one of"):
        method_name("ours-everything")


def user_file(tmp_path):
    """Two records that ship nowhere, with pages of their own, at two levels."""
    records = [
        raw_record(
            _id="user-1",
            question="Where was the Zorblax festival founded?",
            answer="Quimper",
            level="hard",
            supporting_facts=[["Zorblax festival", 0]],
            context=[["Zorblax festival", ["The Zorblax festival was founded in Quimper."]]],
        ),
        raw_record(_id="user-2", level="easy"),
    ]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(records))
    return path


def agent(prompt: str) -> str:
    if "Search[entity]" not in prompt:
        return "I should search."
    return "Finish[Quimper]" if "Observation (Step 2)" in prompt else "Search[Zorblax festival]"


def test_evaluate_plays_a_users_file_with_its_pages_and_writes_one_row_per_level(tmp_path):
    records = load_file(user_file(tmp_path))
    ws = Workspace(get_profile("smoke"), run_dir=tmp_path / "run", extra_records=tuple(records))
    ws.encoder, ws.llm, ws.agent_llm, ws.agent_adapter = HashingEncoder(), ScriptedChatModel(lambda p: ""), ScriptedChatModel(agent), None
    table = evaluate_on(ws, "fumemory", records, "data:mine.json")
    assert list(table.index) == [("hard", "FUMemory"), ("easy", "FUMemory")]
    # The user's page was found by search, so the hard record is answered from memory.
    assert table.loc[("hard", "FUMemory"), "em"] == 1.0
    assert table.loc[("hard", "FUMemory"), "answer_in_context"] == 1.0
    written = pd.read_csv(ws.results_path)
    assert written[["table", "level", "method", "n"]].values.tolist() == [
        ["data:mine.json", "easy", "FUMemory", 1],
        ["data:mine.json", "hard", "FUMemory", 1],
    ]
    # A rerun replays nothing and rewrites the same rows.
    before, calls = ws.results_path.read_bytes(), ws.agent_llm.calls
    evaluate_on(ws, "FUMemory", records, "data:mine.json")
    assert ws.agent_llm.calls == calls and ws.results_path.read_bytes() == before


def test_the_entry_point_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["--method", "nothing", "--data", str(user_file(tmp_path))]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["--method", "FUMemory", "--data", str(tmp_path / "missing.json")]) == 2
    assert "no such data file" in capsys.readouterr().err
    assert main(["--method", "FUMemory", "--data", str(user_file(tmp_path)), "--limit", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
