"""MTMemory: MemTree (BASELINES §9, PAPER §8.1).

Store inserts each unit into a tree: walking down from the root, the new node either becomes a
child of the current node (no child is similar enough) or is merged into the current node's
summary (one LLM call) and the walk goes on into the most similar child. Recall ranks every
embedded node, internal summaries and leaves alike, by cosine to the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from l2m.calls import Operation, without_llm
from l2m.memory.base import EMPTY_CONTEXT, Memory, MemorySettings, Recall
from l2m.memory.baselines.common import (
    KEEP_CHOICES,
    ask,
    check_choice,
    render,
    rounded,
    top_k,
)

ROOT_TEXT = "[ROOT]"
MERGE_PROMPT = (
    "You are given two pieces of information. The new information is detailed; the existing "
    "information summarises {n_children} earlier entries. Merge them into one cohesive summary "
    "that keeps the key points of both. When the existing information covers more than 2 entries, "
    "be more concise and abstract, keeping only the overarching theme.\n"
    "[New information] {new}\n"
    "[Existing information, from {n_children} earlier entries] {current}\n"
    "Output the summary directly."
)


@dataclass
class Node:
    text: str
    depth: int
    # L2-normalised embedding of `text`; None for the root until its first merge.
    vector: np.ndarray | None
    children: list[int] = field(default_factory=list)


class MTMemory(Memory):
    """A tree of summaries, searched node by node (MemEngine's MTMemory).

    Options, with the MemEngine behaviour each one reproduces or changes:

    * `base_threshold=0.4`, `rate=0.5`: θ(d) = 0.4 · exp(0.5 · d / max_depth), as in MemEngine
      and the MemTree paper; no depth cap.
    * `split_leaves=False` (reproduce): a walk that reaches a leaf gives it a child, and the leaf
      keeps its own text. True does what MemTree does: the leaf becomes a parent of a copy of
      itself and of the new node, its text a merge of both (one LLM call).
    * `keep="head"` (reproduce): truncation to `settings.word_limit` keeps the first words.
    * Recall returns the `settings.top_k` most similar nodes (MemEngine: 5), with no threshold.

    Fixed without an option: every node owns its embedding, so the similarity with a child is
    that child's, a merge re-embeds the merged node itself, and a recalled text is the one
    whose embedding matched. MemEngine's root has node id 0 but no embedding row, so row i
    holds node i+1: a child lookup can read the new node's own vector (similarity 1, forcing
    a merge), a re-embedding overwrites the next node's row, and recall returns the node stored
    before the matched one. The root is not embedded until its `[ROOT]` text is replaced by a
    first merge; from then on it is an internal summary like any other and can be recalled. A
    merge reply that is empty leaves the node unchanged.
    """

    name = "MTMemory"

    def __init__(
        self,
        encoder,
        settings: MemorySettings = MemorySettings(),
        *,
        base_threshold: float = 0.4,
        rate: float = 0.5,
        split_leaves: bool = False,
        keep: str = "head",
    ):
        check_choice("keep", keep, KEEP_CHOICES)
        self.encoder, self.settings, self.keep = encoder, settings, keep
        self.base_threshold, self.rate, self.split_leaves = base_threshold, rate, split_leaves
        self.reset()

    def reset(self) -> None:
        self.nodes: list[Node] = []
        self.max_depth = 0

    def threshold(self, depth: int) -> float:
        """The similarity the best child of a node at depth `depth` needs for the walk to merge
        into that node and go on into the child. Only asked at a node with children, so
        max_depth >= 1."""
        # BASELINES §9: θ(d) = 0.4 · exp(0.5 · d / max_depth)
        return self.base_threshold * float(np.exp(self.rate * depth / self.max_depth))

    def store(self, text: str) -> Operation[dict]:
        calls: list[dict] = []
        if not self.nodes:
            # BASELINES §9: on the first store, a root with text [ROOT] at depth 0, not embedded.
            self.nodes.append(Node(ROOT_TEXT, depth=0, vector=None))
        new = len(self.nodes)
        self.nodes.append(Node(text, depth=0, vector=self._embed(text)))
        parent, merged = yield from self._insert(new, calls)
        node = self.nodes[new]
        return {
            "type": "store",
            "text": text,
            "node": new,
            "parent": parent,
            "depth": node.depth,
            "merged": merged,
            "llm_calls": calls,
        }

    @without_llm
    def recall(self, query: str) -> Recall:
        record: dict = {"type": "recall", "query": query, "nodes": [], "scores": [], "llm_calls": []}
        ids = [i for i, node in enumerate(self.nodes) if node.vector is not None]
        if not ids:
            return Recall(EMPTY_CONTEXT, record)
        # BASELINES §9: LTMemory over every node's embedding: top-k cosine, rendered in score order.
        scores = np.stack([self.nodes[i].vector for i in ids]) @ self.encoder.encode([query], kind="query")[0]
        rows = top_k(scores, self.settings.top_k)
        # Row r is node ids[r]'s embedding, so the text shown is the text that matched.
        chosen = [ids[r] for r in rows]
        record.update(nodes=chosen, scores=rounded(scores[rows]))
        return Recall(render([self.nodes[i].text for i in chosen], self.settings, self.keep), record)

    def _insert(self, new: int, calls: list[dict]) -> Operation[tuple[int, list[int]]]:
        """Walk down from the root and attach node `new`; returns its parent and the nodes merged on the way."""
        current, merged = 0, []
        vector = self.nodes[new].vector
        while True:
            node = self.nodes[current]
            if not node.children:
                if self.split_leaves and current != 0:
                    yield from self._split_leaf(current, new, calls)
                    return current, merged + [current]
                return self._attach(new, current), merged
            similarities = np.stack([self.nodes[c].vector for c in node.children]) @ vector
            best = int(np.argmax(similarities))
            # BASELINES §9: attach here if even the most similar child is below θ(d).
            if similarities[best] < self.threshold(node.depth):
                return self._attach(new, current), merged
            yield from self._merge(current, new, calls)
            merged.append(current)
            current = node.children[best]

    def _attach(self, child: int, parent: int) -> int:
        self.nodes[child].depth = self.nodes[parent].depth + 1
        self.nodes[parent].children.append(child)
        self.max_depth = max(self.max_depth, self.nodes[child].depth)
        return parent

    def _merge(self, current: int, new: int, calls: list[dict]) -> Operation[None]:
        """Fold the new node's text into the current node's summary and re-embed that node."""
        node = self.nodes[current]
        prompt = MERGE_PROMPT.format(n_children=len(node.children), new=self.nodes[new].text, current=node.text)
        summary = yield from ask("merge", prompt, self.settings, calls)
        if summary:
            node.text, node.vector = summary, self._embed(summary)

    def _split_leaf(self, leaf: int, new: int, calls: list[dict]) -> Operation[None]:
        """MemTree's leaf rule: the leaf's content moves to a new child, the leaf becomes its parent
        and the new node's, and its text becomes a merge of both."""
        original = self.nodes[leaf]
        self.nodes.append(Node(original.text, depth=0, vector=original.vector))
        self._attach(len(self.nodes) - 1, leaf)
        yield from self._merge(leaf, new, calls)
        self._attach(new, leaf)

    def _embed(self, text: str) -> np.ndarray:
        return self.encoder.encode([text], kind="passage")[0]
