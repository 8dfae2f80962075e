"""An on-disk cache of generations, keyed by a hash of model, prompt and sampling settings.

A rerun of a notebook therefore makes no new LLM call. The cache is one sqlite file per
profile (runs/<profile>/llm_cache.sqlite); each batch of new generations is written in one
transaction, so an interrupted run keeps every batch that finished. Episodes whose requests are in
flight over an endpoint (l2m.runner) reach the cache from several threads: one connection, one
lock.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from l2m.models.llm import ChatModel, Generation, Messages, Sampling


def generation_key(model_name: str, messages: Messages, sampling: Sampling) -> str:
    # Greedy decoding never reads the seed, so runs under another seed share greedy generations
    # (keyed as seed 0, which keeps the keys written before this rule).
    settings = replace(sampling, seed=0) if sampling.greedy else sampling
    payload = json.dumps([model_name, messages, settings.as_dict()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class GenerationCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.lock = threading.Lock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS generations ("
            " key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
            " completion_tokens INTEGER NOT NULL, seconds REAL NOT NULL)"
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            with self.lock:
                rows = self.db.execute(
                    f"SELECT key, text, prompt_tokens, completion_tokens, seconds FROM generations "
                    f"WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            for key, text, prompt_tokens, completion_tokens, seconds in rows:
                found[key] = Generation(text, prompt_tokens, completion_tokens, seconds, cached=True)
        return found

    def put_many(self, items: dict[str, Generation]) -> None:
        with self.lock, self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?)",
                [(k, g.text, g.prompt_tokens, g.completion_tokens, g.seconds) for k, g in items.items()],
            )

    def __len__(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        self.db.close()


class CachedChatModel:
    """Serves repeated (model, messages, sampling) requests from disk; sends only misses on."""

    def __init__(self, inner: ChatModel, cache: GenerationCache):
        self.inner, self.cache = inner, cache
        self.name = inner.name
        self.max_in_flight = getattr(inner, "max_in_flight", 0)

    def generate(self, conversations: Sequence[Messages], sampling: Sampling) -> list[Generation]:
        keys = [generation_key(self.name, m, sampling) for m in conversations]
        known = self.cache.get_many(keys)
        # Identical conversations inside one batch are generated once.
        missing = {k: m for k, m in zip(keys, conversations) if k not in known}
        if missing:
            fresh = dict(zip(missing, self.inner.generate(list(missing.values()), sampling)))
            self.cache.put_many(fresh)
            known.update(fresh)
        return [known[k] for k in keys]
