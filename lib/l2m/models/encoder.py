"""Sentence encoder over sentence-transformers, returning L2-normalised float32 rows.

e5 models expect "query: " / "passage: " prefixes; they are added when the model is an e5
model. The authors' code (and MemEngine) encodes e5 inputs without prefixes (BASELINES §0):
`e5_prefixes=False` reproduces that.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from l2m.models.device import choose_device
from l2m.models.registry import resolve_model

Kind = Literal["query", "passage"]


def is_e5(model_name: str) -> bool:
    return "e5" in model_name.lower().split("/")[-1]


class Encoder:
    def __init__(self, model_name: str, *, e5_prefixes: bool = True, batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        self.name = model_name
        self.resolved = resolve_model(model_name)
        self.prefixes = e5_prefixes and is_e5(model_name)
        self.batch_size = batch_size
        device = choose_device("float32").device
        self.model = SentenceTransformer(str(self.resolved.folder), device=device, local_files_only=True)
        self.dim = self.model.get_embedding_dimension()

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        if self.prefixes:
            texts = [f"{kind}: {t}" for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)
