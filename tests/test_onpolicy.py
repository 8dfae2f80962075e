"""The on-policy loop (Algorithm 1): two epochs change and save every stage; an interrupted loop resumes."""

import dataclasses
import json
import re

import pytest
from safetensors.torch import load_file

from conftest import HashingEncoder, ScriptedChatModel
from l2m.config import get_profile
from l2m.onpolicy import OnPolicyLoop, OnPolicySettings, Parameters
from l2m.retrieval.training import RetrievalTrainSettings
from l2m.utilization.training import DPOSettings
from l2m.workspace import Workspace

START = Parameters(gate=None, aggregator=(), hint="No hint.")
SETTINGS = OnPolicySettings(
    epochs=2,
    trajectories=2,
    reflection_chunk=2,
    retrieval=RetrievalTrainSettings(lr=0.05, epochs=3, trained="all"),
    dpo=DPOSettings(lr=1e-3, grad_accum=1, max_steps=1),
)


def agent(prompt: str) -> str:
    if "Search[entity]" not in prompt:
        return "I should search."
    return "Finish[England]" if "Observation (Step 2)" in prompt else "Search[Verulamium]"


class MemoryModel(ScriptedChatModel):
    """Extractions and merges that keep every answer of the loop's questions (so every trajectory is a
    success by answer-in-context); each consolidation writes a new hint."""

    def __init__(self, answers: list[str]):
        super().__init__(self.reply)
        self.answers = answers

    def reply(self, prompt: str) -> str:
        if prompt.startswith("Current hint"):
            revision = re.search(r"\(revision (\d+)\)", prompt.split("\n")[0])
            return f"Keep places and countries (revision {int(revision.group(1)) + 1 if revision else 1})."
        return "Known answers: " + "; ".join(self.answers) + "."


class AggregatorModels(dict):
    """ws.aggregator_llm stand-in: one scripted model per adapter stack, remembered by name."""

    def __init__(self, respond):
        super().__init__()
        self.respond = respond

    def __call__(self, names):
        return self.setdefault(tuple(names), ScriptedChatModel(self.respond))


def workspace(run_dir) -> Workspace:
    ws = Workspace(get_profile("smoke").replace(live_episodes=2), run_dir=run_dir)
    questions = [r for epoch in (1, 2) for r in OnPolicyLoop(ws, START, SETTINGS).questions(epoch)]
    ws.llm = MemoryModel([r.answer for r in questions])
    ws.encoder, ws.agent_llm, ws.agent_adapter = HashingEncoder(), ScriptedChatModel(agent), None
    ws.aggregator_llm = AggregatorModels(ws.llm.reply)
    return ws


@pytest.fixture(scope="module")
def interrupted_then_resumed(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    ws = workspace(run_dir)
    first = OnPolicyLoop(ws, START, SETTINGS)
    assert len(first.run(until=1)) == 1
    epoch1 = (first.epoch_folder(1) / "state.json").read_bytes()

    def killed(*args):
        raise KeyboardInterrupt("killed during epoch 2's utilization stage")

    first.update_aggregator = killed
    with pytest.raises(KeyboardInterrupt):
        first.run()
    assert len(first.finished()) == 1 and not first.epoch_folder(2).exists()
    agent_calls = ws.agent_llm.calls
    resumed = OnPolicyLoop(workspace(run_dir), START, SETTINGS)
    states = resumed.run()
    return resumed, states, epoch1, agent_calls


@pytest.mark.model
def test_two_epochs_change_and_save_every_stage(interrupted_then_resumed):
    loop, states, _, _ = interrupted_then_resumed
    assert [s["epoch"] for s in states] == [1, 2]
    artifacts = loop.ws.run_dir / "artifacts"
    before = START
    for state in states:
        after = Parameters.from_dict(state["parameters"])
        assert state["successes"] == 2 and state["pairs"] > 0 and state["merge_samples"] > 0
        # Storage: a new hint; retrieval: a new gate; utilization: a new SFT and DPO adapter stacked.
        assert after.hint != before.hint and after.hint.startswith("Keep places")
        assert after.gate != before.gate and (artifacts / after.gate / "params.safetensors").is_file()
        assert after.aggregator[:-2] == before.aggregator and len(after.aggregator) == len(before.aggregator) + 2
        for name in after.aggregator[-2:]:
            assert (artifacts / name / "adapter_model.safetensors").is_file()
            loop.ws.checked(artifacts / name)
        before = after
    first, second = (load_file(loop.ws.run_dir / "artifacts" / s["parameters"]["gate"] / "params.safetensors") for s in states)
    assert any(not first[k].equal(second[k]) for k in first)
    # Epoch 2 sampled with epoch 1's parameters: its merges went to epoch 1's adapter stack.
    epoch1 = Parameters.from_dict(states[0]["parameters"])
    episodes = loop.ws.run_method(loop.method_after(1), loop.questions(2))
    roles = {c["role"] for e in episodes for s in e["step_records"] for c in s["recall"]["llm_calls"] if c["stage"] == "merge"}
    assert roles == {"aggregator:" + "+".join(epoch1.aggregator)}
    assert {e["step_records"][0]["recall"]["store"]["hint"] for e in episodes} == {epoch1.hint}
    sft_manifest = json.loads((artifacts / states[1]["parameters"]["aggregator"][-2] / "manifest.json").read_text())
    assert sft_manifest["base_adapters"] == states[0]["parameters"]["aggregator"]


@pytest.mark.model
def test_a_loop_interrupted_in_epoch_2_resumes_there(interrupted_then_resumed):
    loop, states, epoch1, _ = interrupted_then_resumed
    # Epoch 1 was not redone, and epoch 2's episodes (played before the interruption) were reused.
    assert (loop.epoch_folder(1) / "state.json").read_bytes() == epoch1
    assert loop.ws.agent_llm.calls == 0
    assert loop.parameters_after(2) == Parameters.from_dict(states[1]["parameters"])
    with pytest.raises(ValueError, match="has not finished"):
        loop.parameters_after(3)


@pytest.mark.model
def test_reflection_records_caps_an_epochs_reflections(interrupted_then_resumed):
    loop, _, _, _ = interrupted_then_resumed
    episodes = loop.ws.run_method(loop.method_after(0), loop.questions(1))
    capped = OnPolicyLoop(loop.ws, START, dataclasses.replace(SETTINGS, reflection_records=1))
    _, all_experiences = loop.update_hint(episodes, START.hint)
    hint, experiences = capped.update_hint(episodes, START.hint)
    assert all_experiences > 1 and experiences == 1
    assert hint == START.hint  # one experience is no full chunk of 2: the hint stays
