"""HotpotQA records: loading, validation, and the project's fixed test/train splits.

Records follow the official JSON layout (a list of objects with `_id`, `question`, `answer`,
`type`, `level`, `supporting_facts` and `context`). Every record is validated on load; the
first malformed one stops the load with an error naming the file, the record index and the
field, so a bad file never produces a half-loaded dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable

from l2m.config import DATA_DIR

TRAIN_FILE = "hotpot_train_subset.json"
DEV_FILE = "hotpot_dev_distractor_subset.json"
LEVELS = ("easy", "medium", "hard")
TYPES = ("bridge", "comparison")

# The fixed, documented splits (README "Data"). Test questions are the first N of their
# kind in file order; the training pool is every other record (train file first, then dev).
TEST_SIZES = {"test_hard": 113, "test_medium": 109, "test_easy": 64}
SPLITS = (*TEST_SIZES, "train")


class DataError(ValueError):
    """A data file or record that cannot be used; the message names file, record and field."""


@dataclass(frozen=True)
class HotpotRecord:
    id: str
    question: str
    answer: str
    type: str
    level: str
    supporting_facts: tuple[tuple[str, int], ...]
    context: tuple[tuple[str, tuple[str, ...]], ...]

    def paragraph(self, title: str) -> tuple[str, ...]:
        """The sentences of the context paragraph called `title` (empty if absent)."""
        return next((sents for t, sents in self.context if t == title), ())

    @property
    def gold_titles(self) -> tuple[str, ...]:
        """Titles of the supporting paragraphs, in order of first mention."""
        return tuple(dict.fromkeys(title for title, _ in self.supporting_facts))


def _fail(source: str, index: int, raw: Any, field: str, problem: str) -> DataError:
    rid = raw.get("_id") if isinstance(raw, dict) else None
    who = f"record {index}" + (f" (_id={rid!r})" if isinstance(rid, str) else "")
    return DataError(f"{source}: {who}: field '{field}' {problem}")


def _string(raw: dict, field: str, fail) -> str:
    value = raw.get(field)
    if field not in raw:
        raise fail(field, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise fail(field, f"must be a non-empty string, got {type(value).__name__}")
    return value


def _choice(raw: dict, field: str, allowed: tuple[str, ...], fail) -> str:
    value = _string(raw, field, fail)
    if value not in allowed:
        raise fail(field, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _supporting_facts(raw: dict, fail) -> tuple[tuple[str, int], ...]:
    if "supporting_facts" not in raw:
        raise fail("supporting_facts", "is missing")
    facts = raw["supporting_facts"]
    if not isinstance(facts, list) or not facts:
        raise fail("supporting_facts", "must be a non-empty list of [title, sentence_index]")
    out = []
    for k, fact in enumerate(facts):
        ok = (
            isinstance(fact, (list, tuple))
            and len(fact) == 2
            and isinstance(fact[0], str)
            and isinstance(fact[1], int)
            and not isinstance(fact[1], bool)
            and fact[1] >= 0
        )
        if not ok:
            raise fail(f"supporting_facts[{k}]", f"must be [title, sentence_index], got {fact!r}")
        out.append((fact[0], fact[1]))
    return tuple(out)


def _context(raw: dict, fail) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if "context" not in raw:
        raise fail("context", "is missing")
    paragraphs = raw["context"]
    if not isinstance(paragraphs, list) or not paragraphs:
        raise fail("context", "must be a non-empty list of [title, [sentence, ...]]")
    out = []
    for k, par in enumerate(paragraphs):
        ok = (
            isinstance(par, (list, tuple))
            and len(par) == 2
            and isinstance(par[0], str)
            and isinstance(par[1], list)
            and all(isinstance(s, str) for s in par[1])
        )
        if not ok:
            raise fail(f"context[{k}]", "must be [title, [sentence, ...]]")
        out.append((par[0], tuple(par[1])))
    return tuple(out)


def parse_record(raw: Any, *, source: str, index: int) -> HotpotRecord:
    """Validate one official-layout record; raise DataError naming source, index and field."""

    def fail(field: str, problem: str) -> DataError:
        return _fail(source, index, raw, field, problem)

    if not isinstance(raw, dict):
        raise fail("<record>", f"must be a JSON object, got {type(raw).__name__}")
    return HotpotRecord(
        id=_string(raw, "_id", fail),
        question=_string(raw, "question", fail),
        answer=_string(raw, "answer", fail),
        type=_choice(raw, "type", TYPES, fail),
        level=_choice(raw, "level", LEVELS, fail),
        supporting_facts=_supporting_facts(raw, fail),
        context=_context(raw, fail),
    )


def load_hotpotqa(path: str | Path) -> list[HotpotRecord]:
    """Load and validate a HotpotQA file in the official JSON layout."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: expected a non-empty JSON list of records")
    records = [parse_record(r, source=str(path), index=i) for i, r in enumerate(raw)]
    _check_unique_ids(records, str(path))
    return records


def from_datasets(rows: Iterable[dict], *, source: str = "datasets") -> list[HotpotRecord]:
    """Records from a Hugging Face `datasets` HotpotQA dataset (its column layout).

    There, `context` is {title: [...], sentences: [[...]]} and `supporting_facts` is
    {title: [...], sent_id: [...]}; `id` replaces `_id`.
    """
    records = []
    for i, row in enumerate(rows):
        official = dict(row)
        official["_id"] = row.get("_id", row.get("id"))
        ctx, sf = row.get("context"), row.get("supporting_facts")
        if isinstance(ctx, dict):
            official["context"] = [list(p) for p in zip(ctx["title"], ctx["sentences"])]
        if isinstance(sf, dict):
            official["supporting_facts"] = [list(p) for p in zip(sf["title"], sf["sent_id"])]
        records.append(parse_record(official, source=source, index=i))
    _check_unique_ids(records, source)
    return records


def _check_unique_ids(records: list[HotpotRecord], source: str) -> None:
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        if rec.id in seen:
            raise DataError(f"{source}: record {i} (_id={rec.id!r}): field '_id' repeats record {seen[rec.id]}")
        seen[rec.id] = i


def check_training_pool(records: Iterable[HotpotRecord], forbidden_ids: Collection[str], learner: str) -> None:
    """Refuse records whose id is in `forbidden_ids` (the test questions): `learner` sees the training pool only."""
    if leaked := [r.id for r in records if r.id in forbidden_ids]:
        raise ValueError(
            f"records {', '.join(leaked[:3])} are test questions; {learner} learn from the training pool only"
        )


class UnknownSplitError(ValueError):
    pass


def load_splits(data_dir: str | Path = DATA_DIR) -> dict[str, list[HotpotRecord]]:
    """The four disjoint splits of README "Data".

    test_hard   = the first 113 dev questions in official order (PAPER §7: the paper's hard set
                  is very likely the first 113 dev questions);
    test_medium = the first 109 train-file questions of level medium;
    test_easy   = the first 64 train-file questions of level easy (the file has only 74, so the
                  paper's 107 cannot be matched);
    train       = every other record, train file first, then dev, in file order.
    """
    data_dir = Path(data_dir)
    train_file = load_hotpotqa(data_dir / TRAIN_FILE)
    dev_file = load_hotpotqa(data_dir / DEV_FILE)
    medium = [r for r in train_file if r.level == "medium"][: TEST_SIZES["test_medium"]]
    easy = [r for r in train_file if r.level == "easy"][: TEST_SIZES["test_easy"]]
    splits = {
        "test_hard": dev_file[: TEST_SIZES["test_hard"]],
        "test_medium": medium,
        "test_easy": easy,
    }
    taken = {r.id for split in splits.values() for r in split}
    splits["train"] = [r for r in train_file + dev_file if r.id not in taken]
    for name, size in TEST_SIZES.items():
        if len(splits[name]) < size:
            raise DataError(f"{data_dir}: split {name} needs {size} records, found {len(splits[name])}")
    return splits


def load_split(name: str, data_dir: str | Path = DATA_DIR, limit: int | None = None) -> list[HotpotRecord]:
    """One split by name, optionally only its first `limit` records."""
    if name not in SPLITS:
        raise UnknownSplitError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
    records = load_splits(data_dir)[name]
    return records if limit is None else records[:limit]
