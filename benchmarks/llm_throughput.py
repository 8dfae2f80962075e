"""Prompt (prefill) and generated (decode) tokens per second of the local LLM backend.

    python benchmarks/llm_throughput.py                       # SmolLM2, batch 1 and 8, fp32 and bf16
    python benchmarks/llm_throughput.py --model PATH --batch-sizes 1 4 16 --dtypes float32

Prefill: generation of exactly 1 token for a batch of prompts of --prompt-tokens tokens (the
prompt's forward pass, with logits for the last position only, as the engine runs it; a plain
forward pass would also pay the vocabulary projection at every prompt position).
Decode: greedy generation of exactly --new-tokens tokens per sequence (EOS ignored) against
generation of exactly 1 token; the difference is the time of the remaining decode steps, so
prefill cancels out. Each timing is the best of --repeats.
Engine: the same batch of chat requests of different lengths answered greedily with up to
--engine-tokens new tokens, by transformers' generate() with its default cache (before) and by
the engine's greedy loop (l2m.models.llm: cache written in place, ended sequences leave the
batch; after), with whether the tokens are identical.
Cache: the same batch of chat requests sent twice through the on-disk generation cache
(l2m.models.cache) in a scratch folder: the first call generates and stores, the second is
served from disk.
The result, with the machine's CPU model and flags, is written as json under
benchmarks/results/ and printed as a table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import RESULTS, new_report, write_report
from l2m.config import SMOLLM2
from l2m.data.hotpotqa import load_split
from l2m.models.cache import CachedChatModel, GenerationCache
from l2m.models.llm import Sampling, TransformersChatModel, until_eos


def conversations(batch: int, words: int = 0) -> list[list[dict]]:
    """Chat requests on HotpotQA questions; with `words`, the k-th also quotes (k + 1) * `words` words of
    its paragraphs and asks for a summary (requests of different lengths, answers of different lengths)."""
    requests = []
    for k, r in enumerate(load_split("train", limit=batch)):
        text = " ".join(" ".join(sentences) for _, sentences in r.context).split()[: (k + 1) * words]
        ask = f"Summarize: {' '.join(text)}" if words else "Answer briefly."
        requests.append([{"role": "user", "content": f"Question: {r.question} {ask}"}])
    return requests


def prompt_batch(llm: TransformersChatModel, batch: int, tokens: int) -> torch.Tensor:
    """`batch` different prompts of exactly `tokens` tokens, cut from HotpotQA paragraphs."""
    records = load_split("train", limit=batch)
    rows = []
    for record in records:
        text = " ".join(" ".join(sents) for _, sents in record.context)
        ids = llm.prompt_ids([{"role": "user", "content": f"Question: {record.question}\n{text}"}])
        while len(ids) < tokens:
            ids = ids + ids
        rows.append(ids[:tokens])
    return torch.tensor(rows, device=llm.choice.device)


def best_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.inference_mode()
def measure(llm: TransformersChatModel, batch: int, prompt_tokens: int, new_tokens: int, repeats: int) -> dict:
    ids = prompt_batch(llm, batch, prompt_tokens)
    mask = torch.ones_like(ids)
    llm.model(input_ids=ids[:, :16], attention_mask=mask[:, :16])  # warm-up

    def generate(count: int) -> None:
        llm.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=count,
            min_new_tokens=count,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=llm.tokenizer.pad_token_id,
        )

    first = best_seconds(lambda: generate(1), repeats)
    full = best_seconds(lambda: generate(new_tokens), repeats)
    return {
        "batch": batch,
        "prompt_tokens_per_s": round(batch * prompt_tokens / first, 1),
        "generated_tokens_per_s": round(batch * (new_tokens - 1) / max(full - first, 1e-9), 1),
        "generate_1_s": round(first, 3),
        "generate_s": round(full, 3),
    }


def measure_engine(llm: TransformersChatModel, batch: int, new_tokens: int) -> dict:
    prompts = [llm.prompt_ids(c) for c in conversations(batch, words=60)]
    padded = llm.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(llm.choice.device)
    eos = llm.model.generation_config.eos_token_id
    with torch.inference_mode():
        start = time.perf_counter()
        output = llm.model.generate(
            **padded, max_new_tokens=new_tokens, do_sample=False, pad_token_id=llm.tokenizer.pad_token_id
        )
        generate_s = time.perf_counter() - start
        start = time.perf_counter()
        fast = llm._greedy(padded, new_tokens)
        engine_s = time.perf_counter() - start
    reference = [until_eos(ids, eos) for ids in output[:, padded["input_ids"].shape[1] :].tolist()]
    return {
        "generate_s": round(generate_s, 2),
        "engine_s": round(engine_s, 2),
        "engine_speedup": round(generate_s / engine_s, 2),
        "engine_identical": fast == reference,
        "engine_new_tokens": [len(ids) for ids in fast],
    }


def measure_cache(llm: TransformersChatModel, batch: int, new_tokens: int) -> dict:
    sampling = Sampling(max_new_tokens=new_tokens)
    requests = conversations(batch)
    with tempfile.TemporaryDirectory() as scratch:
        cache = GenerationCache(Path(scratch) / "cache.sqlite")
        cached = CachedChatModel(llm, cache)
        uncached_s = best_seconds(lambda: cached.generate(requests, sampling), 1)
        hit_s = best_seconds(lambda: cached.generate(requests, sampling), 3)
        cache.close()
    return {
        "cache_miss_s": round(uncached_s, 3),
        "cache_hit_ms": round(1000 * hit_s, 2),
        "cache_speedup": round(uncached_s / hit_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=SMOLLM2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--prompt-tokens", type=int, default=700)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--engine-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    report = new_report("llm_throughput", args, model=args.model)
    for dtype in args.dtypes:
        llm = TransformersChatModel(args.model, dtype=dtype)
        for batch in args.batch_sizes:
            row = {
                "dtype": dtype,
                **measure(llm, batch, args.prompt_tokens, args.new_tokens, args.repeats),
                **measure_cache(llm, batch, args.new_tokens),
                **measure_engine(llm, batch, args.engine_tokens),
            }
            report["runs"].append(row)
            print(
                f"{dtype:9s} batch {batch:3d}: {row['prompt_tokens_per_s']:8.1f} prompt tok/s  {row['generated_tokens_per_s']:7.1f} generated tok/s"
                f"  cached batch {row['cache_hit_ms']:.1f} ms ({row['cache_speedup']}x)"
                f"  engine {row['engine_speedup']}x over generate() (identical: {row['engine_identical']})",
                flush=True,
            )
        del llm
    write_report(report, args.out or RESULTS / "llm_throughput.json")


if __name__ == "__main__":
    main()
