"""The adaptive memory's mechanics: gate, pairs, stop rule, one unit per step, retrieval training."""

import random

import pytest
import torch

from conftest import HashingEncoder, drive
from l2m.artifacts import load_module_state, save_module
from l2m.memory.adaptive import AdaptiveMemory, AdaptiveOptions, StopRule
from l2m.memory.base import MemorySettings
from l2m.retrieval.experts import EXPERT_NAMES, EmotionScorer, ImportanceScorer, normalised_ages, recency_terms
from l2m.retrieval.gate import GateSettings, MoEGate, ScoreModel, UnitKeys
from l2m.retrieval.pairs import mirrored_pairs
from l2m.retrieval.training import RankedRecall, RetrievalTrainSettings, pair_batch, train_retrieval

DIM = 64


def unit_rows(count: int, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(count, DIM, generator=torch.Generator().manual_seed(seed)), dim=-1)


def score_model(init: str = "paper", dim: int = DIM) -> ScoreModel:
    torch.manual_seed(0)
    return ScoreModel(MoEGate(dim, GateSettings(init=init)), EmotionScorer(dim), ImportanceScorer(dim))


@pytest.mark.parametrize("init", ["paper", "uniform", "standard"])
def test_gate_weights_sum_to_one_per_memory(init):
    gates = MoEGate(DIM, GateSettings(init=init))(unit_rows(1)[0], unit_rows(7, seed=1))
    assert gates.shape == (7, len(EXPERT_NAMES))
    assert torch.allclose(gates.sum(-1), torch.ones(7), atol=1e-6)
    assert (gates > 0).all()


def test_uniform_gate_is_uniform_and_the_paper_init_is_a_fixed_mix():
    queries, memories = unit_rows(50), unit_rows(50, seed=1)
    uniform = MoEGate(DIM, GateSettings(init="uniform"))(queries, memories)
    assert (uniform - 1 / 8).abs().max() < 1e-3
    paper = MoEGate(DIM, GateSettings(init="paper"))(queries, memories)
    # N(1, 0.02) weights: nearly the same mix for every (query, memory) pair, but not 1/8 each.
    assert paper.std(0).max() < 0.05
    assert (paper.mean(0) - 1 / 8).abs().max() > 0.01


def test_standard_init_is_pytorchs_linear_default_and_seeded():
    gate = MoEGate(DIM, GateSettings(init="standard", seed=5))
    bound = 1 / DIM**0.5
    assert gate.query_in.weight.abs().max() <= bound and gate.query_in.bias.abs().max() <= bound
    assert gate.out.weight.abs().max() <= 1 / 256**0.5
    assert torch.equal(gate.out.weight, MoEGate(DIM, GateSettings(init="standard", seed=5)).out.weight)
    assert not torch.equal(gate.out.weight, MoEGate(DIM, GateSettings(init="standard", seed=6)).out.weight)


def test_ranking_from_stored_unit_keys_equals_the_full_score():
    model, units = score_model(), unit_rows(7)
    query = unit_rows(1, seed=1)[0]
    ages = normalised_ages(7)
    with torch.no_grad():
        # Keys computed one unit at a time, as a memory stores them, then concatenated (float32
        # rounding of a one-row against a seven-row product: ~2e-6).
        keys = UnitKeys.concat([model.unit_keys(units[i : i + 1]) for i in range(7)])
        gates, experts = model.gates_and_experts(query, keys, ages)
        assert torch.allclose((gates * experts).sum(-1), model(query, units, ages), atol=1e-5)
        assert torch.allclose(experts, model.experts(query, units, ages), atol=1e-5)
        assert torch.allclose(gates, model.gate(query, units), atol=1e-5)


def test_recency_terms_are_negated_powers_of_the_normalised_age():
    ages = normalised_ages(4)
    assert ages.tolist() == [1.0, 0.75, 0.5, 0.25]
    terms = recency_terms(ages)
    assert terms[:, 0].tolist() == [-1.0] * 4
    assert terms[2].tolist() == pytest.approx([-1.0, -0.5, -0.25, -0.125, -0.0625])
    # Older units get lower (more negative) recency on every power >= 1.
    assert (terms[:-1, 1:] < terms[1:, 1:]).all()


def test_importance_is_asymmetric_and_the_code_sigmoid_is_bounded():
    torch.manual_seed(0)
    scorer = ImportanceScorer(DIM)
    a, b = unit_rows(2)
    assert scorer(a, b).item() != pytest.approx(scorer(b, a).item())
    scorer.sigmoid = True
    squashed = scorer(unit_rows(20), unit_rows(20, seed=3))
    assert ((squashed > 0.268) & (squashed < 0.732)).all()


def test_pairs_of_a_ranking_of_five_match_the_hand_computation():
    # L = 5: positions 0,1,3,4 (2 is the middle); coef -4,-2,2,4; code exponent v = 0,1,1,0.
    pairs = mirrored_pairs([30, 31, 32, 33, 34], gamma=0.2, exponent="code")
    assert [(p.core, p.inverse) for p in pairs] == [(30, 34), (31, 33), (33, 31), (34, 30)]
    total = 1 + 0.2 + 0.2 + 1
    assert [p.weight for p in pairs] == pytest.approx([1 / total, 0.2 / total, -0.2 / total, -1 / total])
    # The paper's exponent v = L-1-|coef| = 0,2,2,0.
    paper = mirrored_pairs([30, 31, 32, 33, 34], gamma=0.2, exponent="paper")
    total = 1 + 0.04 + 0.04 + 1
    assert [p.weight for p in paper] == pytest.approx([1 / total, 0.04 / total, -0.04 / total, -1 / total])


def test_pairs_of_an_even_ranking_keep_every_position():
    pairs = mirrored_pairs([0, 1, 2, 3])
    assert [(p.core, p.inverse) for p in pairs] == [(0, 3), (1, 2), (2, 1), (3, 0)]
    assert sum(abs(p.weight) for p in pairs) == pytest.approx(1.0)
    assert mirrored_pairs([5]) == []


class AlwaysHigh(random.Random):
    """Always draws 0.99: stops wherever the keep probability is below 0.99."""

    def random(self):
        return 0.99


def words(n: int) -> str:
    return " ".join(["w"] * n)


def test_stop_rule_never_stops_before_the_fourth_memory():
    rule = StopRule(AlwaysHigh())
    # No growth at all: the most stop-prone sequence there is.
    assert [rule.keep_going(words(10)) for _ in range(3)] == [True, True, True]
    assert rule.keep_going(words(10)) is False


def test_stop_rule_with_a_seed_stops_where_the_hand_computation_says():
    # Lengths 10, 20, 22, 23. Memory 3: c = 2/10 = 0.2, p = max(1, 0.2) = 1 -> kept (draw 1 used).
    # Memory 4: c = 1/2 ~ 0.49998, p = max(0.2, 0.49998); random.Random(0) draws 0.8444, 0.7580,
    # and 0.7580 > 0.49998 -> stop.
    rule = StopRule(random.Random(0))
    assert [rule.keep_going(words(n)) for n in (10, 20, 22, 23)] == [True, True, True, False]
    assert rule.probabilities == pytest.approx([1.0, 0.49998], abs=1e-4)
    lenient = StopRule(random.Random(7))  # draws 0.324, 0.151 -> memory 4 kept
    assert [lenient.keep_going(words(n)) for n in (10, 20, 22, 23)] == [True, True, True, True]


def memory_with_scripted_llm(options=AdaptiveOptions()) -> AdaptiveMemory:
    settings = MemorySettings(word_limit=200, seed=0)
    return AdaptiveMemory(HashingEncoder(DIM), score_model(), settings, options)


def respond(prompt: str) -> str:
    """Extraction returns the cached text whole; a merge joins existing and new memory."""
    if prompt.startswith("Observation:") and "Hint:" in prompt:
        return prompt.split("\nHint: ")[0].removeprefix("Observation: ")
    existing = prompt.split("Existing Memory: ")[1].split("\nNew Memory: ")[0]
    new = prompt.split("New Memory: ")[1].split("\n\nMerge")[0]
    return f"{existing} {new}"


def play_steps(memory: AdaptiveMemory, steps: int) -> list[tuple]:
    out = []
    for step in range(1, steps + 1):
        drive(memory.store(f"Observation (Step {step}): fact number {step} about Paris"))
        out.append(drive(memory.recall("Where is Paris?"), respond))
    return out


def test_one_unit_per_step_and_the_whole_storage_is_ranked():
    memory = memory_with_scripted_llm()
    (recall1, requests1), (recall2, requests2), (recall3, requests3) = play_steps(memory, 3)
    assert len(memory.units) == 3 and memory.cache == []
    # Step 1: one extraction, the single unit copied verbatim (no merge call), the hint shown.
    assert [r.stage for r in requests1] == ["extract"]
    assert "Hint: No hint." in requests1[0].messages[-1]["content"]
    assert recall1.context == "Observation (Step 1): fact number 1 about Paris"
    # Step 3: one extraction then a merge per further unit, every unit ranked.
    assert [r.stage for r in requests3] == ["extract", "merge", "merge"]
    assert sorted(recall3.record["retrieve"]["ranking"]) == [0, 1, 2]
    assert len(recall3.record["retrieve"]["gates"]) == 3
    assert recall3.record["utilize"]["end"] == "all merged"
    assert recall3.record["store"]["extracted"] == "Observation (Step 3): fact number 3 about Paris"


def test_merges_follow_the_ranking_and_stop_by_the_rule():
    memory = memory_with_scripted_llm()
    memory.rng = AlwaysHigh()
    recall, requests = play_steps(memory, 5)[-1]
    ranked = [memory.units[i] for i in recall.record["retrieve"]["ranking"]]
    assert recall.record["utilize"]["intermediate"][0] == ranked[0]
    # Constant growth: c ~ 1 every time (above the 0.99 draw), so nothing stops; all 4 merges run.
    assert recall.record["utilize"]["end"] == "all merged"
    memory.reset()
    memory.rng = AlwaysHigh()
    memory.options = AdaptiveOptions()

    def shrinking(prompt):  # a merge that adds nothing: the rule may stop from memory 4
        return (
            prompt.split("Existing Memory: ")[1].split("\nNew Memory: ")[0] if "Existing" in prompt else respond(prompt)
        )

    for step in range(1, 5):
        drive(memory.store(f"Observation (Step {step}): fact {step}"))
        recall, requests = drive(memory.recall("q"), shrinking)
    assert recall.record["utilize"]["end"] == "stop rule"
    assert len(recall.record["utilize"]["intermediate"]) == 3


def test_options_refuse_unknown_choices():
    with pytest.raises(ValueError, match="stop_keep"):
        AdaptiveOptions(stop_keep="never")
    with pytest.raises(ValueError, match="merge_prompt"):
        AdaptiveOptions(merge_prompt="other")
    with pytest.raises(ValueError, match="init"):
        GateSettings(init="zeros")
    with pytest.raises(ValueError, match="loss"):
        RetrievalTrainSettings(loss="hinge")


class CoordinateEncoder:
    """Texts "u<k>" map to fixed random unit vectors; the query "q" to its own vector."""

    def __init__(self, dim: int = DIM):
        self.dim, self.name = dim, "coordinates"
        self.table = {}

    def encode(self, texts, kind="passage"):
        import numpy as np

        rows = []
        for text in texts:
            if text not in self.table:
                g = torch.Generator().manual_seed(len(self.table) + 1)
                self.table[text] = torch.nn.functional.normalize(torch.randn(self.dim, generator=g), dim=0)
            rows.append(self.table[text].numpy())
        return np.stack(rows).astype(np.float32)


@pytest.mark.parametrize("loss", ["code", "paper"])
def test_training_moves_the_gate_onto_the_one_informative_expert(loss):
    # Rankings follow the semantic expert alone; every other expert is noise or constant.
    encoder = CoordinateEncoder()
    model = score_model(init="uniform")
    recalls = []
    for episode in range(60):
        query = f"q{episode}"
        units = tuple(f"u{episode}-{i}" for i in range(5))
        q = torch.from_numpy(encoder.encode([query], "query")[0])
        cos = torch.from_numpy(encoder.encode(list(units))) @ q
        recalls.append(RankedRecall(query, units, tuple(int(i) for i in torch.argsort(-cos))))
    pairs = pair_batch(recalls, encoder, RetrievalTrainSettings())
    settings = RetrievalTrainSettings(lr=5.0, batch=64, epochs=60, loss=loss)
    history = train_retrieval(model, pairs, settings)
    assert history["train_loss"][-1] < history["train_loss"][0]
    gates = model.gate(pairs.query, pairs.core).mean(0)
    assert int(gates.argmax()) == EXPERT_NAMES.index("semantic")
    assert gates[EXPERT_NAMES.index("semantic")] > 0.5


def test_gate_saved_as_safetensors_loads_back_identically(tmp_path):
    gate = MoEGate(DIM, GateSettings(seed=3))
    folder = save_module(gate, tmp_path / "gate", {"dim": DIM})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "params.safetensors"]
    loaded = load_module_state(MoEGate(DIM, GateSettings(seed=4)), folder)
    x, m = unit_rows(1)[0], unit_rows(3, seed=2)
    assert torch.equal(loaded(x, m), gate(x, m))


def adaptive_episode(record, memory: AdaptiveMemory, searches: list[str], answer: str) -> dict:
    """An episode log as play_episode writes it, from the adaptive memory's own records."""
    from l2m.env.wiki import LocalWiki

    wiki = LocalWiki.from_records([record])
    steps, observation = [], f"The question is '{record.question}'"
    for step, entity in enumerate([*searches, None], start=1):
        drive(memory.store(f"Observation (Step {step}): {observation}"))
        recall, _ = drive(memory.recall(record.question), respond)
        steps.append({"recall": recall.record, "context": recall.context})
        if entity is not None:
            drive(memory.store(f"Action (Step {step}): Search[{entity}]"))
            observation = wiki.search(entity) or "Content not found."
    return {
        "question": record.question,
        "gold_answer": record.answer,
        "answer": answer,
        "reward": float(answer == record.answer),
        "step_records": steps,
    }


def test_gold_units_are_those_extracted_from_a_supporting_fact(record):
    from l2m.retrieval.quality import expert_rankings, gold_units, recall_at_k, unit_sources

    episode = adaptive_episode(record, memory_with_scripted_llm(), ["Berlin", "France"], "Paris")
    sources = unit_sources(episode)
    assert len(sources) == 3
    # Unit 0: the question; unit 1: the Berlin page (no supporting fact); unit 2: the France page.
    assert gold_units(sources, record) == {2}
    assert recall_at_k([2, 0, 1], {2}, 1) == 1.0
    assert recall_at_k([0, 1, 2], {2}, 2) == 0.0
    assert recall_at_k([0, 1, 2], set(), 2) is None
    rankings = expert_rankings(episode["step_records"][-1]["recall"])
    # Recency^1 alone puts the newest unit first.
    assert rankings["recency^1"] == [2, 1, 0]


def test_pairs_come_from_the_last_step_of_successful_episodes_only(record):
    from l2m.retrieval.training import ranked_recalls

    won = adaptive_episode(record, memory_with_scripted_llm(), ["France"], "Paris")
    lost = adaptive_episode(record, memory_with_scripted_llm(), ["France"], "Rome")
    (recall,) = ranked_recalls([won, lost], "em")
    last = won["step_records"][-1]["recall"]["retrieve"]
    assert recall.ranking == tuple(last["ranking"]) and recall.units == tuple(last["units"])
    assert recall.query == record.question
    # answer_in_context: the gold answer reached the final context in both.
    assert len(ranked_recalls([won, lost], "answer_in_context")) == 2
