"""Append-only jsonl logs of finished episodes, so that an interrupted run resumes.

One line per finished episode, keyed by (method, question_id, seed). A rerun skips the keys
already in the file; each line is flushed and fsynced as soon as its episode finishes, so a run
killed at any moment loses at most the episodes in flight. A line cut short by a kill is
dropped (and cut from the file) when the log is opened again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

Key = tuple[str, str, int]


def episode_key(row: dict) -> Key:
    return row["method"], row["question_id"], row["seed"]


class EpisodeLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: dict[Key, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            # The last line was being written when the run stopped: drop it.
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
            try:
                row = json.loads(line)
                self.rows[episode_key(row)] = row
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{self.path}: line {number} is not an episode record ({err})") from None

    def __contains__(self, key: Key) -> bool:
        return key in self.rows

    def append(self, row: dict) -> None:
        key = episode_key(row)
        if key in self.rows:
            raise ValueError(f"{self.path}: episode {key} is already logged")
        line = json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[key] = row
