"""The GPU path, checked on a CUDA machine in a few minutes with no large file to carry.

    python benchmarks/gpu_check.py --tokenizer DIR      # DIR: a tokenizer folder (SmolLM2's)

A tiny Llama with random weights is built from a config around the given tokenizer (no weights
travel), then each part of the project that runs on the GPU is exercised and asserted:

1. the in-process engine picks CUDA and bf16, and greedy decoding is deterministic and batch-
   independent in length (every output ends at eos or at the budget);
2. constrained ACT decoding on CUDA (xgrammar) yields a well-formed action;
3. a LoRA SFT step and a DPO step (TRL) of the aggregator on CUDA, with finite losses;
4. the SFT and DPO adapters stacked by the engine, answers cached on disk, and the episode runner
   serving a second pass wholly from the cache.

benchmarks/gpu_check.sh prepares what the GPU machine lacks and runs this; its output goes to the
README ("The GPU path"). Exits non-zero at the first failed check.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import tempfile
import time
from pathlib import Path

import torch

from l2m.actions import ACTION_CONSTRAINT
from l2m.calls import LLMRequest, user_message
from l2m.models.cache import CachedChatModel, GenerationCache
from l2m.models.llm import Sampling, TransformersChatModel
from l2m.runner import run_operations
from l2m.training.sft import SFTSettings
from l2m.utilization.samples import MergeSample
from l2m.utilization.training import DPOSettings, train_dpo_aggregator, train_sft_aggregator

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
PROMPTS = [f"Question {i}: which city is the capital of country number {i}? Think step by step." for i in range(8)]


def tiny_model(tokenizer: Path, folder: Path) -> Path:
    """A 2-layer Llama with random weights and the tokenizer of `tokenizer`, saved to `folder`."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True)
    for name in TOKENIZER_FILES:
        if (tokenizer / name).is_file():
            shutil.copy(tokenizer / name, folder / name)
    vocab = len(AutoTokenizer.from_pretrained(folder))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=True, eos_token_id=2, bos_token_id=1, pad_token_id=2,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def check(name: str, passed: bool, detail: str = "") -> None:
    print(f"{'ok  ' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not passed:
        raise SystemExit(1)


def check_engine(folder: Path) -> None:
    llm = TransformersChatModel(str(folder), dtype="auto", batch_size=4)
    check(
        "engine on CUDA in bf16", (llm.choice.device, llm.choice.dtype) == ("cuda", torch.bfloat16), llm.choice.reason
    )
    conversations = [user_message(p) for p in PROMPTS]
    start = time.perf_counter()
    first = llm.generate(conversations, Sampling(32))
    seconds = time.perf_counter() - start
    again = llm.generate(conversations, Sampling(32))
    check("greedy decoding is deterministic", [g.text for g in first] == [g.text for g in again])
    lengths = [g.completion_tokens for g in first]
    check("every output ends at eos or at its budget", all(0 < n <= 32 for n in lengths), f"{lengths}, {seconds:.2f} s")
    act = llm.generate(conversations[:2], Sampling(24, constraint=ACTION_CONSTRAINT))
    check("constrained ACT decoding", all(re.fullmatch(ACTION_CONSTRAINT, g.text) for g in act), repr(act[0].text))


def check_training(folder: Path, out: Path) -> tuple[Path, Path]:
    samples = [MergeSample(f"Question {i}?", f"Context {i}.", f"Memory {i}.") for i in range(4)]
    targets = [f"The answer to question {i} is {i}." for i in range(4)]
    sft = train_sft_aggregator(
        str(folder), samples, targets, out / "sft", settings=SFTSettings(micro_batch=2, grad_accum=1, max_length=256)
    )
    losses = json.loads((sft / "manifest.json").read_text())["losses"]
    check("LoRA SFT step on CUDA", bool(losses) and all(math.isfinite(x) for x in losses), f"losses {losses}")
    rejected = [f"I do not know {i}." for i in range(4)]
    dpo = train_dpo_aggregator(
        str(folder), sft, samples, targets, rejected, out / "dpo", settings=DPOSettings(max_steps=2, grad_accum=1)
    )
    log = json.loads((dpo / "manifest.json").read_text())["log"]
    check("DPO step on CUDA", bool(log) and all(math.isfinite(e["loss"]) for e in log), f"log {log}")
    return sft, dpo


def check_cache_and_runner(folder: Path, adapters: tuple[Path, Path], out: Path) -> None:
    model = CachedChatModel(
        TransformersChatModel(str(folder), adapters=list(adapters)), GenerationCache(out / "c.sqlite")
    )

    def ask(prompt: str):
        first = yield LLMRequest("memory", "merge", user_message(prompt), Sampling(16))
        second = yield LLMRequest("memory", "merge", user_message(prompt + first.text), Sampling(16))
        return first.text, second.text, second.cached

    runs = [run_operations((ask(p) for p in PROMPTS), {"memory": model}, max_live=4) for _ in range(2)]
    check("runner with stacked adapters, second pass from the cache",
          [r[:2] for r in runs[0]] == [r[:2] for r in runs[1]] and all(r[2] for r in runs[1]))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", type=Path, required=True)
    args = parser.parse_args()
    check(
        "CUDA available", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else ""
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = tiny_model(args.tokenizer, Path(scratch) / "tiny")
        check_engine(folder)
        adapters = check_training(folder, Path(scratch))
        check_cache_and_runner(folder, adapters, Path(scratch))
    print("all GPU checks passed")


if __name__ == "__main__":
    main()
