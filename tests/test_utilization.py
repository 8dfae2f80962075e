"""Utilization training: merge samples, the programmatic expert, SFT and DPO on the small model."""

import pytest

from conftest import HashingEncoder
from l2m.config import SMOLLM2
from l2m.training.sft import SFTSettings
from l2m.utilization.expert import ProgrammaticMerge, sentences
from l2m.utilization.samples import MergeSample, merge_samples


def episode(units, ranking, intermediate, question="Where is Paris?"):
    recall = {"retrieve": {"units": units, "ranking": ranking}, "utilize": {"intermediate": intermediate}}
    return {"question": question, "step_records": [{"recall": {}}, {"recall": recall}]}


def test_samples_are_every_merge_of_a_chain_that_ran_to_the_end():
    full = episode(["a", "b", "c"], [2, 0, 1], ["c", "c a", "c a b"])
    stopped = episode(["a", "b", "c"], [2, 0, 1], ["c", "c a"])
    single = episode(["a"], [0], ["a"])
    assert merge_samples([full, stopped, single]) == [
        MergeSample("Where is Paris?", "c", "a"),
        MergeSample("Where is Paris?", "c a", "b"),
    ]
    assert merge_samples([full], word_limit=2) == []


def test_programmatic_merge_keeps_the_context_and_skips_near_duplicates():
    expert = ProgrammaticMerge(HashingEncoder(), threshold=0.9)
    context = "Paris is the capital of France. It lies on the Seine."
    memory = "Paris is the capital of France. The Louvre is in Paris. It lies on the Seine."
    merged = expert.merge(MergeSample("q", context, memory))
    assert merged.startswith(context)
    assert merged == context + " The Louvre is in Paris."
    # Nothing repeated: every sentence of the result appears once.
    assert len(sentences(merged)) == len(set(sentences(merged)))


def test_programmatic_merge_caps_only_what_it_adds():
    expert = ProgrammaticMerge(HashingEncoder(), word_limit=12)
    context = "one two three four five six seven eight nine ten eleven twelve thirteen."
    merged = expert.merge(MergeSample("q", context, "Something new entirely."))
    assert merged == context  # over the cap already: nothing added, nothing dropped


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory):
    from l2m.utilization.training import train_sft_aggregator

    samples = [MergeSample("Where is Paris?", "Paris is in France.", "Paris has the Louvre.")] * 2
    target = tmp_path_factory.mktemp("aggregator") / "sft"
    settings = SFTSettings(lr=5e-3, epochs=1, micro_batch=1, grad_accum=1)
    return train_sft_aggregator(SMOLLM2, samples, ["ZEBRA ZEBRA ZEBRA"] * 2, target, settings=settings), samples


@pytest.mark.model
def test_two_step_sft_saves_an_adapter_that_changes_the_output(sft_adapter):
    from l2m.models import Sampling
    from l2m.models.llm import TransformersChatModel
    from l2m.utilization.training import merge_messages, read_manifest

    adapter, samples = sft_adapter
    assert (adapter / "adapter_model.safetensors").is_file() and len(read_manifest(adapter)["losses"]) == 2
    prompt = [merge_messages(samples[0], "inference")]
    base = TransformersChatModel(SMOLLM2, dtype="float32").generate(prompt, Sampling(8))[0].text
    tuned = TransformersChatModel(SMOLLM2, dtype="float32", adapters=[adapter]).generate(prompt, Sampling(8))[0].text
    assert tuned != base


@pytest.mark.model
def test_two_step_dpo_runs_on_top_of_the_sft_adapter(sft_adapter, tmp_path):
    from l2m.models.llm import TransformersChatModel
    from l2m.utilization.training import DPOSettings, read_manifest, train_dpo_aggregator

    sft, samples = sft_adapter
    settings = DPOSettings(grad_accum=1, max_steps=2, lr=1e-3)
    dpo = train_dpo_aggregator(
        SMOLLM2,
        sft,
        samples,
        ["Paris is in France and has the Louvre."] * 2,
        ["ZEBRA"] * 2,
        tmp_path / "dpo",
        settings=settings,
    )
    log = read_manifest(dpo)["log"]
    assert [entry["step"] for entry in log] == [1, 2]
    assert all("rewards/margins" in entry for entry in log)
    stacked = TransformersChatModel(SMOLLM2, dtype="float32", adapters=[sft, dpo])
    assert stacked.adapters == (sft, dpo)


@pytest.mark.parametrize("name", ["../agent_adapter-x", "/etc", "", "..", "missing"])
def test_aggregator_adapters_come_only_from_the_run_folder(tmp_path, name):
    from l2m.artifacts import staged_folder
    from l2m.config import get_profile
    from l2m.workspace import Workspace

    with staged_folder(tmp_path / "artifacts" / "aggregator_sft-1", {"profile": "smoke"}):
        pass
    (tmp_path / "agent_adapter-x").mkdir()
    ws = Workspace(get_profile("smoke"), run_dir=tmp_path)
    assert ws.artifact("aggregator_sft-1") == tmp_path / "artifacts" / "aggregator_sft-1"
    with pytest.raises(FileNotFoundError, match="no artifact"):
        ws.artifact(name)


def test_merge_quality_counts_kept_facts_and_repeats(record):
    from l2m.utilization.quality import duplicate_rate, facts_kept

    sample = MergeSample(
        record.question, "France is a country in Europe.", "Paris is the capital and largest city of France."
    )
    # Supporting facts: "France is a country in Europe." and "Paris is the capital and largest city of France."
    assert facts_kept(sample, "France is a country in Europe.", record) == 0.5
    assert facts_kept(sample, sample.context + " " + sample.memory, record) == 1.0
    assert facts_kept(MergeSample("q", "nothing", "here"), "nothing here", record) is None
    encoder = HashingEncoder()
    assert duplicate_rate("Paris is big. Paris is big. Rome is old.", encoder) == pytest.approx(1 / 3)
    assert duplicate_rate("One sentence only.", encoder) == 0.0
