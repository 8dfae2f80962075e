"""Storage training: store records, their split, chunking, reflection and the hint's round trip."""

import json

import pytest

from conftest import ScriptedChatModel
from l2m.artifacts import check_artifact
from l2m.models.llm import Sampling
from l2m.storage.quality import extraction_quality
from l2m.storage.records import StoreRecord, reflection_order, split_by_success, store_records
from l2m.storage.reflection import (
    INITIAL_HINT,
    LearnedHint,
    ReflectionSettings,
    chunks,
    learn_hint,
    load_hint,
    reflection_prompt,
    save_hint,
)


def step(raw: str | None):
    store = {"raw_observation": raw, "extracted": f"unit of {raw}", "hint": "No hint.", "time": 0} if raw else None
    return {"recall": {"store": store}, "context": "None"}


def episode(question_id: str, reward: float, raws: list[str | None]):
    return {
        "question_id": question_id,
        "question": f"question {question_id}?",
        "gold_answer": "Paris",
        "answer": "Paris" if reward else "Rome",
        "reward": reward,
        "step_records": [step(raw) for raw in raws],
    }


def record(index: int, success: bool) -> StoreRecord:
    return StoreRecord(f"q{index}", f"question {index}?", "Paris", f"page {index}", f"unit {index}", success)


def test_every_extraction_is_a_record_labelled_by_its_trajectory():
    episodes = [episode("a", 1.0, ["page 1", None, "page 2"]), episode("b", 0.0, ["page 3"])]
    records = store_records(episodes, "em")
    assert [(r.question_id, r.raw_observation, r.extracted, r.success) for r in records] == [
        ("a", "page 1", "unit of page 1", True),
        ("a", "page 2", "unit of page 2", True),
        ("b", "page 3", "unit of page 3", False),
    ]
    successes, failures = split_by_success(records)
    assert [r.raw_observation for r in successes] == ["page 1", "page 2"]
    assert [r.raw_observation for r in failures] == ["page 3"]
    with pytest.raises(ValueError, match="unknown success criterion"):
        store_records(episodes, "reward")


def test_reflection_order_is_a_seeded_shuffle_balanced_under_a_cap():
    records = [record(i, success=i < 3) for i in range(10)]
    everything = reflection_order(records, None, seed=0)
    assert sorted(r.question_id for r in everything) == sorted(r.question_id for r in records)
    assert everything == reflection_order(records, None, seed=0)
    assert everything != reflection_order(records, None, seed=1)
    # Half from each side when both have enough; the short side gives what it has.
    capped = reflection_order(records, 4, seed=0)
    assert sum(r.success for r in capped) == 2 and len(capped) == 4
    capped = reflection_order(records, 8, seed=0)
    assert sum(r.success for r in capped) == 3 and len(capped) == 8


def test_chunks_drop_or_keep_the_trailing_partial_chunk():
    items = list(range(23))
    assert [len(c) for c in chunks(items, 10, "drop")] == [10, 10]
    assert [len(c) for c in chunks(items, 10, "keep")] == [10, 10, 3]
    assert chunks(items, 10, "keep")[-1] == [20, 21, 22]
    assert chunks(list(range(20)), 10, "drop") == chunks(list(range(20)), 10, "keep")
    assert chunks(list(range(9)), 10, "drop") == []
    with pytest.raises(ValueError, match="partial_chunk"):
        chunks(items, 10, "pad")
    with pytest.raises(ValueError, match="chunk_size"):
        ReflectionSettings(chunk_size=0)


def test_failures_get_the_failure_prompt_unless_the_code_option_is_chosen():
    failure, success = record(0, False), record(1, True)
    assert "failed cases" in reflection_prompt(failure)
    assert "successful cases" in reflection_prompt(success)
    # The authors' code reflects failures with the success prompt.
    assert "successful cases" in reflection_prompt(failure, failure_prompt="success")
    for prompt in (reflection_prompt(failure), reflection_prompt(success)):
        assert "page" in prompt and "Paris" in prompt and "question" in prompt


def fake_reflector():
    """Reflections name their record; each consolidation appends its chunk's records to the hint."""

    def respond(prompt: str) -> str:
        if prompt.startswith("Current hint"):
            hint = prompt.split("\n")[0].removeprefix("Current hint for extracting information from observations: ")
            experiences = [line[2:] for line in prompt.split("\n") if line.startswith("- ")]
            return hint + " | " + ",".join(e.split()[-1] for e in experiences)
        page = prompt.split("Raw observation: ")[1].split("\n")[0]
        kind = "fail" if "failed cases" in prompt else "ok"
        return "" if page == "page 4" else f"{kind} {page.split()[-1]}"

    return ScriptedChatModel(respond)


def test_learn_hint_reflects_then_consolidates_chunk_by_chunk():
    records = [record(i, success=i % 2 == 0) for i in range(7)]
    model = fake_reflector()
    learned = learn_hint(records, model, Sampling(16), ReflectionSettings(chunk_size=2, partial_chunk="drop"))
    # One reflection per record (one batch), the failure prompt for odd ones; page 4's is empty.
    assert model.batches[0] == 7
    assert learned.experiences == ["ok 0", "fail 1", "ok 2", "fail 3", "", "fail 5", "ok 6"]
    # Six useful experiences, chunks of two: three sequential consolidations, each from the last hint.
    assert learned.history == [
        f"{INITIAL_HINT} | 0,1",
        f"{INITIAL_HINT} | 0,1 | 2,3",
        f"{INITIAL_HINT} | 0,1 | 2,3 | 5,6",
    ]
    assert learned.hint == learned.history[-1]
    kept = learn_hint(records[:5], fake_reflector(), Sampling(16), ReflectionSettings(chunk_size=3, partial_chunk="keep"))
    assert kept.history == [f"{INITIAL_HINT} | 0,1,2", f"{INITIAL_HINT} | 0,1,2 | 3"]
    dropped = learn_hint(records[:5], fake_reflector(), Sampling(16), ReflectionSettings(chunk_size=3))
    assert dropped.history == [f"{INITIAL_HINT} | 0,1,2"]


def test_an_empty_consolidation_keeps_the_previous_hint_and_no_chunk_keeps_the_start():
    silent = ScriptedChatModel(lambda prompt: "" if prompt.startswith("Current hint") else "advice")
    learned = learn_hint([record(i, True) for i in range(4)], silent, Sampling(16), ReflectionSettings(chunk_size=2))
    assert learned.history == [INITIAL_HINT, INITIAL_HINT]
    none = learn_hint([record(0, True)], silent, Sampling(16), ReflectionSettings(chunk_size=2))
    assert none.history == [] and none.hint == INITIAL_HINT


def test_the_hint_round_trips_through_json(tmp_path):
    learned = LearnedHint("Summarize carefully.", ["keep names", "keep dates"], ["Keep names.", "Keep names and dates."])
    folder = save_hint(learned, tmp_path / "hint-x", {"criterion": "em"}, {"profile": "smoke"})
    saved = json.loads((folder / "hint.json").read_text())
    assert saved["hint"] == "Keep names and dates." and saved["criterion"] == "em"
    assert load_hint(folder) == learned
    check_artifact(folder, "smoke")
    (folder / "hint.json").write_text(json.dumps({"artifact": "gate"}))
    with pytest.raises(ValueError, match="not a hint"):
        load_hint(folder)
    with pytest.raises(FileNotFoundError, match="hint.json"):
        load_hint(tmp_path)


def test_extraction_quality_counts_facts_and_answers_present_in_the_observation(record):
    page = "France is a country in Europe. Its capital is Paris. Paris is the capital and largest city of France."
    elsewhere = "Berlin is the capital of Germany."
    store = [
        StoreRecord("q1", record.question, "Paris", page, "", False),
        StoreRecord("q1", record.question, "Paris", elsewhere, "", False),
    ]
    extractions = {
        "everything": [page, "Germany's capital is Berlin."],
        "half": ["Paris is the capital and largest city of France.", "Berlin."],
        "nothing": ["Europe.", ""],
    }
    table = extraction_quality(extractions, store, {"q1": record})
    # Only the first observation holds supporting facts (both of them) and the answer.
    assert (table["n"] == 2).all() and (table["n with facts"] == 1).all() and (table["n with answer"] == 1).all()
    assert table.loc["everything", "facts kept"] == 1.0
    assert table.loc["half", "facts kept"] == 0.5
    assert table.loc["nothing", "facts kept"] == 0.0
    assert table.loc["half", "answer kept"] == 1.0 and table.loc["nothing", "answer kept"] == 0.0
    assert table.loc["nothing", "words"] == 0.5  # "Europe." and ""

