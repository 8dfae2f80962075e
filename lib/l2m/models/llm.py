"""Chat models behind one batched interface.

`ChatModel.generate(conversations, sampling)` answers a whole batch of conversations at once;
the episode runner sends it the calls of every live episode together. Two backends:

* `TransformersChatModel`: a local model (GGUF file, folder, or cached hub id) through
  transformers, on CUDA when present, else on the CPU in the dtype that `choose_device`
  measures to be faster; LoRA adapters are merged into the weights in the order given.
* `OpenAIChatModel`: any OpenAI-compatible endpoint (e.g. a vLLM server), with bounded
  retries and exponential backoff.

`l2m.models.cache.CachedChatModel` wraps either with an on-disk cache.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence

import httpx
import torch
from transformers import GenerationConfig

from l2m.artifacts import file_sha256, staged_folder
from l2m.models.device import DeviceChoice, choose_device
from l2m.models.kv_cache import GrowingCache
from l2m.models.lora import combined_adapter, stack_key
from l2m.models.registry import ResolvedModel, resolve_model

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """Decoding settings; part of every cache key. temperature 0 means greedy.

    `constraint`, when set, is a regular expression the whole output must match: the local
    backend enforces it token by token with xgrammar, the HTTP backend sends it as vLLM's
    structured-output regex.
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    constraint: str | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    # Wall seconds of the batch this generation was part of, divided by the batch size.
    seconds: float
    cached: bool = False


class ChatModel(Protocol):
    # Identifies the weights (and adapters and dtype) for cache keys and records.
    name: str
    # 0: a batch engine, sent every waiting request at once (lockstep); N > 0: a server that batches
    # by itself, sent each request as soon as an episode asks it (l2m.runner). Absent means 0.
    max_in_flight: int

    def generate(self, conversations: Sequence[Messages], sampling: Sampling) -> list[Generation]: ...


def conversion_cache_dir() -> Path:
    return Path(os.environ.get("L2M_CACHE", Path.home() / ".cache" / "l2m")) / "converted"


# Bumped when the converted folder's layout changes, so an older conversion is not reused.
CONVERSION_FORMAT = 2


def converted_folder(resolved: ResolvedModel) -> Path:
    """The folder a model is loaded from: a GGUF file's safetensors conversion, or its own folder."""
    return _convert_gguf(resolved) if resolved.gguf_file else resolved.folder


def _convert_gguf(resolved: ResolvedModel) -> Path:
    """A safetensors copy of a GGUF model, made once (de-quantising takes ~20 s, loading it 0.5 s).

    Written by save_pretrained, as any Hugging Face folder: the config names the architecture and
    a tied embedding is stored under the embedding's name, so other engines (vLLM) read the folder
    as transformers does. (Format 1 stored the tied weight as lm_head.weight only, and vLLM, which
    skips lm_head when embeddings are tied, then served an all-zero embedding: every greedy output
    was <|endoftext|>.) Written to a temporary folder and renamed, so an interrupted conversion
    leaves nothing that a later load would trust.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    digest = file_sha256(resolved.path)[:16]
    target = conversion_cache_dir() / f"{resolved.path.stem}-{digest}-v{CONVERSION_FORMAT}"
    if (target / "model.safetensors").is_file():
        return target
    tokenizer = AutoTokenizer.from_pretrained(resolved.folder, gguf_file=resolved.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(resolved.folder, gguf_file=resolved.gguf_file, dtype=torch.float32)
    # The de-quantised weights are plain fp32; drop the GGUF markers that block saving.
    model.config.__dict__.pop("quantization_config", None)
    model.hf_quantizer = None
    with staged_folder(target) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return target


# Generation-config fields that make transformers' generate() alter the logits even when greedy.
LOGIT_CHANGING_SETTINGS = (
    "repetition_penalty",
    "encoder_repetition_penalty",
    "no_repeat_ngram_size",
    "bad_words_ids",
    "sequence_bias",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "min_length",
    "min_new_tokens",
    "exponential_decay_length_penalty",
    "renormalize_logits",
)


class TransformersChatModel:
    def __init__(
        self,
        model_name: str,
        *,
        dtype: str = "auto",
        batch_size: int = 8,
        adapters: Sequence[str | Path] = (),
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.resolved = resolve_model(model_name)
        self.choice: DeviceChoice = choose_device(dtype)
        self.batch_size = batch_size
        folder = converted_folder(self.resolved)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        hf_logging.disable_progress_bar()  # loading a converted model takes under a second
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=self.choice.dtype, attn_implementation="sdpa")
        hf_logging.enable_progress_bar()
        self._grammars: dict[str, object] = {}
        self.adapters = tuple(Path(a) for a in adapters)
        for adapter in self.adapters:
            model = _merge_adapter(model, adapter)
        self.model = model.to(self.choice.device).eval()
        self.name = f"{model_name}|{self.choice.dtype_name}|adapters=[{adapter_ids(self.adapters)}]"
        # A batch engine: the runner sends it every waiting request at once (l2m.runner).
        self.max_in_flight = 0

    def prompt_ids(self, messages: Messages) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, conversations: Sequence[Messages], sampling: Sampling) -> list[Generation]:
        prompts = [self.prompt_ids(m) for m in conversations]
        # Length-bucketed batches: neighbours in length share a batch, so padding stays small.
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, gen in zip(chunk, self._generate_batch([prompts[i] for i in chunk], sampling)):
                results[i] = gen
        return results

    def _constraint_processor(self, pattern: str):
        """A fresh xgrammar logits processor (it keeps per-sequence state) for a cached grammar."""
        import xgrammar as xgr

        if pattern not in self._grammars:
            info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size)
            self._grammars[pattern] = xgr.GrammarCompiler(info).compile_regex(pattern)
        return xgr.contrib.hf.LogitsProcessor(self._grammars[pattern])

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        batch = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.choice.device)
        start = time.perf_counter()
        if sampling.greedy and not sampling.constraint and self._greedy_is_plain:
            generated = self._greedy(batch, sampling.max_new_tokens)
        else:
            generated = self._generate(batch, sampling)
        seconds = (time.perf_counter() - start) / len(prompts)
        return [
            Generation(
                text=self.tokenizer.decode(ids, skip_special_tokens=True),
                prompt_tokens=len(prompt),
                completion_tokens=len(ids),
                seconds=seconds,
            )
            for prompt, ids in zip(prompts, generated)
        ]

    def _generate(self, batch, sampling: Sampling) -> list[list[int]]:
        """transformers' generate: sampling, constrained decoding, and models whose generation
        config changes greedy decoding."""
        options = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        if not sampling.greedy:
            torch.manual_seed(sampling.seed)
            options = dict(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=None)
        if sampling.constraint:
            options["logits_processor"] = [self._constraint_processor(sampling.constraint)]
        output = self.model.generate(
            **batch,
            max_new_tokens=sampling.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            past_key_values=GrowingCache(),
            **options,
        )
        eos = self.model.generation_config.eos_token_id
        return [until_eos(ids, eos) for ids in output[:, batch["input_ids"].shape[1] :].tolist()]

    @cached_property
    def _greedy_is_plain(self) -> bool:
        """Whether greedy decoding is a plain argmax: no generation-config setting (a repetition
        penalty, banned words...) would make generate() change the logits."""
        config, default = self.model.generation_config, GenerationConfig()
        return all(getattr(config, name, None) == getattr(default, name) for name in LOGIT_CHANGING_SETTINGS)

    def _greedy(self, batch, max_new_tokens: int) -> list[list[int]]:
        """Greedy decoding that takes each sequence out of the batch once it has ended.

        generate() keeps finished sequences in the batch, padding them until the longest ends; a
        merge of 60 tokens beside one of 128 then costs 128 steps. Here a step runs only the
        sequences still going. The tokens are generate()'s: the same forward pass, positions
        counted from the attention mask as generate() counts them, argmax (tests/test_models.py).
        """
        stops = stop_ids(self.model.generation_config.eos_token_id)
        mask = batch["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = GrowingCache()
        logits = self.model(
            input_ids=batch["input_ids"],
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            logits_to_keep=1,
        ).logits
        active = list(range(len(mask)))
        generated: list[list[int]] = [[] for _ in active]
        for step in range(max_new_tokens):
            tokens = logits[:, -1].argmax(-1)
            going = []
            for row, token in enumerate(tokens.tolist()):
                generated[active[row]].append(token)
                if token not in stops:
                    going.append(row)
            if not going or step == max_new_tokens - 1:
                break
            if len(going) < len(active):
                rows = torch.tensor(going, device=mask.device)
                cache.batch_select_indices(rows)
                mask, positions, tokens = mask[rows], positions[rows], tokens[rows]
                active = [active[row] for row in going]
            mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
            positions = positions[:, -1:] + 1
            logits = self.model(
                input_ids=tokens[:, None], attention_mask=mask, position_ids=positions, past_key_values=cache
            ).logits
        return generated


def stop_ids(eos: int | list[int] | None) -> set[int | None]:
    """A generation config's end-of-sequence id (or ids) as a set."""
    return set(eos if isinstance(eos, list) else [eos])


def until_eos(ids: list[int], eos: int | list[int] | None) -> list[int]:
    """The generated ids up to and including the first end-of-sequence token."""
    stops = stop_ids(eos)
    for k, token in enumerate(ids):
        if token in stops:
            return ids[: k + 1]
    return ids


def _merge_adapter(model, adapter: Path):
    """Stack one LoRA adapter by merging it into the weights (PAPER §3.3: SFT, then DPO, ...)."""
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter}: not a PEFT adapter folder (no adapter_config.json)")
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


class EndpointError(RuntimeError):
    pass


class AdapterNotServedError(EndpointError):
    """An endpoint that neither lists an adapter a model needs nor loads it on request."""


def endpoint_urls(spec: str | Sequence[str]) -> list[str]:
    """One or several OpenAI-compatible base URLs ("http://a:8000/v1,http://b:8000/v1")."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    urls = [part.strip().rstrip("/") for part in parts if part.strip()]
    bad = [url for url in urls if not url.startswith(("http://", "https://"))]
    if not urls or bad:
        raise ValueError(
            f"endpoint {spec!r}: expected comma-separated http(s):// base URLs, e.g. http://127.0.0.1:8000/v1"
        )
    return urls


def adapter_ids(adapters: Sequence[Path]) -> str:
    """What a model's name says of its adapters: each one's weights hash, in stacking order."""
    return ",".join(file_sha256(a / "adapter_model.safetensors")[:12] for a in adapters)


def stacks_dir() -> Path:
    """Where stacks of adapters are written as one adapter for a server (l2m.models.lora)."""
    return conversion_cache_dir().parent / "adapter-stacks"


class OpenAIChatModel:
    """OpenAI-compatible /chat/completions endpoints (vLLM), with the adapters a role needs.

    Several base URLs spread the requests over several servers (round robin; a retry goes to the
    next one). With `adapters`, the stack is served as one LoRA (l2m.models.lora.combined_adapter)
    named by its contents, and each request names it as its `model`. Before the first request
    every server is checked: it must list the base model, and list the adapter or load it on
    request (vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); otherwise AdapterNotServedError.
    A batch goes out as concurrent requests; `max_in_flight` bounds them.
    """

    def __init__(
        self,
        model_name: str,
        base_urls: str | Sequence[str],
        *,
        adapters: Sequence[str | Path] = (),
        api_key: str | None = None,
        max_retries: int = 4,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 120.0,
        max_in_flight: int = 16,
    ):
        self.model_name = model_name
        self.urls = endpoint_urls(base_urls)
        self.adapters = tuple(Path(a) for a in adapters)
        self.name = f"{model_name}@{','.join(self.urls)}|adapters=[{adapter_ids(self.adapters)}]"
        self.served_adapter = combined_adapter(self.adapters, stacks_dir()) if self.adapters else None
        self.served_name = f"l2m-{stack_key(self.adapters)}" if self.adapters else model_name
        self.headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY', 'EMPTY')}"}
        self.max_retries, self.backoff_seconds = max_retries, backoff_seconds
        self.timeout_seconds, self.max_in_flight = timeout_seconds, max_in_flight
        self._turns = itertools.count()
        self._ready = threading.Lock()
        self._checked = False

    def generate(self, conversations: Sequence[Messages], sampling: Sampling) -> list[Generation]:
        self.check_servers()
        if len(conversations) == 1:
            return [self._complete(conversations[0], sampling)]
        with ThreadPoolExecutor(max_workers=self.max_in_flight) as pool:
            return list(pool.map(lambda m: self._complete(m, sampling), conversations))

    def check_servers(self) -> None:
        """Once: every server lists the base model and serves the adapter (loading it if need be)."""
        with self._ready:
            if not self._checked:
                for url in self.urls:
                    self._check_server(url)
                self._checked = True

    def _check_server(self, url: str) -> None:
        served = {entry.get("id") for entry in self._request("GET", url, "/models", "model list").get("data", [])}
        if self.model_name not in served:
            raise EndpointError(
                f"{url} serves {', '.join(sorted(map(str, served))) or 'no model'}, not {self.model_name!r}; "
                f"start it with --served-model-name {self.model_name}"
            )
        if self.served_adapter is None or self.served_name in served:
            return
        body = {"lora_name": self.served_name, "lora_path": str(self.served_adapter.resolve())}
        try:
            self._send("POST", url, "/load_lora_adapter", "adapter load", body)  # vLLM replies in plain text
        except EndpointError as err:
            rank = json.loads((self.served_adapter / "adapter_config.json").read_text())["r"]
            stack = " + ".join(a.name for a in self.adapters)
            raise AdapterNotServedError(
                f"{url} does not serve adapter {self.served_name} ({stack}) and did not load it ({err}); "
                f"serve it with --enable-lora --max-lora-rank {rank} or more and "
                f"--lora-modules {self.served_name}={body['lora_path']} (or VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)"
            ) from None

    def _complete(self, messages: Messages, sampling: Sampling) -> Generation:
        body = {
            "model": self.served_name,
            "messages": messages,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
        }
        if sampling.constraint:
            # vLLM's structured outputs (vLLM 0.32; older versions called it "guided_regex").
            body["structured_outputs"] = {"regex": sampling.constraint}
        start = time.perf_counter()
        url = self.urls[next(self._turns) % len(self.urls)]
        reply = self._request("POST", url, "/chat/completions", "chat completion", body, spread=True)
        try:
            usage = reply.get("usage") or {}
            text = reply["choices"][0]["message"]["content"] or ""
            prompt_tokens, completion_tokens = (
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            raise EndpointError(f"{url}: a chat completion reply without {err!s} ({str(reply)[:200]})") from None
        return Generation(text, prompt_tokens, completion_tokens, seconds=time.perf_counter() - start)

    def _request(
        self, method: str, url: str, path: str, kind: str, body: dict | None = None, *, spread: bool = False
    ) -> dict:
        """The JSON object a server replies to one request, or EndpointError in one line."""
        response = self._send(method, url, path, kind, body, spread=spread)
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise EndpointError(f"{response.url}: the {kind} reply is not a JSON object ({response.text[:200]!r})")
        return reply

    def _send(
        self, method: str, url: str, path: str, kind: str, body: dict | None = None, *, spread: bool = False
    ) -> httpx.Response:
        """One request, retried with exponential backoff on connection errors, 429 and 5xx (with
        `spread`, each retry on the next server); any other refusal is an EndpointError."""
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                if spread:
                    url = self.urls[(self.urls.index(url) + 1) % len(self.urls)]
            try:
                response = httpx.request(
                    method, url + path, json=body, headers=self.headers, timeout=self.timeout_seconds
                )
            except httpx.HTTPError as err:
                last_error = f"{type(err).__name__}: {err}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last_error = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise EndpointError(
                    f"{url}{path} refused the {kind}: HTTP {response.status_code} {response.text[:300]}"
                )
            return response
        raise EndpointError(
            f"{url}{path} did not answer the {kind} after {self.max_retries + 1} attempts ({last_error}); "
            "is the server running and reachable?"
        )
