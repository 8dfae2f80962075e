"""The HTTP engine against fake OpenAI-compatible servers on loopback, and stacks of LoRAs as one.

What a real vLLM server does with the same requests is tests/test_vllm.py's part.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from l2m.calls import LLMRequest, user_message
from l2m.models.llm import AdapterNotServedError, EndpointError, OpenAIChatModel, Sampling
from l2m.models.lora import AdapterFormatError, combined_adapter
from l2m.runner import run_operations

MODEL = "test/model"


class FakeServer:
    """An OpenAI-compatible server in a thread: lists MODEL (and the adapters it loaded), answers
    chat completions with "Finish[x]" after `delay(body)` seconds (or with `status`, or `raw`
    bytes), and records what it was sent."""

    def __init__(
        self, delay=lambda body: 0.0, loads_adapters: bool = True, raw: bytes | None = None, status: int = 200
    ):
        self.delay, self.loads_adapters, self.raw, self.status = delay, loads_adapters, raw, status
        self.bodies: list[dict] = []
        self.loaded: dict[str, str] = {}
        self.active = self.most_active = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status: int, payload) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                ids = [MODEL, *server.loaded]
                self.send(200, {"data": [{"id": name} for name in ids]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/load_lora_adapter"):
                    if not server.loads_adapters:
                        return self.send(404, {"detail": "Not Found"})
                    server.loaded[body["lora_name"]] = body["lora_path"]
                    return self.send(200, b"Success")
                with server.lock:
                    server.bodies.append(body)
                    server.active += 1
                    server.most_active = max(server.most_active, server.active)
                time.sleep(server.delay(body))
                with server.lock:
                    server.active -= 1
                if server.status != 200:
                    return self.send(server.status, {"detail": "overloaded"})
                if server.raw is not None:
                    return self.send(200, server.raw)
                reply = {"content": "Finish[x]"}
                self.send(200, {"choices": [{"message": reply}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    made: list[FakeServer] = []

    def make(**options) -> FakeServer:
        made.append(FakeServer(**options))
        return made[-1]

    yield make
    for server in made:
        server.close()


def message(text: str = "hi"):
    return user_message(text)


# -- stacks of LoRAs ------------------------------------------------------------------------------


def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4
    )
    return LlamaForCausalLM(config)


def save_lora(model, folder: Path, seed: int, **lora) -> Path:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(init_lora_weights=False, **lora))
    peft_model.save_pretrained(folder)
    peft_model.unload()
    return folder


def test_a_stack_of_loras_is_served_as_one_lora_with_exactly_the_same_update(tmp_path):
    """Two adapters of other ranks, alphas and target modules (one rsLoRA), merged in turn, give
    the weights that their combined adapter gives when merged alone."""
    from peft import PeftModel

    first = save_lora(tiny_model(), tmp_path / "a", 1, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    second = save_lora(
        tiny_model(), tmp_path / "b", 2, r=2, lora_alpha=5, use_rslora=True, target_modules=["v_proj", "down_proj"]
    )
    stacked = tiny_model()
    for adapter in (first, second):
        stacked = PeftModel.from_pretrained(stacked, str(adapter)).merge_and_unload()
    combined = combined_adapter([first, second], tmp_path / "stacks")
    config = json.loads((combined / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (6, 6)
    assert set(config["target_modules"]) == {"q_proj", "v_proj", "down_proj"}
    served = PeftModel.from_pretrained(tiny_model(), str(combined)).merge_and_unload()
    base = tiny_model().state_dict()
    changed = 0
    for name, weight in stacked.state_dict().items():
        torch.testing.assert_close(served.state_dict()[name], weight, rtol=0, atol=1e-6)
        changed += not torch.equal(weight, base[name])
    assert changed == 2 * 3  # q, v and down_proj in each of the two layers
    assert combined_adapter([first, second], tmp_path / "stacks") == combined  # written once


def test_an_adapter_that_is_more_than_a_plain_lora_is_refused(tmp_path):
    dora = save_lora(tiny_model(), tmp_path / "dora", 1, r=2, lora_alpha=4, target_modules=["q_proj"], use_dora=True)
    with pytest.raises(AdapterFormatError, match="use_dora is set"):
        combined_adapter([dora, dora], tmp_path / "stacks")
    with pytest.raises(AdapterFormatError, match="not a PEFT LoRA adapter folder"):
        combined_adapter([tmp_path], tmp_path / "stacks")


# -- adapters over HTTP ---------------------------------------------------------------------------


def test_requests_name_the_served_stack_and_the_cache_key_names_the_adapters(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    first = save_lora(tiny_model(), tmp_path / "a", 1, r=2, lora_alpha=4, target_modules=["q_proj"])
    second = save_lora(tiny_model(), tmp_path / "b", 2, r=2, lora_alpha=4, target_modules=["q_proj"])
    server = servers()
    base = OpenAIChatModel(MODEL, server.url)
    tuned = OpenAIChatModel(MODEL, server.url, adapters=[first, second])
    tuned.generate([message()], Sampling(4))
    assert server.bodies[-1]["model"] == tuned.served_name != MODEL
    assert server.loaded == {tuned.served_name: str(tuned.served_adapter.resolve())}
    assert tuned.served_adapter.parent == tmp_path / "cache" / "adapter-stacks"
    assert tuned.name != base.name and tuned.name.startswith(f"{MODEL}@{server.url}|adapters=[")


def test_an_endpoint_that_cannot_serve_an_adapter_refuses_naming_it(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    adapter = save_lora(tiny_model(), tmp_path / "agent_adapter-x", 1, r=2, lora_alpha=4, target_modules=["q_proj"])
    model = OpenAIChatModel(MODEL, servers(loads_adapters=False).url, adapters=[adapter])
    with pytest.raises(
        AdapterNotServedError, match=r"does not serve adapter l2m-\w+ \(agent_adapter-x\).*--lora-modules"
    ):
        model.generate([message()], Sampling(4))


def test_a_run_that_needs_an_unserved_adapter_stops_in_one_line_and_writes_no_results(
    servers, tmp_path, monkeypatch, capsys
):
    """l2m.evaluate with FUMemory, whose agent role needs the agent adapter, against an endpoint
    that neither lists nor loads it: one `error:` line naming the method and the adapter, exit 2,
    no results.csv, and not one chat completion asked."""
    from l2m import config, evaluate
    from l2m.workspace import Workspace

    adapter = save_lora(tiny_model(), tmp_path / "agent_adapter-x", 1, r=2, lora_alpha=4, target_modules=["q_proj"])
    server = servers(loads_adapters=False)
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(Workspace, "agent_adapter", adapter)
    monkeypatch.setenv("L2M_LLM_ENDPOINT", server.url)
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    data = config.DATA_DIR / "hotpot_dev_distractor_subset.json"
    monkeypatch.setattr(config, "PROFILES", {"smoke": config.PROFILES["smoke"].replace(llm=MODEL)})
    assert evaluate.main(["--method", "FUMemory", "--data", str(data), "--profile", "smoke", "--limit", "1"]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]  # beside progress bars
    assert error.split("error: ", 1)[1].startswith("FUMemory needs an adapter")
    assert "agent_adapter-x" in error
    assert not (tmp_path / "runs" / "smoke" / "results.csv").exists()
    assert server.bodies == []


# -- requests in flight, several servers ----------------------------------------------------------


def asks(name: str, times: int):
    for _ in range(times):
        yield LLMRequest("agent", "think", message(name), Sampling(4))
    return name


def test_over_an_endpoint_no_episode_waits_for_another_ones_round(servers):
    """One slow operation (its server reply takes 1 s) beside four fast ones of three calls each:
    in lockstep every round would wait for the slow reply, so the fast ones could not finish first;
    with requests in flight all four finish before it, and requests overlap at the server."""
    server = servers(delay=lambda body: 1.0 if body["messages"][0]["content"] == "slow" else 0.05)
    model = OpenAIChatModel(MODEL, server.url, max_in_flight=8)
    finished: list[str] = []
    operations = [asks("slow", 1), *(asks(f"fast{i}", 3) for i in range(4))]
    results = run_operations(operations, {"agent": model}, max_live=8, on_done=lambda i, name: finished.append(name))
    assert results == ["slow", "fast0", "fast1", "fast2", "fast3"]
    assert finished[-1] == "slow"
    assert server.most_active >= 2


def test_several_endpoints_share_the_requests_and_a_failing_one_is_retried_on_the_next(servers):
    first, second = servers(), servers()
    model = OpenAIChatModel(MODEL, f"{first.url}, {second.url}")
    model.generate([message(str(i)) for i in range(8)], Sampling(4))
    assert len(first.bodies) == len(second.bodies) == 4
    overloaded = servers(status=503)
    model = OpenAIChatModel(MODEL, [first.url, overloaded.url], backoff_seconds=0.01)
    texts = [g.text for g in model.generate([message(str(i)) for i in range(4)], Sampling(4))]
    assert texts == ["Finish[x]"] * 4
    assert len(overloaded.bodies) == 2 and len(first.bodies) == 4 + 4


def test_a_constrained_request_sends_vllms_structured_output_regex(servers):
    server = servers()
    OpenAIChatModel(MODEL, server.url).generate([message()], Sampling(8, constraint=r"Finish\[\w+\]"))
    assert server.bodies[-1]["structured_outputs"] == {"regex": r"Finish\[\w+\]"}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"<html>busy</html>", "reply is not a JSON object"), (b'{"id": 1}', "a chat completion reply without 'choices'")],
)
def test_a_malformed_reply_is_one_line_naming_the_endpoint_and_request(servers, raw, problem):
    server = servers(raw=raw)
    with pytest.raises(EndpointError, match=problem) as caught:
        OpenAIChatModel(MODEL, server.url).generate([message()], Sampling(4))
    assert server.url in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("spec", ["", "localhost:8000", "http://a/v1,,ftp://b"])
def test_an_endpoint_that_is_not_a_list_of_urls_is_refused(spec):
    with pytest.raises(ValueError, match="comma-separated http"):
        OpenAIChatModel(MODEL, spec)


def test_serving_without_a_vllm_interpreter_says_how_to_get_one(monkeypatch, capsys):
    from l2m import serve

    monkeypatch.setenv("L2M_VLLM_PYTHON", "/nonexistent/bin/python")
    assert serve.main(["--profile", "smoke", "--", "true"]) == 1
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith("error: no vLLM interpreter at /nonexistent/bin/python") and "--engine vllm" in error
