import json

import pytest

from conftest import raw_record
from l2m.data.hotpotqa import (
    SPLITS,
    DataError,
    UnknownSplitError,
    from_datasets,
    load_hotpotqa,
    load_split,
    load_splits,
    parse_record,
)


def write(tmp_path, payload, name="data.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def test_valid_file_loads(tmp_path):
    records = load_hotpotqa(write(tmp_path, [raw_record(), raw_record(_id="q2")]))
    assert [r.id for r in records] == ["q1", "q2"]
    assert records[0].gold_titles == ("France", "Paris")
    assert records[0].paragraph("Paris") == ("Paris is the capital and largest city of France.",)


@pytest.mark.parametrize(
    "broken, field",
    [
        ({"context": None}, "context"),
        ({"supporting_facts": [["France", "zero"]]}, "supporting_facts[0]"),
        ({"level": "expert"}, "level"),
        ({"answer": 42}, "answer"),
        ({"context": [["France", "not a list"]]}, "context[0]"),
    ],
)
def test_malformed_record_names_file_index_and_field(tmp_path, broken, field):
    path = write(tmp_path, [raw_record(), raw_record(_id="bad", **broken)])
    with pytest.raises(DataError) as err:
        load_hotpotqa(path)
    message = str(err.value)
    assert str(path) in message and "record 1" in message and "'bad'" in message
    assert f"field '{field}'" in message


@pytest.mark.parametrize("missing", ["context", "supporting_facts", "_id", "question"])
def test_missing_field_is_named(tmp_path, missing):
    raw = raw_record()
    del raw[missing]
    with pytest.raises(DataError, match=rf"record 0.*field '{missing}' is missing"):
        load_hotpotqa(write(tmp_path, [raw]))


@pytest.mark.parametrize(
    "payload, problem", [("", "empty"), ("{not json", "not valid JSON"), ("{}", "non-empty JSON list")]
)
def test_bad_files_are_refused(tmp_path, payload, problem):
    with pytest.raises(DataError, match=problem):
        load_hotpotqa(write(tmp_path, payload))


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"record 1 .*repeats record 0"):
        load_hotpotqa(write(tmp_path, [raw_record(), raw_record()]))


def test_datasets_layout_is_converted():
    row = raw_record()
    row["id"] = row.pop("_id")
    row["context"] = {"title": ["France"], "sentences": [["France is a country."]]}
    row["supporting_facts"] = {"title": ["France"], "sent_id": [0]}
    (rec,) = from_datasets([row])
    assert rec.id == "q1" and rec.context == (("France", ("France is a country.",)),)
    assert rec.supporting_facts == (("France", 0),)


def test_shipped_splits_are_disjoint_and_sized():
    splits = load_splits()
    assert {k: len(v) for k, v in splits.items() if k != "train"} == {
        "test_hard": 113,
        "test_medium": 109,
        "test_easy": 64,
    }
    ids = [r.id for split in splits.values() for r in split]
    assert len(ids) == len(set(ids)) == 113 + 109 + 64 + len(splits["train"])
    assert {r.level for r in splits["test_medium"]} == {"medium"}
    assert {r.level for r in splits["test_easy"]} == {"easy"}
    assert set(SPLITS) == set(splits)


def test_unknown_split_is_refused():
    with pytest.raises(UnknownSplitError, match="test_impossible"):
        load_split("test_impossible")


def test_parse_record_rejects_non_object():
    with pytest.raises(DataError, match="must be a JSON object"):
        parse_record(["not", "a", "dict"], source="x", index=3)
