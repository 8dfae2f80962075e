"""Pretraining of the emotion and importance scorers (PAPER §2.4) and the Table 4 analogue, on synthetic records."""

import random
import re

import pytest
import torch

from conftest import HashingEncoder, ScriptedChatModel, raw_record
from l2m.artifacts import load_config
from l2m.data.hotpotqa import parse_record
from l2m.retrieval import pretrain
from l2m.retrieval.experts import EMOTIONS
from l2m.retrieval.pretrain import (
    EMOTION_WORDS,
    EmotionExample,
    InformationChain,
    OptimSettings,
    PretrainSettings,
    ScorerPair,
    build_emotion_data,
    build_importance_data,
    emotion_vocabulary,
    express,
    information_chain,
    load_scorers,
    ndcg_at_k,
    parse_emotions,
    pretrain_scorers,
    save_scorers,
    table4,
    zero_shot_row,
)

VOCAB = [f"tok{i}" for i in range(400)]


def synthetic_record(index: int, rng: random.Random):
    """A record with three 3-sentence paragraphs of random tokens and 2-3 supporting facts."""

    def sentence() -> str:
        return " ".join(rng.sample(VOCAB, 8)) + "."

    titles = [f"Title{index}{part}" for part in "abc"]
    facts = [[titles[0], 0], [titles[1], 0], [titles[0], 1]][: 2 + index % 2]
    return parse_record(
        raw_record(
            _id=f"r{index}",
            question=" ".join(rng.sample(VOCAB, 6)) + "?",
            supporting_facts=facts,
            context=[[t, [sentence() for _ in range(3)]] for t in titles],
        ),
        source="synthetic",
        index=index,
    )


@pytest.fixture(scope="module")
def records():
    rng = random.Random(0)
    return [synthetic_record(i, rng) for i in range(40)]


# Small and fast. heldout_words=0: a hashing encoder knows words, not meanings, so it cannot
# generalise to unseen emotion words; held-out texts still have unseen seeds.
FAST = PretrainSettings(
    emotion_seeds=300,
    rewrites_per_seed=6,
    heldout_words=0,
    hidden=64,
    emotion=OptimSettings(epochs=15, batch_size=32, lr=1e-3),
    importance=OptimSettings(epochs=10, batch_size=64, lr=3e-3),
)


class WordHashingEncoder(HashingEncoder):
    """The hashing encoder on words without punctuation, so "afraid," and "afraid." are one word."""

    def encode(self, texts, kind="passage"):
        return super().encode([re.sub(r"[^\w\s]", " ", text) for text in texts], kind)


def words_in(text: str) -> set[str]:
    tokens = set(re.findall(r"[a-z]+", text.lower()))
    return {emotion for emotion, words in EMOTION_WORDS.items() if tokens & set(words)}


def test_label_marks_exactly_the_emotions_whose_words_were_written():
    rng = random.Random(1)
    vocabulary = emotion_vocabulary(3)["train"]
    text = express("The bridge was finished in 1932.", ("joy", "fear"), vocabulary, rng)
    label = EmotionExample("seed", text, ("joy", "fear")).label
    assert [i for i, v in enumerate(label) if v == 1.0] == [EMOTIONS.index("joy"), EMOTIONS.index("fear")]
    assert sum(label) == 2.0
    assert words_in(text) == {"joy", "fear"}


def test_emotion_data_labels_match_words_and_splits_share_no_seed_nor_heldout_word(records):
    settings = PretrainSettings(emotion_seeds=200, heldout_words=3)
    data = build_emotion_data(records, settings)
    for example in data["train"] + data["heldout"]:
        assert words_in(example.text) == set(example.emotions)
        assert len(example.emotions) <= 3
        assert example.label == tuple(float(e in example.emotions) for e in EMOTIONS)
        assert (example.text == example.seed) == (not example.emotions)
    assert not {e.seed for e in data["train"]} & {e.seed for e in data["heldout"]}
    assert len({e.seed for e in data["heldout"]}) == round(200 * settings.heldout_fraction)
    heldout_words = {w for words in emotion_vocabulary(3)["heldout"].values() for w in words}
    train_tokens = {t for e in data["train"] for t in re.findall(r"[a-z]+", e.text.lower())}
    assert not heldout_words & train_tokens
    assert build_emotion_data(records, settings) == data  # seeded


def test_importance_chains_grow_by_supporting_facts_and_split_by_record(records):
    chain = information_chain(records[1], extra_sentences=2)
    assert chain.levels[0] == "Title1a"
    assert chain.fact_counts == (0, 1, 2, 3, 3, 3)
    assert all(a in b for a, b in zip(chain.levels[1:], chain.levels[2:]))  # each level contains the previous
    facts = [records[1].paragraph(t)[i] for t, i in records[1].supporting_facts]
    for level, count in zip(chain.levels[1:], chain.fact_counts[1:]):
        assert sum(fact in level for fact in facts) == count
    data = build_importance_data(records, PretrainSettings())
    assert all(list(c.fact_counts) == sorted(c.fact_counts) for c in data["train"] + data["heldout"])
    assert not {c.record_id for c in data["train"]} & {c.record_id for c in data["heldout"]}
    assert len(data["train"]) + len(data["heldout"]) == len(records)


def test_ndcg_matches_a_hand_computed_ranking():
    # Ranked: relevance 1, 2, 3, 0 -> DCG 1/1 + 2/log2(3) + 3/2; ideal 3/1 + 2/log2(3) + 1/2.
    dcg, ideal = 1 + 2 / 1.5849625 + 1.5, 3 + 2 / 1.5849625 + 0.5
    assert ndcg_at_k([0.1, 0.4, 0.3, 0.2], [0, 1, 2, 3]) == pytest.approx(dcg / ideal, abs=1e-6)
    assert ndcg_at_k([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], range(7)) == pytest.approx(1.0)
    # Ties share their ranks: all equal -> mean gain 1.5 times the sum of the 4 discounts.
    assert ndcg_at_k([1, 1, 1, 1], [0, 1, 2, 3]) == pytest.approx(1.5 * (1 + 1 / 1.5849625 + 0.5 + 0.4306766) / ideal)
    # Only the top k ranks count: the one relevant item ranked 6th scores 0 at k=5, 1/log2(7) at k=6.
    assert ndcg_at_k([6, 5, 4, 3, 2, 1], [0, 0, 0, 0, 0, 1]) == 0.0
    assert ndcg_at_k([6, 5, 4, 3, 2, 1], [0, 0, 0, 0, 0, 1], k=6) == pytest.approx(1 / 2.8073549)


@pytest.fixture(scope="module")
def trained_folder(records, tmp_path_factory):
    # One thread: these small matrices train in ~2 s alone, but 2 threads on a busy 2-core machine took 70 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return pretrain_scorers(WordHashingEncoder(dim=512), records, tmp_path_factory.mktemp("scorers"), FAST)
    finally:
        torch.set_num_threads(threads)


def test_training_beats_random_and_untrained_on_heldout(trained_folder):
    config = load_config(trained_folder)
    rows = {row["method"]: row for row in config["heldout_metrics"]}
    learned, random_row, untrained = rows["Ours (learned)"], rows["Random"], rows["Untrained"]
    assert learned["emotion_mse"] < 0.75 * untrained["emotion_mse"] < random_row["emotion_mse"]
    assert learned["importance_ndcg@5"] > max(random_row["importance_ndcg@5"], untrained["importance_ndcg@5"]) + 0.1
    assert config["losses"]["emotion"][-1] < config["losses"]["emotion"][0]
    assert config["losses"]["importance"][-1] < config["losses"]["importance"][0]
    assert config["dataset_sizes"]["emotion_heldout_seeds"] == 60
    assert list(table4(config["heldout_metrics"]).index.get_level_values("method")) == list(rows)


def test_saved_folder_round_trips_without_pickles_and_is_reused(trained_folder, records, monkeypatch, tmp_path):
    assert sorted(p.name for p in trained_folder.iterdir()) == ["config.json", "params.safetensors"]
    emotion, importance = load_scorers(trained_folder)
    pair = ScorerPair(512, FAST.hidden)
    pair.emotion.load_state_dict(emotion.state_dict())
    pair.importance.load_state_dict(importance.state_dict())
    copy_folder = save_scorers(pair, {"note": "copy"}, target=tmp_path / "copy")
    emotion2, importance2 = load_scorers(copy_folder)
    x, y = torch.randn(4, 512), torch.randn(4, 512)
    with torch.no_grad():
        assert torch.equal(emotion(x), emotion2(x)) and torch.equal(importance(x, y), importance2(x, y))

    def no_training(*args, **kwargs):
        raise AssertionError("an existing folder must be reused, not retrained")

    monkeypatch.setattr(pretrain, "train_emotion_scorer", no_training)
    assert pretrain_scorers(WordHashingEncoder(dim=512), records, trained_folder.parent, FAST) == trained_folder


def test_pretraining_refuses_test_questions(records, tmp_path):
    with pytest.raises(ValueError, match="are test questions; the scorers learn from the training pool only"):
        pretrain_scorers(HashingEncoder(), records, tmp_path, FAST, forbidden_ids={records[0].id})


def test_emotion_replies_parse_only_when_all_eight_are_given():
    reply = "\n".join(f"{e}: {i / 10}" for i, e in enumerate(EMOTIONS))
    assert parse_emotions(reply).value == [i / 10 for i in range(8)]
    assert parse_emotions("Joy: 3\n" + reply.split("\n", 1)[1]).value[0] == 1.0  # clipped to [0, 1]
    assert parse_emotions("joy: 0.5, anger: 1").used_fallback


def test_zero_shot_row_batches_calls_and_counts_instruction_failures():
    chains = [InformationChain(f"c{i}", "Who?", ("a", "a b", "a b c"), (0, 1, 2)) for i in range(4)]
    examples = [EmotionExample(f"s{i}", f"text {i}", ("joy",)) for i in range(4)]
    perfect = "\n".join(f"{e}: {float(e == 'joy')}" for e in EMOTIONS)

    def respond(prompt: str) -> str:
        if "Sentence:" in prompt:  # importance: longer sentence -> higher score
            return str(len(prompt.split("Sentence: ")[1].split("\n")[0]) / 10)
        return perfect if "text 0" in prompt or "text 1" in prompt else "I cannot rate emotions."

    llm = ScriptedChatModel(respond)
    row = zero_shot_row(llm, chains, examples, items=4, seed=0)
    assert row["importance_ndcg@5"] == pytest.approx(1.0) and row["importance_ifr"] == 0.0
    assert row["emotion_ifr"] == 0.5
    assert 0.0 < row["emotion_mse"] < 8.0
    assert row["n_chains"] == 4 and row["n_texts"] == 4
    assert llm.batches[0] == 4  # the four chains' first questions went out as one batch
