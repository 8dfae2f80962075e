"""Wikipedia backends for Search[entity].

The paper searches a 53 GB Wikipedia ZIM dump with libzim and returns the whole top-1 page
(PAPER §7). `LocalWiki` replaces it with the paragraphs of every shipped HotpotQA record —
gold paragraphs, distractors and the pages of unrelated questions — so a search can land
on the right page, a distractor, or something unrelated. Deviation: pages are single
paragraphs, so observations are much shorter than the paper's whole articles.

`ZimWiki` offers the paper's backend for users who have a dump (optional extra `libzim`).
Both expose `search(entity) -> str | None`.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable, Protocol

from l2m.data.hotpotqa import HotpotRecord

_TOKEN = re.compile(r"\w+")


class Wiki(Protocol):
    def search(self, entity: str) -> str | None: ...


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def normalize_title(title: str) -> str:
    return " ".join(title.casefold().split())


class BM25:
    """Okapi BM25 over a fixed list of documents (k1 = 1.5, b = 0.75)."""

    def __init__(self, documents: Iterable[list[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths: list[int] = []
        for doc_id, tokens in enumerate(documents):
            self.lengths.append(len(tokens))
            for term, count in Counter(tokens).items():
                self.postings[term].append((doc_id, count))
        n = len(self.lengths)
        self.avg_length = sum(self.lengths) / max(n, 1)
        self.idf = {term: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for term, p in self.postings.items()}

    def top(self, query_tokens: list[str]) -> int | None:
        """Index of the best-scoring document, or None if no query term occurs anywhere.

        Ties go to the earlier document, so results are deterministic.
        """
        scores: dict[int, float] = defaultdict(float)
        for term in set(query_tokens):
            for doc_id, tf in self.postings.get(term, ()):
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[doc_id] / self.avg_length)
                scores[doc_id] += self.idf[term] * tf * (self.k1 + 1) / norm
        if not scores:
            return None
        return min(scores, key=lambda d: (-scores[d], d))


class LocalWiki:
    """A paragraph-per-page wiki: exact (normalised) title first, then BM25 over title + text."""

    def __init__(self, pages: dict[str, str]):
        self.titles = list(pages)
        self.texts = [pages[t] for t in self.titles]
        self.by_title = {normalize_title(t): i for i, t in reversed(list(enumerate(self.titles)))}
        self.index = BM25(tokenize(f"{t} {x}") for t, x in zip(self.titles, self.texts))

    @classmethod
    def from_records(cls, records: Iterable[HotpotRecord]) -> "LocalWiki":
        """One page per distinct title; the first occurrence of a title wins."""
        pages: dict[str, str] = {}
        for record in records:
            for title, sentences in record.context:
                text = " ".join(s.strip() for s in sentences if s.strip())
                if text and title not in pages:
                    pages[title] = text
        return cls(pages)

    def __len__(self) -> int:
        return len(self.titles)

    def lookup(self, entity: str) -> tuple[str, str] | None:
        """(title, text) of the page Search[entity] lands on, or None."""
        exact = self.by_title.get(normalize_title(entity))
        if exact is None:
            exact = self.index.top(tokenize(entity))
        if exact is None:
            return None
        return self.titles[exact], self.texts[exact]

    def search(self, entity: str) -> str | None:
        page = self.lookup(entity)
        return page[1] if page else None


class _ParagraphText(HTMLParser):
    """Collects the text of <p> and <ul> elements, as the paper's page parser does."""

    def __init__(self):
        super().__init__()
        self.blocks: list[str] = []
        self._depth = 0
        self._parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("p", "ul"):
            self._depth += 1

    def handle_endtag(self, tag):
        if tag in ("p", "ul") and self._depth:
            self._depth -= 1
            if not self._depth:
                self.blocks.append(" ".join("".join(self._parts).split()))
                self._parts = []

    def handle_data(self, data):
        if self._depth:
            self._parts.append(data)


def page_text_from_html(html: str) -> str:
    """PAPER §7: the texts of all <p> and <ul> blocks with more than two words, joined."""
    parser = _ParagraphText()
    parser.feed(html)
    return " ".join(b for b in parser.blocks if len(b.split()) > 2)


class ZimWiki:
    """The paper's backend: libzim full-text search over a Wikipedia ZIM file, top-1 page."""

    def __init__(self, path: str | Path):
        try:
            from libzim.reader import Archive
            from libzim.search import Query, Searcher
        except ImportError:
            raise ImportError(
                "ZimWiki needs the optional package libzim: pip install libzim "
                "(and a Wikipedia ZIM file, e.g. wikipedia_en_all_nopic_2024-06.zim)"
            ) from None
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ZIM file not found: {path}")
        self.archive = Archive(str(path))
        self._searcher = Searcher(self.archive)
        self._query = Query

    def search(self, entity: str) -> str | None:
        results = self._searcher.search(self._query().set_query(entity)).getResults(0, 1)
        for path in results:
            html = bytes(self.archive.get_entry_by_path(path).get_item().content).decode("utf-8", "replace")
            return page_text_from_html(html) or None
        return None
