"""MGMemory: MemGPT-style memory (BASELINES §7; in MemEngine, not evaluated in the paper).

The main context the agent sees has three parts: a working memory, a recursive summary of
what was evicted, and a FIFO queue of stored units. Two external storages sit outside it:
recall storage (evicted units) and archival storage (what the model chose to save). Store
appends to the FIFO and, under memory pressure, evicts its oldest units into recall storage,
folding them into the recursive summary (one LLM call). Recall asks the LLM which memory
functions to run (one call), runs them, and returns the main context.
"""

from __future__ import annotations

import ast
import re

from l2m.calls import Operation
from l2m.memory.base import (
    EMPTY_CONTEXT,
    Memory,
    MemorySettings,
    Recall,
    indexed_lines,
    render_sections,
    truncate_words,
)
from l2m.memory.baselines.common import (
    KEEP_CHOICES,
    EmbeddingIndex,
    ask,
    check_choice,
    top_k,
)

FLUSH_PROMPT = (
    "Recursive summary: {summary}\n"
    "Evicted memory:\n{evicted}\n"
    "Update the recursive summary so that it also covers the evicted memory. "
    "Output only the new recursive summary."
)
TRIGGER_PROMPT = (
    "Query: {query}\n"
    "Main context ({used} of {capacity} words used)\n"
    "Working memory:\n{working}\n"
    "Recursive summary:\n{summary}\n"
    "FIFO memory:\n{fifo}\n"
    "Memory functions:\n{functions}\n"
    "Choose the functions to run for this query and write each call on its own line, as in the "
    "examples.\n"
    "{warning}"
    "If no function is needed, output NONE.\n"
    "Example 1:\n"
    'memory_retrieval("Alice\'s name")\n'
    "memory_save([0, 1])\n"
    "Example 2:\n"
    'memory_recall("Bob\'s job")\n'
    "memory_transfer([0])\n"
    "Example 3:\n"
    "memory_archive([0])\n"
    "Example 4:\n"
    "NONE"
)
WARNING = "Warning: memory is under pressure; consider memory_archive or memory_transfer.\n"
FUNCTIONS = (
    "memory_retrieval(query: str): search archival storage for the query and add the matches to working memory.\n"
    "memory_recall(query: str): search recall storage for the query and add the matches to FIFO memory.\n"
    "memory_archive(ids: list): move these FIFO memory items into {archive_into} storage.\n"
    "memory_transfer(ids: list): move these FIFO memory items into working memory.\n"
    "memory_save(ids: list): move these working memory items into archival storage."
)
TEXT_FUNCTIONS = ("memory_retrieval", "memory_recall")
INDEX_FUNCTIONS = ("memory_archive", "memory_transfer", "memory_save")
PRESSURE_SOURCES = ("incoming", "context")
ARCHIVE_TARGETS = ("recall", "archival")

# A call is `name(arguments)`; greedy, so a query may itself contain parentheses.
_CALL = re.compile(r"(\w+)\((.*)\)")
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def word_count(text: str) -> int:
    """Words as MemEngine's truncation counts them: pieces between single spaces (BASELINES §0)."""
    return len(text.split(" "))


def parse_calls(reply: str) -> tuple[list[tuple[str, str | list[int]]], list[str]]:
    """The `(name, argument)` of each well-formed call line in a trigger reply, and the lines ignored.

    Nothing the model writes is evaluated: arguments go through `ast.literal_eval` at most.
    Unknown names, a missing argument and index arguments that are not integers make a line
    malformed; it is ignored (and returned, for the record) instead of crashing recall.
    """
    calls, ignored = [], []
    for line in filter(None, (line.strip() for line in reply.splitlines())):
        call = _parse_line(line)
        if call:
            calls.append(call)
        else:
            ignored.append(line)
    return calls, ignored


def _parse_line(line: str) -> tuple[str, str | list[int]] | None:
    match = _CALL.search(line)
    if match is None or match[2].strip() == "":
        return None
    name, raw = match[1], match[2].strip()
    if name in TEXT_FUNCTIONS:
        return name, _text_argument(raw)
    ids = _index_argument(raw) if name in INDEX_FUNCTIONS else None
    return (name, ids) if ids is not None else None


def _text_argument(raw: str) -> str:
    """A query: the string literal when it is one, else the raw text without outer quotes, so
    an unbalanced literal such as MemEngine's own example 'Alice's name' still reads."""
    try:
        value = ast.literal_eval(raw)
    except _LITERAL_ERRORS:
        value = None
    return value if isinstance(value, str) else raw.strip("'\"")


def _index_argument(raw: str) -> list[int] | None:
    """A list of indices (`[0, 2]`, or a bare `0`); None when it is anything else."""
    try:
        value = ast.literal_eval(raw)
    except _LITERAL_ERRORS:
        return None
    ids = [value] if isinstance(value, int) else value
    if isinstance(ids, (list, tuple)) and all(type(i) is int for i in ids):
        return list(ids)
    return None


def take(items: list[str], ids: list[int]) -> list[str]:
    """Remove and return `items[i]` for each distinct valid i, in the order given; ids out of range are skipped."""
    valid = list(dict.fromkeys(i for i in ids if 0 <= i < len(items)))
    taken = [items[i] for i in valid]
    for i in sorted(valid, reverse=True):
        del items[i]
    return taken


class ExternalStorage:
    """Recall or archival storage: texts outside the main context, searched by cosine top-k."""

    def __init__(self, encoder):
        self.texts: list[str] = []
        self.index = EmbeddingIndex(encoder)

    def add(self, texts: list[str]) -> None:
        for text in texts:
            self.texts.append(text)
            self.index.add(text)

    def search(self, query: str, k: int) -> list[int]:
        return top_k(self.index.cosine(query), k)


class MGMemory(Memory):
    """Main context, recursive summary and LLM-chosen memory functions (MemEngine's MGMemory).

    Options, with the MemEngine behaviour each one reproduces or changes:

    * `flush_words=1024`, `warning_threshold=0.7`: MemEngine's flush checker (its truncation
      number) and warning level (0.7 · 1024 → 716 words).
    * `pressure_source="incoming"` (reproduce): a flush happens when the unit being stored is
      itself over `flush_words`, and the recall warning when the query is over the warning
      level. "context" measures the rendered main context instead, as MemGPT does (warn at
      70% of the context, flush when it is full).
    * A flush moves FIFO units, oldest first, into recall storage until the moved text
      exceeds `flush_words` (one summary call); this is MemEngine's rule in both modes.
    * `archive_into="recall"` (reproduce): `memory_archive` moves FIFO items into recall
      storage, although MemEngine's description says archival; "archival" follows the name.
      The prompt names the storage actually used.
    * `truncate=False` (reproduce): the context is returned whole; True truncates it to
      `settings.word_limit` words, keeping the head or the tail (`keep`).
    * Each storage search returns `settings.top_k` texts (MemEngine: 5).

    Fixed without an option: both storages are searchable (MemEngine's searches always fail,
    so they are write-only); the trigger reply is parsed with a regex and `ast.literal_eval`,
    never `eval`, and a malformed line is ignored rather than crashing recall; the prompt
    offers a no-op (MemEngine's no-op check is dead because of a misspelled key); `reset()`
    clears everything (MemEngine's operations keep the old main context). The calls run in
    the order written, each seeing the lists as the calls before it left them (as in
    MemEngine). An empty memory returns EMPTY_CONTEXT with no trigger call.
    """

    name = "MGMemory"

    def __init__(
        self,
        encoder,
        settings: MemorySettings = MemorySettings(),
        *,
        flush_words: int = 1024,
        warning_threshold: float = 0.7,
        pressure_source: str = "incoming",
        archive_into: str = "recall",
        truncate: bool = False,
        keep: str = "head",
    ):
        check_choice("pressure_source", pressure_source, PRESSURE_SOURCES)
        check_choice("archive_into", archive_into, ARCHIVE_TARGETS)
        check_choice("keep", keep, KEEP_CHOICES)
        self.encoder, self.settings = encoder, settings
        self.flush_words, self.warning_words = flush_words, int(warning_threshold * flush_words)
        self.pressure_source, self.archive_into = pressure_source, archive_into
        self.truncate, self.keep = truncate, keep
        self.reset()

    def reset(self) -> None:
        self.working: list[str] = []
        self.fifo: list[str] = []
        self.summary: str | None = None
        self.recall_storage = ExternalStorage(self.encoder)
        self.archival_storage = ExternalStorage(self.encoder)

    def main_context(self) -> str:
        """What the agent sees (BASELINES §7): working memory, recursive summary, FIFO."""
        return render_sections(
            {"Working Memory": self.working, "Recursive Memory Summary": self.summary, "FIFO Memory": self.fifo}
        )

    def store(self, text: str) -> Operation[dict]:
        calls: list[dict] = []
        self.fifo.append(text)
        flushed = 0
        # BASELINES §7: MemEngine flushes when THIS unit is over 1024 words (flush_checker).
        if word_count(self._pressure_text(text)) > self.flush_words:
            flushed = yield from self._flush(calls)
        return {"type": "store", "text": text, "flushed": flushed, "fifo": len(self.fifo), "llm_calls": calls}

    def recall(self, query: str) -> Operation[Recall]:
        calls: list[dict] = []
        record: dict = {"type": "recall", "query": query, "llm_calls": calls}
        if self._is_empty():
            return Recall(EMPTY_CONTEXT, record)
        warning = word_count(self._pressure_text(query)) > self.warning_words
        reply = yield from ask("trigger", self._trigger_prompt(query, warning), self.settings, calls)
        requested, ignored = parse_calls(reply)
        record.update(warning=warning, executed=[self._execute(name, arg) for name, arg in requested], ignored=ignored)
        context = self.main_context()
        if self.truncate:
            context = truncate_words(context, self.settings.word_limit, self.keep)
        return Recall(context, record)

    def _pressure_text(self, incoming: str) -> str:
        return incoming if self.pressure_source == "incoming" else self.main_context()

    def _is_empty(self) -> bool:
        storages = self.recall_storage.texts or self.archival_storage.texts
        return not (self.working or self.fifo or self.summary or storages)

    def _flush(self, calls: list[dict]) -> Operation[int]:
        """Evict the oldest FIFO units into recall storage and fold them into the summary."""
        # BASELINES §7: move units from the oldest on until the moved text exceeds 1024 words.
        n = 0
        while n < len(self.fifo) and word_count("\n".join(self.fifo[:n])) <= self.flush_words:
            n += 1
        evicted = "\n".join(self.fifo[:n])
        prompt = FLUSH_PROMPT.format(summary=self.summary or EMPTY_CONTEXT, evicted=evicted)
        self.summary = yield from ask("summarize", prompt, self.settings, calls)
        self.recall_storage.add(take(self.fifo, list(range(n))))
        return n

    def _trigger_prompt(self, query: str, warning: bool) -> str:
        return TRIGGER_PROMPT.format(
            query=query,
            used=word_count(self.main_context()),
            capacity=self.flush_words,
            working=indexed_lines(self.working),
            summary=self.summary or EMPTY_CONTEXT,
            fifo=indexed_lines(self.fifo),
            functions=FUNCTIONS.format(archive_into=self.archive_into),
            warning=WARNING if warning else "",
        )

    def _execute(self, name: str, argument: str | list[int]) -> dict:
        """Run one memory function; the record says what it moved or found."""
        if name == "memory_retrieval":
            found = self.archival_storage.search(argument, self.settings.top_k)
            self.working += [self.archival_storage.texts[i] for i in found]
            return {"call": name, "argument": argument, "found": found}
        if name == "memory_recall":
            found = self.recall_storage.search(argument, self.settings.top_k)
            self.fifo += [self.recall_storage.texts[i] for i in found]
            return {"call": name, "argument": argument, "found": found}
        if name == "memory_archive":
            target = self.recall_storage if self.archive_into == "recall" else self.archival_storage
            moved = take(self.fifo, argument)
            target.add(moved)
        elif name == "memory_transfer":
            moved = take(self.fifo, argument)
            self.working += moved
        else:  # memory_save
            moved = take(self.working, argument)
            self.archival_storage.add(moved)
        return {"call": name, "argument": argument, "moved": len(moved)}
