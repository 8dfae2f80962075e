"""A stack of LoRA adapters as one adapter, so a server that applies one LoRA per request serves it.

Locally, adapters are stacked by merging each into the weights in turn (PAPER §3.3: SFT, then
DPO, then each on-policy epoch's pair). A LoRA's update to a weight is s·B·A, with s = alpha / r
(alpha / sqrt(r) under rsLoRA), and it does not depend on the weight it is added to; so a stack
adds up to

    s1·B1·A1 + s2·B2·A2 + ... = [s1·B1 | s2·B2 | ...] · [A1; A2; ...],

one LoRA of rank r1 + r2 + ... and scale 1. `combined_adapter` writes that adapter (A rows
stacked, scaled B columns side by side, zero blocks where an adapter leaves a module alone): it
is the same update, exactly, up to float rounding (tests/test_lora.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file, save_file

from l2m.artifacts import content_key, file_sha256, staged_folder

ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
# Settings under which an adapter is more than s·B·A on the target modules' weights.
UNSTACKABLE = {
    "use_dora": "DoRA rescales the merged weight",
    "modules_to_save": "it replaces whole modules",
    "rank_pattern": "its ranks differ per module",
    "alpha_pattern": "its alphas differ per module",
    "layers_to_transform": "it adapts only some layers",
}


class AdapterFormatError(ValueError):
    """An adapter folder that cannot be served as (part of) one plain LoRA."""


def adapter_config(folder: Path) -> dict:
    path = folder / ADAPTER_CONFIG
    if not path.is_file() or not (folder / ADAPTER_WEIGHTS).is_file():
        raise AdapterFormatError(f"{folder}: not a PEFT LoRA adapter folder ({ADAPTER_CONFIG} and {ADAPTER_WEIGHTS})")
    config = json.loads(path.read_text())
    if config.get("peft_type") != "LORA":
        raise AdapterFormatError(f"{folder}: peft_type {config.get('peft_type')!r}, not LORA")
    for field, why in UNSTACKABLE.items():
        if config.get(field):
            raise AdapterFormatError(f"{folder}: {field} is set, and {why}; only plain LoRA adapters can be served")
    if config.get("bias", "none") != "none":
        raise AdapterFormatError(
            f"{folder}: bias {config['bias']!r} trains biases; only plain LoRA adapters can be served"
        )
    return config


def lora_scale(config: dict) -> float:
    rank = config["r"]
    return config["lora_alpha"] / (rank**0.5 if config.get("use_rslora") else rank)


def lora_factors(folder: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """module key ("base_model.model.....q_proj") -> (A, scaled B), in fp32."""
    scale = lora_scale(adapter_config(folder))
    tensors = load_file(str(folder / ADAPTER_WEIGHTS))
    modules = sorted(key.removesuffix(".lora_A.weight") for key in tensors if key.endswith(".lora_A.weight"))
    if len(modules) * 2 != len(tensors):
        raise AdapterFormatError(f"{folder}: {ADAPTER_WEIGHTS} holds tensors other than lora_A and lora_B")
    return {m: (tensors[f"{m}.lora_A.weight"].float(), scale * tensors[f"{m}.lora_B.weight"].float()) for m in modules}


def stack_key(adapters: Sequence[Path]) -> str:
    """A key of the stack's contents (each adapter's config and weights, in order)."""
    return content_key([[file_sha256(a / ADAPTER_CONFIG), file_sha256(a / ADAPTER_WEIGHTS)] for a in adapters])


def combined_adapter(adapters: Sequence[Path], out_root: Path) -> Path:
    """The one adapter that equals the stack `adapters`, written once under out_root/stack-<key>/.

    A single plain adapter is returned as it is.
    """
    adapters = [Path(a) for a in adapters]
    if not adapters:
        raise ValueError("an empty stack has no adapter")
    configs = [adapter_config(a) for a in adapters]
    if len(adapters) == 1:
        return adapters[0]
    target = out_root / f"stack-{stack_key(adapters)}"
    if (target / ADAPTER_WEIGHTS).is_file():
        return target
    factors = [lora_factors(a) for a in adapters]
    ranks = [c["r"] for c in configs]
    tensors = {}
    for module in sorted(set().union(*factors)):
        # An adapter that leaves this module alone contributes zero blocks of its rank.
        a_any, b_any = next(f[module] for f in factors if module in f)
        blocks = [
            f.get(module, (a_any.new_zeros(rank, a_any.shape[1]), b_any.new_zeros(b_any.shape[0], rank)))
            for rank, f in zip(ranks, factors)
        ]
        tensors[f"{module}.lora_A.weight"] = torch.cat([a for a, _ in blocks], dim=0).contiguous()
        tensors[f"{module}.lora_B.weight"] = torch.cat([b for _, b in blocks], dim=1).contiguous()
    config = configs[0] | {
        "r": sum(ranks),
        "lora_alpha": sum(ranks),  # scale 1: the scales are in B
        "use_rslora": False,
        "lora_dropout": 0.0,
        "target_modules": sorted({m for c in configs for m in c["target_modules"]}),
        "base_model_name_or_path": configs[0].get("base_model_name_or_path"),
    }
    with staged_folder(target) as staging:
        save_file(tensors, str(staging / ADAPTER_WEIGHTS))
        (staging / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (staging / "stack.json").write_text(json.dumps([str(a) for a in adapters], indent=2) + "\n")
    return target
