"""Grouped LoRA matmuls for vLLM's CPU backend, loaded into the servers that l2m.serve starts.

vLLM 0.32's CPU LoRA ops (vllm.lora.ops.torch_ops: bgmv_shrink, bgmv_expand,
bgmv_expand_slice; the sgmv_* prefill ops call them) gather a whole LoRA weight for every token,
`weights[indices]`, before one einsum: a 700-token prompt through a rank-128 slot moves a
(700 x 1536 x 128) tensor per projection, and one prompt took minutes. The same products done once
per adapter in the batch, over that adapter's tokens, are the same sums (each output row is
its token's input times its adapter's weight) at the cost of a plain matmul.

l2m.serve puts this folder on the server's PYTHONPATH, so every process of the server (the API
server and the engine's workers) runs this file at start-up. It patches nothing until vLLM's
LoRA modules are imported, and only vLLM 0.32.0 (the pinned version whose ops it replaces).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

PATCHED_MODULES = ("vllm.lora.ops.torch_ops.lora_ops", "vllm.lora.punica_wrapper.punica_cpu")
VLLM_VERSION = "0.32.0"


def _groups(indices, limit: int):
    """(adapter slot, rows) for each slot in `indices`, rows below `limit` (the output's rows)."""
    for slot in indices.unique().tolist():
        rows = (indices == slot).nonzero().squeeze(1)
        yield slot, rows[rows < limit]


def _weights(stacked, dtype):
    return (stacked.squeeze(1) if stacked.dim() == 4 else stacked).to(dtype)


def bgmv_shrink(inputs, lora_a_weights, output_tensor, lora_indices_tensor, scaling=1.0):
    weights, inputs = _weights(lora_a_weights, output_tensor.dtype), inputs.to(output_tensor.dtype)
    for slot, rows in _groups(lora_indices_tensor, output_tensor.shape[0]):
        product = inputs[rows] @ weights[slot].T
        output_tensor[rows, : product.shape[1]] = scaling * product


def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs=True):
    weights, inputs = _weights(lora_b_weights, output_tensor.dtype), inputs.to(output_tensor.dtype)
    for slot, rows in _groups(lora_indices_tensor, output_tensor.shape[0]):
        product = inputs[rows] @ weights[slot].T
        width = min(product.shape[1], output_tensor.shape[1])
        if add_inputs:
            output_tensor[rows, :width] += product[:, :width]
        else:
            output_tensor[rows, :width] = product[:, :width]


def bgmv_expand_slice(
    inputs, lora_b_weights, output_tensor, lora_indices_tensor, slice_offset, slice_size, add_inputs=True
):
    weights, inputs = _weights(lora_b_weights, output_tensor.dtype), inputs.to(output_tensor.dtype)
    for slot, rows in _groups(lora_indices_tensor, output_tensor.shape[0]):
        product = inputs[rows] @ weights[slot].T
        if add_inputs:
            output_tensor[rows, slice_offset : slice_offset + slice_size] += product
        else:
            output_tensor[rows, slice_offset : slice_offset + slice_size] = product


GROUPED = {"bgmv_shrink": bgmv_shrink, "bgmv_expand": bgmv_expand, "bgmv_expand_slice": bgmv_expand_slice}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds the modules of PATCHED_MODULES as usual, then swaps the grouped ops into them."""

    def find_spec(self, name, path, target=None):
        if name not in PATCHED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def exec_and_patch(module):
                execute(module)
                from vllm import __version__

                if __version__ == VLLM_VERSION:
                    vars(module).update({k: v for k, v in GROUPED.items() if k in vars(module)})

            spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _PatchAfterImport())
