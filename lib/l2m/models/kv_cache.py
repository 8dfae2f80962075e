"""A key-value cache that grows by writing into spare room instead of concatenating.

transformers' DynamicCache appends each decode step's keys and values with `torch.cat`, which
copies the whole cache of every layer at every step. On a 2-core CPU that copy was a third of a
bf16 decode step of SmolLM2 at batch 16 (prompts of 400 tokens) and three quarters of an fp32
one (measured with torch.profiler; l2m.models.llm uses this cache for every local generation, and
benchmarks/llm_throughput.py times the engine against generate()).
`GrowingCache` keeps each layer's keys and values in a buffer with room for `headroom` more
positions, writes new positions in place, and hands attention a view of the filled part; when the
room runs out the buffer is reallocated with twice the room. Same values, same attention: greedy
outputs are identical to DynamicCache's (tests/test_models.py).
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose `keys` and `values` are views on the front of larger buffers."""

    headroom = 64

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.key_buffer = self.value_buffer = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start = self.get_seq_length()
        end = start + key_states.shape[-2]
        if not self._buffers_hold_the_cache() or end > self.key_buffer.shape[-2]:
            self.key_buffer = self._with_room(self.keys, key_states, end)
            self.value_buffer = self._with_room(self.values, value_states, end)
        self.key_buffer[..., start:end, :] = key_states
        self.value_buffer[..., start:end, :] = value_states
        self.keys, self.values = self.key_buffer[..., :end, :], self.value_buffer[..., :end, :]
        return self.keys, self.values

    def _buffers_hold_the_cache(self) -> bool:
        # DynamicLayer's own crop, reorder and reset replace `keys`; the buffers then no longer back it.
        return self.key_buffer is not None and self.keys.numel() > 0 and self.keys.data_ptr() == self.key_buffer.data_ptr()

    def _with_room(self, cached: torch.Tensor, new: torch.Tensor, needed: int) -> torch.Tensor:
        """A buffer shaped like `new` with `needed` positions plus room, holding `cached` at its front."""
        room = max(self.headroom, needed)
        shape = (*new.shape[:-2], needed + room, new.shape[-1])
        buffer = torch.empty(shape, dtype=new.dtype, device=new.device)
        if cached.numel():
            buffer[..., : cached.shape[-2], :] = cached
        return buffer


class GrowingCache(DynamicCache):
    """A DynamicCache made of GrowingLayer: pass a fresh one to each `generate` call."""

    def __init__(self) -> None:
        super(DynamicCache, self).__init__(layer_class_to_replicate=GrowingLayer)
