"""Models by name: the chat LLM (local or over HTTP, cached on disk) and the sentence encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from l2m.config import Profile
from l2m.models.cache import CachedChatModel, GenerationCache
from l2m.models.encoder import Encoder
from l2m.models.llm import (
    AdapterNotServedError,
    ChatModel,
    EndpointError,
    Generation,
    Messages,
    OpenAIChatModel,
    Sampling,
    TransformersChatModel,
)
from l2m.models.registry import ModelNotFoundError, resolve_model

__all__ = [
    "AdapterNotServedError",
    "CachedChatModel",
    "ChatModel",
    "Encoder",
    "EndpointError",
    "Generation",
    "GenerationCache",
    "Messages",
    "ModelNotFoundError",
    "OpenAIChatModel",
    "Sampling",
    "TransformersChatModel",
    "load_llm",
    "resolve_model",
]


def load_llm(
    profile: Profile,
    *,
    adapters: Sequence[str | Path] = (),
    cache: GenerationCache | None = None,
) -> ChatModel:
    """The profile's chat LLM with `adapters` stacked in order: served by the profile's endpoint(s)
    if it names any (each adapter served by the server, or AdapterNotServedError), else local.

    With a cache, repeated requests are answered from disk.
    """
    if profile.llm_endpoint:
        model: ChatModel = OpenAIChatModel(
            profile.llm, profile.llm_endpoint, adapters=adapters, max_in_flight=profile.endpoint_requests
        )
        model.check_servers()  # a missing adapter stops the run before its first episode
    else:
        model = TransformersChatModel(
            profile.llm, dtype=profile.dtype, batch_size=profile.llm_batch_size, adapters=adapters
        )
    return CachedChatModel(model, cache) if cache is not None else model
