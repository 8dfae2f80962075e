"""Memory quality apart from the agent: the metrics on hand-built contexts and the scripted policy."""

import math

import pytest

from conftest import HashingEncoder, ScriptedChatModel
from l2m.actions import parse_action
from l2m.config import get_profile
from l2m.episode import scripted_searches
from l2m.memory_metrics import answer_in_context, context_words, episode_memory_metrics, sf_coverage
from l2m.retrieval.quality import last_recall_at_k, supporting_sentences
from l2m.workspace import Workspace

BOTH_FACTS = "France is a country in Europe. Paris is the capital and largest city of France."


def test_answer_in_context_normalises_like_em():
    assert answer_in_context("The Beatles", "... a band called beatles, formed ...")
    assert answer_in_context("U.S.A.", "they moved to the usa in 1990")
    assert not answer_in_context("Paris", "Parisian cafés")
    assert not answer_in_context("the", "the answer is empty after normalisation")


def test_coverage_is_one_for_every_supporting_sentence_and_zero_for_none(record):
    sentences = supporting_sentences(record)
    assert sentences == ["France is a country in Europe.", "Paris is the capital and largest city of France."]
    assert sf_coverage(sentences, BOTH_FACTS) == 1.0
    assert sf_coverage(sentences, "[0] observation: FRANCE IS A COUNTRY IN EUROPE\n[1] " + sentences[1]) == 1.0
    assert sf_coverage(sentences, "Berlin is the capital of Germany.") == 0.0
    assert sf_coverage(sentences, "None") == 0.0
    assert sf_coverage(sentences, "Thought: France is a country in Europe.") == 0.5
    assert sf_coverage([], BOTH_FACTS) is None


def test_coverage_threshold_counts_distinct_tokens(record):
    sentence = ["Paris is the capital and largest city of France."]  # 8 tokens once "the" is dropped
    assert sf_coverage(sentence, "paris is capital and largest city of") == 1.0  # 7/8 >= 0.8
    assert sf_coverage(sentence, "paris is capital and largest city") == 0.0  # 6/8 < 0.8
    assert sf_coverage(sentence, "paris is capital and largest city", threshold=0.75) == 1.0


def test_context_words():
    assert context_words("None") == 0
    assert context_words("[0] one two\n[1] three") == 5


def baseline_episode(record, indices: list[int]) -> dict:
    """A two-step one-unit-per-store episode whose first observation holds both gold paragraphs."""
    first = [
        {"index": 0, "text": f"Observation (Step 1): {BOTH_FACTS}"},
        {"index": 1, "text": "Thought (Step 1): search"},
        {"index": 2, "text": "Action (Step 1): Search[Berlin]"},
    ]
    last = [{"index": 3, "text": "Observation (Step 2): Berlin is the capital of Germany."}]
    return {
        "question_id": record.id,
        "step_records": [
            {"store": first, "recall": {"indices": [0]}, "context": "None"},
            {"store": last, "recall": {"indices": indices}, "context": "Berlin is the capital of Germany. Paris"},
        ],
    }


def test_recall_at_k_of_a_baseline_ranking(record):
    assert last_recall_at_k(baseline_episode(record, [3, 0, 1]), record, 1) == 0.0
    assert last_recall_at_k(baseline_episode(record, [3, 0, 1]), record, 2) == 1.0
    metrics = episode_memory_metrics(baseline_episode(record, [0]), record, k=1)
    assert metrics == {"answer_in_context": True, "sf_coverage": 0.0, "context_words": 7, "recall_at_k": 1.0}


def test_memory_metrics_refuse_another_questions_record(record):
    episode = baseline_episode(record, [0]) | {"question_id": "another"}
    with pytest.raises(ValueError, match="another"):
        episode_memory_metrics(episode, record)


def test_scripted_searches_gold_titles_first_then_distractors(record):
    assert scripted_searches(record, 3) == ["Search[France]", "Search[Paris]", "Search[Berlin]"]
    assert scripted_searches(record, 1) == ["Search[France]"]


def test_every_scripted_search_of_the_test_splits_finds_its_page():
    ws = Workspace(get_profile("smoke"))
    for split in ("test_easy", "test_medium", "test_hard"):
        for record in ws.splits[split]:
            for action in scripted_searches(record, 4):
                parsed = parse_action(action)
                assert parsed.valid and parsed.verb == "Search", action
                assert ws.wiki.lookup(parsed.argument)[0] == parsed.argument, (record.id, action)


def answering_agent(prompt: str) -> str:
    return "I can answer now." if "Search[entity]" not in prompt else "Finish[England]"


@pytest.fixture(scope="module")
def scripted_runs(tmp_path_factory):
    ws = Workspace(get_profile("smoke"), run_dir=tmp_path_factory.mktemp("run"))
    ws.encoder = HashingEncoder()
    ws.llm = ScriptedChatModel(lambda prompt: "Verulamium is in England.")
    ws.agent_llm = ScriptedChatModel(answering_agent)
    ws.agent_adapter = None
    records = ws.splits["test_hard"][:2]
    methods = ["FUMemory", "LTMemory", "STMemory", "Ours-def"]
    return ws, records, ws.run_methods(methods, records, policy="scripted")


def test_scripted_policy_plays_the_same_actions_for_every_memory(scripted_runs):
    ws, records, runs = scripted_runs
    script_length = ws.profile.max_steps - 1
    for i, record in enumerate(records):
        played = {
            method: [(s["observation"], s["action"]) for s in episodes[i]["step_records"][:script_length]]
            for method, episodes in runs.items()
        }
        assert len({tuple(p) for p in played.values()}) == 1, played
        assert [action for _, action in played["FUMemory"]] == scripted_searches(record, script_length)
        for episodes in runs.values():
            steps = episodes[i]["step_records"]
            assert all(s["scripted"] and not s["llm_calls"] for s in steps[:script_length])
            # The agent answers at the last step, from its memory.
            assert steps[-1]["action"] == "Finish[England]" and len(steps[-1]["llm_calls"]) == 2
            assert episodes[i]["policy"] == "scripted"


def test_scripted_episodes_have_their_own_logs_and_memory_columns(scripted_runs):
    ws, records, runs = scripted_runs
    assert (ws.episodes_dir / "FUMemory.scripted.jsonl").is_file()
    assert not (ws.episodes_dir / "FUMemory.jsonl").exists()
    table = ws.summary_table({(m,): e for m, e in runs.items()}, ["method"])
    for column in ("answer_in_context", "sf_coverage", "context_words", "recall@3"):
        assert {column, f"{column}_low", f"{column}_high"} <= set(table.columns)
    assert table.loc["FUMemory", "sf_coverage"] > 0.0
    assert table.loc["FUMemory", "well_formed_n"] == len(records)  # only the agent's own acts count
    assert math.isnan(table.loc["FUMemory", "recall@3"]) and table.loc["FUMemory", "recall_n"] == 0
    assert table.loc["LTMemory", "recall_n"] > 0
