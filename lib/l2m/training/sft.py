"""LoRA supervised fine-tuning on (prompt, target) pairs.

Each example is packed as the chat-templated prompt followed directly by the target and the
end-of-turn token, with no pad tokens in between (the authors' code padded the prompt to 4096
tokens and put pads inside the sequence, PAPER §3.4). The loss covers the target tokens only:
prompt and padding positions carry the label -100. Micro-batches are padded on the right and
combined by gradient accumulation into the effective batch. The optimiser is AdamW with a
linear decay to zero and no warm-up (the Hugging Face Trainer defaults the paper used).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from l2m.models.llm import Messages

IGNORE = -100


@dataclass(frozen=True, kw_only=True)
class LoraSettings:
    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")

    def as_dict(self) -> dict:
        return asdict(self)

    def peft_config(self):
        """The PEFT LoraConfig of a causal LM with these settings."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            task_type="CAUSAL_LM",
        )


@dataclass(frozen=True, kw_only=True)
class SFTSettings:
    lr: float = 1e-4
    epochs: int = 1
    micro_batch: int = 2
    grad_accum: int = 8
    # Longer examples lose the start of their prompt (the target is always kept whole).
    max_length: int = 1024
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SFTExample:
    messages: Messages
    target: str


def encode_example(tokenizer, example: SFTExample, max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): prompt then target then end-of-turn; labels mask the prompt."""
    prompt = tokenizer.apply_chat_template(example.messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(example.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    keep = max(max_length - len(target_ids), 1)
    prompt_ids = prompt_ids[-keep:]
    return prompt_ids + target_ids, [IGNORE] * len(prompt_ids) + target_ids


def collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch; padding is masked from attention and from the loss."""
    width = max(len(ids) for ids, _ in rows)
    ids = [r[0] + [pad_id] * (width - len(r[0])) for r in rows]
    labels = [r[1] + [IGNORE] * (width - len(r[1])) for r in rows]
    mask = [[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def train_lora_sft(
    model,
    tokenizer,
    examples: Sequence[SFTExample],
    lora: LoraSettings,
    settings: SFTSettings,
    *,
    autocast_dtype: torch.dtype | None = None,
    on_step: Callable[[int, float], None] | None = None,
):
    """Wrap `model` with a fresh LoRA adapter and train it; returns (peft_model, losses per step)."""
    from peft import get_peft_model

    if not examples:
        raise ValueError("SFT needs at least one example")
    torch.manual_seed(settings.seed)
    peft_model = get_peft_model(model, lora.peft_config())
    peft_model.train()
    encoded = [encode_example(tokenizer, e, settings.max_length) for e in examples]
    micro = [
        [encoded[i] for i in order[k : k + settings.micro_batch]]
        for epoch in range(settings.epochs)
        for order in [random.Random(settings.seed + epoch).sample(range(len(encoded)), len(encoded))]
        for k in range(0, len(encoded), settings.micro_batch)
    ]
    steps = -(-len(micro) // settings.grad_accum)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / steps))
    device = next(peft_model.parameters()).device
    losses: list[float] = []
    bar = tqdm(total=steps, desc="SFT", unit="step")
    for step in range(steps):
        group = micro[step * settings.grad_accum : (step + 1) * settings.grad_accum]
        total = 0.0
        for rows in group:
            batch = {k: v.to(device) for k, v in collate(rows, tokenizer.pad_token_id).items()}
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = peft_model(**batch).loss / len(group)
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
        bar.update(1)
        bar.set_postfix(loss=f"{total:.3f}")
        if on_step is not None:
            on_step(step, total)
    bar.close()
    peft_model.eval()
    return peft_model, losses
