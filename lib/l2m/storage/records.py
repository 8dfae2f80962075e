"""Store records from sampled trajectories (PAPER §4.2, the code's storage training set).

Every extraction of an adaptive-memory episode is one record: the raw observation the cache held
(thought, action, the page the search returned), the unit extracted from it, the question and
the gold answer. A record is a success or a failure by its TRAJECTORY's outcome, judged with the
profile's success criterion (l2m.success): the paper splits by the episode reward (EM); the small
profiles use "answer_in_context", since a 135M reader almost never reaches EM 1 (see the profile).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from l2m.success import is_success


@dataclass(frozen=True)
class StoreRecord:
    question_id: str
    question: str
    answer: str
    raw_observation: str
    extracted: str
    success: bool


def store_records(episodes: list[dict], criterion: str) -> list[StoreRecord]:
    """One record per extraction of every episode, in episode then step order."""
    records = []
    for episode in episodes:
        success = is_success(episode, criterion)
        for step in episode["step_records"]:
            stored = step["recall"].get("store")
            if not stored:
                continue
            records.append(
                StoreRecord(
                    question_id=episode["question_id"],
                    question=episode["question"],
                    answer=episode["gold_answer"],
                    raw_observation=stored["raw_observation"],
                    extracted=stored["extracted"],
                    success=success,
                )
            )
    return records


def split_by_success(records: list[StoreRecord]) -> tuple[list[StoreRecord], list[StoreRecord]]:
    """(D_pos, D_neg): the records of successful trajectories, and those of the others."""
    return [r for r in records if r.success], [r for r in records if not r.success]


def reflection_order(records: list[StoreRecord], limit: int | None, seed: int) -> list[StoreRecord]:
    """The records to reflect on, in the order their experiences are consolidated.

    A seeded shuffle, so that every chunk mixes successes and failures instead of the hint being
    rewritten by all the successes and then by all the failures. With `limit`, at most that many,
    half from each side when both have enough (reflection is one LLM call per record and its prompt
    holds a whole page: the small profiles cap it).
    """
    successes, failures = split_by_success(records)
    if limit is not None:
        wanted_successes = min(len(successes), max(limit // 2, limit - len(failures)))
        successes, failures = successes[:wanted_successes], failures[: limit - wanted_successes]
    chosen = successes + failures
    random.Random(seed).shuffle(chosen)
    return chosen
