"""A real vLLM server on loopback, started by the project (l2m.serve), against the in-process engine.

Needs .venv-vllm (`./reproduce.sh test --engine vllm` creates it; CI does). Both engines run
SmolLM2-135M in fp32 with the committed cpu run's adapters: the task-tuned agent adapter and the
aggregator stack of an on-policy run's fifth epoch (ten LoRAs, served as one of rank 80).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from l2m.config import REPO_ROOT, SMOLLM2, get_profile
from l2m.models import load_llm
from l2m.models.agreement import compare_engines, logged_calls, project_prompts
from l2m.models.llm import TransformersChatModel
from l2m.serve import ServerError, ServerSettings, VLLMServer, free_port, vllm_python

CPU_RUN = REPO_ROOT / "runs" / "cpu"
ARTIFACTS = CPU_RUN / "artifacts"
AGENT_ADAPTER = ARTIFACTS / "agent_adapter-c55458d0d1c9"
ONPOLICY_EPOCH = ARTIFACTS / "onpolicy-783117035e6c" / "epoch-5" / "state.json"
PROMPT_LOG = CPU_RUN / "episodes" / "0252217f50b3" / "Ours-def.jsonl"

try:
    vllm_python()
except ServerError as missing:
    pytest.skip(f"no vLLM venv: {missing}", allow_module_level=True)

pytestmark = pytest.mark.model


def aggregator_stack() -> list[Path]:
    names = json.loads(ONPOLICY_EPOCH.read_text())["parameters"]["aggregator"]
    return [ARTIFACTS / name for name in names]


@pytest.fixture(scope="module")
def profile():
    return get_profile("smoke").replace(dtype="float32")


@pytest.fixture(scope="module")
def server(profile, tmp_path_factory):
    settings = ServerSettings(port=free_port(), kv_cache_gib=2, max_lora_rank=128)
    with VLLMServer(profile, settings, log_path=tmp_path_factory.mktemp("vllm") / "server.log") as running:
        yield running


def served_models(server) -> set[str]:
    return {entry["id"] for entry in httpx.get(server.url + "/models", timeout=10).json()["data"]}


def local(adapters=()) -> TransformersChatModel:
    return TransformersChatModel(SMOLLM2, dtype="float32", batch_size=16, adapters=adapters)


def remote_model(server, profile, adapters=()):
    return load_llm(profile.replace(llm_endpoint=server.url), adapters=adapters)


def test_vllm_agrees_with_the_in_process_engine_with_and_without_adapters(server, profile):
    """64 project prompts (16 each of think, act, extract, merge) greedy on both engines, then the
    think/act prompts with the agent adapter and the extract/merge prompts with the ten-adapter
    aggregator stack: at least 95% identical outputs; every mismatch printed with its first
    differing token."""
    prompts = project_prompts(PROMPT_LOG, get_profile("cpu"), per_stage=16)
    agent_prompts = [p for p in prompts if p.stage in ("think", "act")]
    memory_prompts = [p for p in prompts if p.stage in ("extract", "merge")]
    tokenizer = local().tokenizer
    cases = {
        "base": ((), prompts),
        "agent adapter": ([AGENT_ADAPTER], agent_prompts),
        "aggregator stack": (aggregator_stack(), memory_prompts),
    }
    for name, (adapters, cases_prompts) in cases.items():
        results = compare_engines(local(adapters), remote_model(server, profile, adapters), cases_prompts, tokenizer)
        same = sum(c.same for c in results)
        print(f"{name}: {same}/{len(results)} identical")
        for c in results:
            if not c.same:
                print(f"  {c.stage}: token {c.first_difference}: {c.reference_token!r} vs {c.other_token!r}")
        assert same >= 0.95 * len(results), name


def play_with_adapters(profile, run_dir: Path) -> list[dict]:
    """Two easy questions with the agent adapter and the adaptive memory merging through the
    aggregator stack, scorers from the committed cpu run; the episodes' logs."""
    from l2m.agent import Agent
    from l2m.workspace import Workspace

    ws = Workspace(profile, run_dir=run_dir)
    ws.scorers_folder = Workspace(get_profile("cpu")).scorers_folder
    ws.aggregator_llm = lambda names: load_llm(profile, adapters=aggregator_stack())

    def memory(record):
        return ws.adaptive_memory(aggregator=("stack",))

    agent_llm = load_llm(profile, adapters=[AGENT_ADAPTER])
    return ws.play(ws.test_questions("easy"), Agent.from_profile(profile), memory, agent_llm=agent_llm)


def outputs(episodes: list[dict]) -> list[tuple[str, str]]:
    return [(call["stage"], call["output"]) for episode in episodes for call in logged_calls(episode)]


def test_episodes_through_the_server_apply_the_adapters(server, tmp_path):
    """Episodes played over HTTP with the agent adapter and the aggregator stack: the server lists
    both adapters, and every LLM output (think, act, extract, merge) equals the in-process play."""
    profile = get_profile("cpu").replace(dtype="float32", test_questions=2, max_steps=3)
    remote = play_with_adapters(profile.replace(llm_endpoint=server.url), tmp_path / "http")
    served = served_models(server) - {profile.llm}
    here = play_with_adapters(profile, tmp_path / "local")
    assert len(served) >= 2  # the agent adapter and the stack, each under its l2m-<key> name
    assert {"think", "act", "merge"} <= {stage for stage, _ in outputs(here)}
    assert outputs(remote) == outputs(here)
