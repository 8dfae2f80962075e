"""Training the aggregator: LoRA SFT on expert merges, then DPO against its own merges (PAPER §3.4).

SFT: LoRA r 8, alpha 32, dropout 0.1 on the attention projections, effective batch 16 by
accumulation (micro-batch 1), lr 1e-4, one epoch, prompt and target packed without pads, loss on
the target only (l2m.training.sft). DPO (TRL): chosen = the expert's merge, rejected = the SFT
model's own merge, beta 0.1, lr 1e-4, a new LoRA on top of the SFT model with the SFT adapter
merged, so the reference (the policy with its new adapter disabled) is the SFT model, as in the
authors' code. In the off-policy stage the paper's Algorithm 1 reading, "the previous
parameters", is the same SFT model; the two readings differ only on-policy.

Training and inference use the same merge prompt by default; `prompt_kind="training"` gives the
authors' code, which trained on a different wording than the one it merged with (PAPER §3.1).
Both adapters are saved in the PEFT format with a manifest, and the aggregator stacks them
(SFT, then DPO) on the base model.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from l2m.artifacts import staged_folder
from l2m.memory.adaptive import merge_prompt
from l2m.models.llm import TransformersChatModel
from l2m.training.sft import LoraSettings, SFTExample, SFTSettings, train_lora_sft
from l2m.utilization.samples import MergeSample

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
AGGREGATOR_LORA = LoraSettings(r=8, alpha=32, dropout=0.1, target_modules=ATTENTION)
AGGREGATOR_SFT = SFTSettings(lr=1e-4, epochs=1, micro_batch=1, grad_accum=16)


@dataclass(frozen=True, kw_only=True)
class DPOSettings:
    beta: float = 0.1
    lr: float = 1e-4
    epochs: int = 1
    grad_accum: int = 16
    max_length: int = 1024
    # -1: as many optimiser steps as the epochs give; a positive number caps them (tests).
    max_steps: int = -1
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def merge_messages(sample: MergeSample, prompt_kind: str) -> list[dict]:
    return [{"role": "user", "content": merge_prompt(prompt_kind, sample.question, sample.context, sample.memory)}]


def train_sft_aggregator(
    llm_name: str,
    samples: list[MergeSample],
    targets: list[str],
    target: Path,
    *,
    prompt_kind: str = "inference",
    lora: LoraSettings = AGGREGATOR_LORA,
    settings: SFTSettings = AGGREGATOR_SFT,
    provenance: dict | None = None,
    base_adapters: Sequence[Path] = (),
) -> Path:
    """SFT adapter on (merge prompt, expert merge) pairs, saved at `target` with its losses.

    `base_adapters` are merged into the model first (on-policy: the previous epochs' aggregator),
    and the new adapter is trained on top of them.
    """
    examples = [SFTExample(merge_messages(s, prompt_kind), t) for s, t in zip(samples, targets, strict=True)]
    base = TransformersChatModel(llm_name, dtype="float32", adapters=list(base_adapters))
    model, losses = train_lora_sft(base.model, base.tokenizer, examples, lora, settings)
    manifest = {
        "artifact": "aggregator_sft",
        "llm": llm_name,
        "base_adapters": [Path(a).name for a in base_adapters],
        "samples": len(examples),
        "prompt_kind": prompt_kind,
        "lora": lora.as_dict(),
        "sft": settings.as_dict(),
        "losses": [round(x, 4) for x in losses],
        **(provenance or {}),
    }
    return _save_adapter(model, target, manifest)


def train_dpo_aggregator(
    llm_name: str,
    sft_adapter: Path,
    samples: list[MergeSample],
    chosen: list[str],
    rejected: list[str],
    target: Path,
    *,
    prompt_kind: str = "inference",
    lora: LoraSettings = AGGREGATOR_LORA,
    settings: DPOSettings = DPOSettings(),
    provenance: dict | None = None,
    base_adapters: Sequence[Path] = (),
) -> Path:
    """DPO adapter over the SFT model (`base_adapters`, then the SFT adapter, merged), saved at
    `target` with TRL's per-step log (loss, reward margins)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    policy = TransformersChatModel(llm_name, dtype="float32", adapters=[*base_adapters, sft_adapter])
    rows = [
        {"prompt": merge_messages(s, prompt_kind), "chosen": [_reply(c)], "rejected": [_reply(r)]}
        for s, c, r in zip(samples, chosen, rejected, strict=True)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        args = DPOConfig(
            output_dir=scratch,
            use_cpu=policy.model.device.type == "cpu",
            bf16=False,
            beta=settings.beta,
            learning_rate=settings.lr,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps,
            per_device_train_batch_size=1,
            gradient_accumulation_steps=settings.grad_accum,
            max_length=settings.max_length,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=settings.seed,
            lr_scheduler_type="linear",
            warmup_steps=0,
        )
        trainer = DPOTrainer(
            model=policy.model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=policy.tokenizer,
            peft_config=lora.peft_config(),
        )
        trainer.train()
    log = [
        {k: v for k, v in entry.items() if k in ("step", "loss", "rewards/margins", "rewards/accuracies")}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    manifest = {
        "artifact": "aggregator_dpo",
        "llm": llm_name,
        "base_adapters": [Path(a).name for a in base_adapters],
        "sft_adapter": sft_adapter.name,
        "pairs": len(rows),
        "prompt_kind": prompt_kind,
        "lora": lora.as_dict(),
        "dpo": settings.as_dict(),
        "log": log,
        **(provenance or {}),
    }
    return _save_adapter(trainer.model.eval(), target, manifest)


def _reply(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _save_adapter(peft_model, target: Path, manifest: dict) -> Path:
    with staged_folder(target, manifest) as staging:
        peft_model.save_pretrained(staging)
    return target


def read_manifest(adapter: Path) -> dict:
    return json.loads((adapter / "manifest.json").read_text())
