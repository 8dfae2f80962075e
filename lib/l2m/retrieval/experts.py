"""The eight expert metrics d(s, m) of PAPER §2.2, in the paper's (and the code's) order.

    0  semantic      cosine of the L2-normalised query and memory embeddings
    1-5 recency      -delta^0 ... -delta^4, delta = the memory's normalised age in (0, 1]
    6  emotion       cosine of the 8-d Plutchik vectors h_e(query) and h_e(memory)
    7  importance    cosine of W_q h_query and W_m h_memory (query-conditioned, asymmetric)

The emotion and importance scorers are small networks over the sentence embeddings; they are
pretrained (l2m.retrieval.pretrain) and then, in the paper, kept fixed.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

# PAPER §2.2 / App. A.1: Plutchik's eight basic emotions, in the paper's order.
EMOTIONS = ("joy", "acceptance", "fear", "surprise", "sadness", "disgust", "anger", "anticipation")
RECENCY_POWERS = 5
EXPERT_NAMES = ("semantic", *(f"recency^{p}" for p in range(RECENCY_POWERS)), "emotion", "importance")


def normalised_ages(count: int) -> torch.Tensor:
    """delta_i = (N - i) / N for units i = 0..N-1: the oldest unit 1, the newest 1/N (PAPER §2.2)."""
    return (count - torch.arange(count, dtype=torch.float32)) / max(count, 1)


def recency_terms(ages: torch.Tensor) -> torch.Tensor:
    """[..., 5]: -delta^0 .. -delta^4 (the code's reading of the paper's Taylor-expanded recency)."""
    return -torch.stack([ages**p for p in range(RECENCY_POWERS)], dim=-1)


class EmotionScorer(nn.Module):
    """h_e(x) = W2 tanh(W1 h_x + b1) + b2: embedding -> hidden -> 8 emotion intensities (App. A.1)."""

    def __init__(self, dim: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, len(EMOTIONS)))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.net(embeddings)


class ImportanceScorer(nn.Module):
    """cos(W_q h_query, W_m h_memory), two separate linear maps dim -> dim (App. A.2).

    `sigmoid=True` is the authors' code, which squashes the cosine into (0.269, 0.731); the
    paper has no sigmoid (the default).
    """

    def __init__(self, dim: int, *, sigmoid: bool = False):
        super().__init__()
        self.query_map, self.memory_map = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.sigmoid = sigmoid

    def forward(self, query: torch.Tensor, memories: torch.Tensor) -> torch.Tensor:
        """query [..., dim] broadcast against memories [..., dim] -> [...]."""
        return self.against(query, self.memory_map(memories))

    def against(self, query: torch.Tensor, memory_keys: torch.Tensor) -> torch.Tensor:
        """The score against memories already mapped by `memory_map` (their keys, computed once)."""
        score = nn.functional.cosine_similarity(self.query_map(query), memory_keys, dim=-1)
        return torch.sigmoid(score) if self.sigmoid else score


class MemoryKeys(NamedTuple):
    """What the experts compute from the memories alone, whatever the query: [N, ...] each.

    A memory computes its units' keys once, when they are stored, not at every recall.
    """

    embeddings: torch.Tensor  # h_m
    emotions: torch.Tensor  # h_e(m), the 8 emotion intensities
    importance: torch.Tensor  # W_m h_m, the importance scorer's memory map


def memory_keys(memories: torch.Tensor, emotion: EmotionScorer, importance: ImportanceScorer) -> MemoryKeys:
    return MemoryKeys(memories, emotion(memories), importance.memory_map(memories))


def expert_matrix(
    query: torch.Tensor, keys: MemoryKeys, ages: torch.Tensor, emotion: EmotionScorer, importance: ImportanceScorer
) -> torch.Tensor:
    """d(s, m) for every memory: [N, 8] from query [dim] (or [N, dim]), the memories' keys and ages [N].

    A single query is broadcast, not copied: its scorer projections are computed once, not N times.
    """
    semantic = (query * keys.embeddings).sum(-1)
    feeling = nn.functional.cosine_similarity(emotion(query), keys.emotions, dim=-1)
    relevance = importance.against(query, keys.importance).expand(len(ages))
    return torch.cat([semantic[:, None], recency_terms(ages), feeling[:, None], relevance[:, None]], dim=-1)
