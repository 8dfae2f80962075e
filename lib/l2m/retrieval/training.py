"""Off-policy retrieval training: weighted ranking pairs teach the gate (PAPER §5 step 5).

Every pair (core, inverse, w) contributes, with d = f(core) - f(inverse),

    loss="code":   w [sigma(-d) - sigma(d)]          = -w tanh(d / 2), bounded (the authors' code)
    loss="paper":  w ln(sigma(-d) / sigma(d))        = -w d, exactly linear (the paper as printed)

averaged over the batch. The first 90% of the pairs train and the last 10% validate, unshuffled,
as in the code; SGD, lr 0.01, batch 256, 150 epochs. Which parameters move is an option: the gate
alone (the paper) or the gate and both scorers (the code's optimiser).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from l2m.retrieval.experts import normalised_ages
from l2m.retrieval.gate import ScoreModel
from l2m.retrieval.pairs import RankPair, mirrored_pairs
from l2m.success import is_success

LOSSES = ("code", "paper")


@dataclass(frozen=True, kw_only=True)
class RetrievalTrainSettings:
    lr: float = 0.01
    batch: int = 256
    epochs: int = 150
    loss: str = "code"
    trained: str = "gate"
    gamma: float = 0.2
    exponent: str = "code"
    validation_share: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RankedRecall:
    """What one recall ranked: the query, every unit in storage order, the order it chose."""

    query: str
    units: tuple[str, ...]
    ranking: tuple[int, ...]


@dataclass
class PairBatch:
    """Pairs as tensors: embeddings of query, core and inverse, their ages, the signed weights."""

    query: torch.Tensor
    core: torch.Tensor
    inverse: torch.Tensor
    core_age: torch.Tensor
    inverse_age: torch.Tensor
    weight: torch.Tensor

    def __len__(self) -> int:
        return len(self.weight)

    def select(self, rows) -> "PairBatch":
        return PairBatch(*(t[rows] for t in vars(self).values()))


def pair_batch(recalls: list[RankedRecall], encoder, settings: RetrievalTrainSettings) -> PairBatch:
    """Embed every recall once and lay out its mirrored pairs (in recall order)."""
    columns: dict[str, list] = {name: [] for name in ("query", "core", "inverse", "core_age", "inverse_age", "weight")}
    for recall in recalls:
        query = torch.from_numpy(encoder.encode([recall.query], kind="query")[0])
        units = torch.from_numpy(encoder.encode(list(recall.units), kind="passage"))
        ages = normalised_ages(len(recall.units))
        for pair in mirrored_pairs(list(recall.ranking), gamma=settings.gamma, exponent=settings.exponent):
            _append_pair(columns, query, units, ages, pair)
    if not columns["weight"]:
        raise ValueError("no ranking pairs: every recall had fewer than two memory units")
    return PairBatch(
        *(torch.stack(columns[name]) for name in ("query", "core", "inverse")),
        *(torch.tensor(columns[name], dtype=torch.float32) for name in ("core_age", "inverse_age", "weight")),
    )


def _append_pair(columns: dict, query: torch.Tensor, units: torch.Tensor, ages: torch.Tensor, pair: RankPair) -> None:
    columns["query"].append(query)
    columns["core"].append(units[pair.core])
    columns["inverse"].append(units[pair.inverse])
    columns["core_age"].append(float(ages[pair.core]))
    columns["inverse_age"].append(float(ages[pair.inverse]))
    columns["weight"].append(pair.weight)


def pair_loss(model: ScoreModel, batch: PairBatch, loss: str) -> torch.Tensor:
    margin = model(batch.query, batch.core, batch.core_age) - model(batch.query, batch.inverse, batch.inverse_age)
    if loss == "code":
        per_pair = torch.sigmoid(-margin) - torch.sigmoid(margin)
    else:
        per_pair = torch.nn.functional.logsigmoid(-margin) - torch.nn.functional.logsigmoid(margin)
    return (batch.weight * per_pair).mean()


@torch.no_grad()
def pair_agreement(model: ScoreModel, batch: PairBatch) -> float:
    """Share of pairs whose score order agrees with the sign of their weight."""
    margin = model(batch.query, batch.core, batch.core_age) - model(batch.query, batch.inverse, batch.inverse_age)
    return float(((margin * batch.weight) > 0).float().mean())


def empty_history() -> dict[str, list[float]]:
    """Per-epoch series of retrieval training, before the first epoch."""
    return {"train_loss": [], "validation_loss": [], "validation_agreement": []}


def train_retrieval(model: ScoreModel, pairs: PairBatch, settings: RetrievalTrainSettings) -> dict[str, list[float]]:
    """Train in place; returns per-epoch train loss, validation loss and validation agreement."""
    torch.manual_seed(settings.seed)
    cut = len(pairs) - max(1, round(len(pairs) * settings.validation_share)) if len(pairs) > 1 else len(pairs)
    train, validation = pairs.select(slice(0, cut)), pairs.select(slice(cut, None))
    optimizer = torch.optim.SGD(model.trainable(settings.trained), lr=settings.lr)
    history = empty_history()
    for _ in tqdm(range(settings.epochs), desc="retrieval training", unit="epoch"):
        model.train()
        losses = []
        for rows in torch.randperm(len(train)).split(settings.batch):
            loss = pair_loss(model, train.select(rows), settings.loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        history["train_loss"].append(float(np.mean(losses)))
        if len(validation):
            with torch.no_grad():
                history["validation_loss"].append(pair_loss(model, validation, settings.loss).item())
            history["validation_agreement"].append(pair_agreement(model, validation))
    return history


def ranked_recalls(episodes: list[dict], criterion: str) -> list[RankedRecall]:
    """The last recall of every successful adaptive-memory episode (PAPER §5 step 2)."""
    recalls = []
    for episode in episodes:
        if not episode["step_records"] or not is_success(episode, criterion):
            continue
        retrieved = episode["step_records"][-1]["recall"]["retrieve"]
        if len(retrieved["units"]) >= 2:
            recalls.append(RankedRecall(episode["question"], tuple(retrieved["units"]), tuple(retrieved["ranking"])))
    return recalls
