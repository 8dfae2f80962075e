"""The MoE gate and the score f(theta_r; s, m) = g(s, m) . d(s, m) (PAPER §2.1, §2.3).

    hidden = sigmoid(W_q h_s + b_q + W_m h_m + b_m)      (the paper's W1 [h_s; h_m], split in halves)
    g      = softmax(W_o hidden + b_o)                   one weight per expert, summing to 1
    f      = sum_k g_k d_k                               the memory's score; the storage is sorted by it

Initialisation "paper" draws every weight from N(1, 0.02) and every bias from N(0, 0.02), the
authors' "trainable" mode. PAPER §2.3 infers that this gate is close to uniform; measured, it is
not: the rows of W_o sum to 256 +- 0.3, so the eight logits differ by a few tenths and the
untrained weights are a fixed, seed-dependent mix (0.10 to 0.15 per expert with MiniLM at seed 0,
against 0.125), nearly constant across queries. "uniform" (W_o and b_o zero) starts from exactly 1/8 each.
"standard" is PyTorch's default for a linear layer (weights U(+-1/sqrt(fan_in)) by Kaiming's rule
with a = sqrt(5), biases likewise), seeded: the ablation of the paper's initialisation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from l2m.retrieval.experts import EXPERT_NAMES, EmotionScorer, ImportanceScorer, MemoryKeys, expert_matrix, memory_keys

GATE_INITS = ("paper", "uniform", "standard")


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    hidden: int = 256
    init: str = "paper"
    seed: int = 0

    def __post_init__(self):
        if self.init not in GATE_INITS:
            raise ValueError(f"init must be one of {GATE_INITS}, got {self.init!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def _standard_init(layer: nn.Linear, generator: torch.Generator) -> None:
    """nn.Linear's own initialisation, drawn from `generator`."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class MoEGate(nn.Module):
    def __init__(self, dim: int, settings: GateSettings = GateSettings()):
        super().__init__()
        self.query_in, self.memory_in = nn.Linear(dim, settings.hidden), nn.Linear(dim, settings.hidden)
        self.out = nn.Linear(settings.hidden, len(EXPERT_NAMES))
        generator = torch.Generator().manual_seed(settings.seed)
        for layer in (self.query_in, self.memory_in, self.out):
            if settings.init == "standard":
                _standard_init(layer, generator)
            else:
                nn.init.normal_(layer.weight, 1.0, 0.02, generator=generator)
                nn.init.normal_(layer.bias, 0.0, 0.02, generator=generator)
        if settings.init == "uniform":
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, query: torch.Tensor, memories: torch.Tensor) -> torch.Tensor:
        """[N, 8] expert weights, each row summing to 1, for query [dim] (or [N, dim]) and memories [N, dim]."""
        return self.mix(query, self.memory_in(memories))

    def mix(self, query: torch.Tensor, memory_keys: torch.Tensor) -> torch.Tensor:
        """The weights for memories already projected by `memory_in` (their keys, computed once)."""
        hidden = torch.sigmoid(self.query_in(query) + memory_keys)
        return torch.softmax(self.out(hidden), dim=-1)


class UnitKeys(NamedTuple):
    """The query-independent parts of the ranking for N units: the experts' and the gate's."""

    experts: MemoryKeys
    gate: torch.Tensor  # W_m h_m + b_m, the memory half of the gate's hidden layer

    @classmethod
    def concat(cls, parts: list["UnitKeys"]) -> "UnitKeys":
        experts = MemoryKeys(*(torch.cat(field) for field in zip(*(p.experts for p in parts))))
        return cls(experts, torch.cat([p.gate for p in parts]))


class ScoreModel(nn.Module):
    """The gate and the two pretrained scorers: everything f(s, m) depends on."""

    def __init__(self, gate: MoEGate, emotion: EmotionScorer, importance: ImportanceScorer):
        super().__init__()
        self.gate, self.emotion, self.importance = gate, emotion, importance

    def experts(self, query: torch.Tensor, memories: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        return expert_matrix(query, memory_keys(memories, self.emotion, self.importance), ages, self.emotion, self.importance)

    def unit_keys(self, memories: torch.Tensor) -> UnitKeys:
        """Everything the ranking computes from the units alone: computed once per unit, when stored."""
        return UnitKeys(memory_keys(memories, self.emotion, self.importance), self.gate.memory_in(memories))

    def gates_and_experts(self, query: torch.Tensor, keys: UnitKeys, ages: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """([N, 8] gate weights, [N, 8] expert values) of units given by their keys; the score is their dot product."""
        experts = expert_matrix(query, keys.experts, ages, self.emotion, self.importance)
        return self.gate.mix(query, keys.gate), experts

    def forward(self, query: torch.Tensor, memories: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        """f for every memory: [N]."""
        return (self.gate(query, memories) * self.experts(query, memories, ages)).sum(-1)

    def trainable(self, which: str) -> list[nn.Parameter]:
        """The parameters retrieval training updates: "gate" (the paper) or "all" (the code, scorers too)."""
        if which == "gate":
            return list(self.gate.parameters())
        if which == "all":
            return list(self.parameters())
        raise ValueError(f"trained parameters must be 'gate' or 'all', got {which!r}")
