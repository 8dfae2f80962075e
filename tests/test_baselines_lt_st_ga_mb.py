"""LTMemory, STMemory, GAMemory and MBMemory (BASELINES §2-§5), with a fake encoder and scripted LLM replies."""

import json
import math
import random
import re

import numpy as np
import pytest

from conftest import HashingEncoder, drive
from l2m.memory.base import EMPTY_CONTEXT, MemorySettings
from l2m.memory.baselines.generative_agents import GAMemory, parse_lines
from l2m.memory.baselines.long_term import LTMemory
from l2m.memory.baselines.memory_bank import MBMemory, keep_probability
from l2m.memory.baselines.short_term import STMemory
from l2m.models.llm import Sampling

TOP5 = MemorySettings(top_k=5)


def store_all(memory, texts, respond=lambda prompt: "5"):
    """Store each text; returns the store records and the LLM requests of every store."""
    records, requests = [], []
    for text in texts:
        record, asked = drive(memory.store(text), respond)
        records.append(record)
        requests.append(asked)
    return records, requests


def recall(memory, query):
    result, requests = drive(memory.recall(query))
    assert requests == []  # none of these methods calls the LLM at recall
    return result


def items(context):
    """The texts of a rendered indexed list, in order, checking that indices run from 0."""
    lines = context.split("\n")
    assert lines[0] == "[Memory Start]" and lines[-1] == "[Memory End]"
    body = lines[1:-1]
    for i, line in enumerate(body):
        assert line.startswith(f"[{i}] "), line
    return [line.split("] ", 1)[1] for line in body]


class VectorEncoder:
    """Hand-set embeddings: each text maps to a given vector (normalised here)."""

    def __init__(self, table):
        self.table = {text: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for text, v in table.items()}

    def encode(self, texts, kind="passage"):
        return np.stack([self.table[t] for t in texts])


def cosines(texts, query):
    encoder = HashingEncoder()
    return encoder.encode(texts) @ encoder.encode([query], kind="query")[0]


# --- every method ------------------------------------------------------------------------

FACTORIES = {
    "LT": lambda: LTMemory(HashingEncoder(), TOP5),
    "ST": lambda: STMemory(TOP5),
    "GA": lambda: GAMemory(HashingEncoder(), TOP5),
    "MB": lambda: MBMemory(HashingEncoder(), TOP5),
}


@pytest.mark.parametrize("method", FACTORIES)
def test_recall_is_empty_before_any_store_and_after_reset(method):
    memory = FACTORIES[method]()
    assert recall(memory, "q").context == EMPTY_CONTEXT
    store_all(memory, ["alpha beta", "gamma delta", "alpha gamma"])
    assert recall(memory, "alpha").context != EMPTY_CONTEXT
    memory.reset()
    assert recall(memory, "alpha").context == EMPTY_CONTEXT


@pytest.mark.parametrize("method", FACTORIES)
def test_records_are_plain_json(method):
    memory = FACTORIES[method]()
    records, _ = store_all(memory, [f"unit {i} alpha" for i in range(6)])
    result = recall(memory, "alpha")
    for record in records + [result.record]:
        assert record["type"] in ("store", "recall") and isinstance(record["llm_calls"], list)
        assert json.loads(json.dumps(record)) == record
    assert result.record["query"] == "alpha"
    assert memory.name == type(memory).__name__


# --- LTMemory (§2) -----------------------------------------------------------------------


def test_lt_exact_query_ranks_first():
    memory = LTMemory(HashingEncoder(), TOP5)
    store_all(memory, ["apples grow on trees", "the river runs to the sea", "engines burn fuel"])
    assert items(recall(memory, "the river runs to the sea").context)[0] == "the river runs to the sea"


def test_lt_returns_exactly_top_k_and_the_most_similar():
    texts = [f"word{i} shared" + " shared" * (i % 3) + f" extra{i % 4}" for i in range(9)]
    memory = LTMemory(HashingEncoder(), TOP5)
    store_all(memory, texts)
    query = "shared extra1 word4"
    result = recall(memory, query)
    expected = np.argsort(-cosines(texts, query), kind="stable")[:5].tolist()
    assert result.record["indices"] == expected
    assert items(result.context) == [texts[i] for i in expected]
    assert result.record["scores"] == sorted(result.record["scores"], reverse=True)


def test_lt_query_source_latest_searches_with_the_newest_unit():
    texts = ["Observation (Step 1): Question: who built the tower", "Observation (Step 2): the bridge is red"]
    memory = LTMemory(HashingEncoder(), TOP5, query_source="latest")
    store_all(memory, texts)
    assert items(recall(memory, "Question: who built the tower").context)[0] == texts[1]
    with pytest.raises(ValueError, match="query_source"):
        LTMemory(HashingEncoder(), query_source="question")


def test_lt_truncation_keeps_the_head_by_default():
    memory = LTMemory(HashingEncoder(), MemorySettings(top_k=5, word_limit=8))
    store_all(memory, ["a b c d", "a b c e"])
    context = recall(memory, "a b c d").context
    assert context == "[Memory Start]\n[0] a b c d\n[1] a b"  # the head; newlines do not count


# --- STMemory (§3) -----------------------------------------------------------------------


def test_st_returns_the_last_k_newest_first():
    memory = STMemory(TOP5)
    store_all(memory, [f"u{i}" for i in range(10)])
    result = recall(memory, "ignored")
    assert items(result.context) == ["u9", "u8", "u7", "u6", "u5"]
    assert result.record["indices"] == [9, 8, 7, 6, 5]


def test_st_with_fewer_units_than_k_returns_all_newest_first():
    memory = STMemory()  # paper top_k = 10
    store_all(memory, ["u0", "u1", "u2"])
    assert items(recall(memory, "u0").context) == ["u2", "u1", "u0"]


# --- GAMemory (§4) -----------------------------------------------------------------------

GA_TABLE = {
    "a": [1.0, 0.0, 0.0],
    "b": [0.8, 0.6, 0.0],
    "c": [0.0, 1.0, 0.0],
    "d": [0.6, 0.0, 0.8],
    "query": [1.0, 0.2, 0.1],
}
GA_RATINGS = {"a": "2", "b": "9", "c": "Rating: 10", "d": "4"}  # "Rating: 10" would crash eval()


def ga_respond(prompt):
    return GA_RATINGS[prompt.split("Message: ")[1].split("\n")[0]]


def ga_expected(now, times, ratings, normalise=False):
    """cos + 0.995^Δt + importance/10, computed here independently of the implementation."""
    encoder = VectorEncoder(GA_TABLE)
    q = encoder.encode(["query"])[0]
    parts = [
        np.array([float(encoder.encode([t])[0] @ q) for t in "abcd"]),
        np.array([0.995 ** (now - t) for t in times]),
        np.array(ratings) / 10,
    ]
    if normalise:
        parts = [(p - p.min()) / (p.max() - p.min()) for p in parts]
    scores = sum(parts)
    return sorted(range(4), key=lambda i: -scores[i]), scores


@pytest.mark.parametrize("normalise", [False, True])
def test_ga_order_is_relevance_plus_recency_plus_importance(normalise):
    memory = GAMemory(VectorEncoder(GA_TABLE), MemorySettings(top_k=3), normalise=normalise, auto_reflect=False)
    records, _ = store_all(memory, list("abcd"), ga_respond)
    assert [r["importance"] for r in records] == [0.2, 0.9, 1.0, 0.4]
    order, scores = ga_expected(4, [0, 1, 2, 3], [2, 9, 10, 4], normalise)
    result = recall(memory, "query")
    assert result.record["indices"] == order[:3]
    assert result.record["scores"] == [round(float(scores[i]), 4) for i in order[:3]]
    assert items(result.context) == [list("abcd")[i] for i in order[:3]]


def test_ga_normalisation_changes_the_order_in_this_case():
    # Guards the test above: both variants must be distinguishable on this data.
    assert ga_expected(4, [0, 1, 2, 3], [2, 9, 10, 4])[0] != ga_expected(4, [0, 1, 2, 3], [2, 9, 10, 4], True)[0]


def test_ga_recall_refreshes_the_recency_of_returned_units():
    memory = GAMemory(VectorEncoder(GA_TABLE), MemorySettings(top_k=2), auto_reflect=False)
    store_all(memory, list("abcd"), ga_respond)
    first = recall(memory, "query").record["indices"]
    assert all(memory.times[i] == 4 for i in first)  # the storage counter at recall time
    assert all(memory.times[i] == i for i in range(4) if i not in first)
    # A second recall sees the refreshed times: Δt = 0 for the units returned first.
    order, _ = ga_expected(4, [4 if i in first else i for i in range(4)], [2, 9, 10, 4])
    assert recall(memory, "query").record["indices"] == order[:2]


def test_ga_importance_parsing_is_tolerant_and_flags_fallbacks():
    settings = MemorySettings(llm=Sampling(max_new_tokens=7))
    memory = GAMemory(HashingEncoder(), settings, auto_reflect=False)
    replies = iter(["I'd say 7.", "no idea", "15"])
    records, requests = store_all(memory, ["x", "y", "z"], lambda prompt: next(replies))
    assert [r["importance"] for r in records] == [0.7, 0.5, 1.0]
    assert [r["importance_fallback"] for r in records] == [False, True, False]
    assert all(r.role == "memory" and r.stage == "importance" and r.sampling == settings.llm for (r,) in requests)
    assert records[0]["llm_calls"][0]["output"] == "I'd say 7."


def reflection_respond(prompt):
    if prompt.startswith("On a scale"):
        return "2"
    if "questions" in prompt:
        return "insight one"  # one line where two are asked for: tolerated
    return "1. insight one\n2. insight two\n3. a third line too many"


def test_ga_auto_reflect_runs_once_the_threshold_is_reached():
    memory = GAMemory(HashingEncoder(), MemorySettings())
    records, requests = store_all(memory, ["alpha beta", "gamma delta"], reflection_respond)
    assert records[0]["reflection"] is None  # 0.2 < 0.3
    stages = ["importance", "reflect_questions", "reflect_insights", "importance", "importance"]
    assert [r.stage for r in requests[1]] == stages
    reflection = records[1]["reflection"]
    assert reflection["ran"] and reflection["questions"] == ["insight one"]
    assert reflection["evidence"] == [0, 1]  # reflection_topk = 2 units for the one question
    assert [i["text"] for i in reflection["insights"]] == ["insight one", "insight two"]
    assert memory.texts[2:] == ["insight one", "insight two"] and memory.sources[2:] == [[0, 1], [0, 1]]
    assert len(records[1]["llm_calls"]) == 5
    assert memory.accumulated_importance == pytest.approx(0.4)  # reset to 0, then the insights' 0.2 each


def test_ga_reflection_expands_insight_sources_recursively():
    memory = GAMemory(HashingEncoder(), MemorySettings(), auto_reflect=False)
    store_all(memory, ["alpha beta", "gamma delta"], reflection_respond)
    drive(memory.reflect(), reflection_respond)
    second, requests = drive(memory.reflect(), reflection_respond)
    assert second["type"] == "reflect" and second["evidence"] == [2, 3]
    insight_prompt = requests[1].messages[-1]["content"]
    assert "insight one (alpha beta; gamma delta)\ninsight two (alpha beta; gamma delta)" in insight_prompt
    assert memory.sources[-1] == [2, 3]
    assert memory._expanded(len(memory.texts) - 1).startswith("insight two (insight one (alpha beta; gamma delta);")


def test_ga_reflect_below_threshold_or_without_questions_stores_nothing():
    memory = GAMemory(HashingEncoder(), MemorySettings(), auto_reflect=False)
    store_all(memory, ["alpha"], lambda prompt: "1")  # 0.1 < 0.3
    record, requests = drive(memory.reflect())
    assert record["type"] == "reflect" and not record["ran"]
    assert record["insights"] == record["llm_calls"] == requests == []
    store_all(memory, ["beta"], lambda prompt: "9")
    record, requests = drive(memory.reflect(), lambda prompt: "")  # an empty question list
    assert record["ran"] and record["insights"] == [] and [r.stage for r in requests] == ["reflect_questions"]
    assert memory.accumulated_importance == 0.0 and len(memory.texts) == 2


def test_parse_lines_drops_markers_and_extra_lines():
    assert parse_lines("Here:\n\n1. first\n- second\n(3) third", 3) == ["Here:", "first", "second"]
    assert parse_lines("", 2) == []


# --- MBMemory (§5) -----------------------------------------------------------------------


def test_mb_keep_probability_directions():
    for formula in ("code", "paper"):
        p = [keep_probability(dt, 1.0, 5.0, formula) for dt in range(8)]
        assert all(a > b for a, b in zip(p, p[1:])), formula  # strictly decreasing in Δt
        assert p[5] == pytest.approx(math.exp(-1))
    code = [keep_probability(3, s, 5.0, "code") for s in (1.0, 2.0, 3.0)]
    paper = [keep_probability(3, s, 5.0, "paper") for s in (1.0, 2.0, 3.0)]
    assert code[0] > code[1] > code[2]  # MemEngine: stronger forgets faster (the classic bug)
    assert paper[0] < paper[1] < paper[2]  # MemoryBank: stronger lasts longer
    assert code[0] == paper[0]  # identical at MemEngine's strength of 1


def summariser():
    """Numbered replies: day summaries "S1", "S2"..., global summaries "G1", "G2"..."""
    counts = {"S": 0, "G": 0}

    def respond(prompt):
        kind = "G" if "['" in prompt else "S"  # the global call sees the list's repr
        counts[kind] += 1
        return f"{kind}{counts[kind]}"

    return respond


def test_mb_unit_clock_summarises_every_other_unit():
    memory = MBMemory(HashingEncoder())
    records, requests = store_all(memory, ["u0", "u1", "u2", "u3"], summariser())
    summary = ["summary", "global_summary"]
    assert [[r.stage for r in asked] for asked in requests] == [[], summary, [], summary]
    assert "Content:\nu0\n" in requests[1][0].messages[-1]["content"]
    assert "Content:\nu2\n" in requests[3][0].messages[-1]["content"]
    assert "['S1', 'S2']" in requests[3][1].messages[-1]["content"]
    assert memory.texts == ["u0", "u1", "S1", "u2", "u3", "S2"]
    assert memory.times == [0, 1, 0, 3, 4, 3] and memory.sources[2] == "summary"
    assert records[3]["summary"] == {"time": 3, "text": "S2", "index": 5, "global_summary": "G2"}


def test_mb_step_clock_times_0_0_1_trigger_one_summary_of_both_units():
    memory = MBMemory(HashingEncoder(), clock="step")
    texts = ["Observation (Step 0): a", "Thought (Step 0): b", "Action (Step 1): c"]
    _, requests = store_all(memory, texts, summariser())
    stages = [r.stage for asked in requests for r in asked]
    assert stages == ["summary", "global_summary"]  # exactly one per-time summary
    assert f"Content:\n{texts[0]}\n{texts[1]}\nSummary:" in requests[2][0].messages[-1]["content"]
    assert memory.times == [0, 0, 1, 0]
    with pytest.raises(ValueError, match="Step k"):
        drive(memory.store("no label"))


def test_mb_without_forgetting_returns_summary_first_then_all_by_cosine():
    memory = MBMemory(HashingEncoder(), MemorySettings(top_k=2), coef=math.inf)
    store_all(memory, ["alpha beta", "beta gamma", "gamma delta", "alpha alpha beta"], summariser())
    query = "alpha beta"
    result = recall(memory, query)
    order = np.argsort(-cosines(memory.texts, query), kind="stable").tolist()
    assert result.record["indices"] == order and len(order) == len(memory.texts) == 6  # no top-k
    assert items(result.context) == ["G2"] + [memory.texts[i] for i in order]


def test_mb_forgetting_is_seeded_and_follows_the_keep_probability():
    texts = [f"alpha word{i}" for i in range(12)]
    memory = MBMemory(HashingEncoder(), MemorySettings(seed=3))
    store_all(memory, texts, summariser())
    scores = cosines(memory.texts, "alpha")
    ranked = np.argsort(-scores, kind="stable").tolist()
    now, rng = len(memory.texts), random.Random(3)
    expected = [i for i in ranked if rng.random() <= math.exp(-(now - memory.times[i]) / 5.0)]
    first = recall(memory, "alpha")
    assert first.record["indices"] == expected and 0 < len(expected) < len(ranked)
    # A fresh memory with the same seed forgets the same units; reset re-seeds.
    twin = MBMemory(HashingEncoder(), MemorySettings(seed=3))
    store_all(twin, texts, summariser())
    assert recall(twin, "alpha").context == first.context
    memory.reset()
    store_all(memory, texts, summariser())
    assert recall(memory, "alpha").context == first.context


def test_mb_paper_formula_reinforces_recalled_units():
    memory = MBMemory(HashingEncoder(), coef=math.inf, forgetting="paper")
    store_all(memory, ["alpha", "beta"], summariser())
    kept = recall(memory, "alpha").record["indices"]
    assert sorted(kept) == [0, 1, 2]
    assert memory.strengths == [2.0, 2.0, 2.0] and memory.times == [3, 3, 3]


def test_mb_summaries_are_read_after_reset():
    memory = MBMemory(HashingEncoder())
    store_all(memory, ["u0", "u1"], summariser())
    memory.reset()
    assert memory.global_summary == "None"
    _, requests = store_all(memory, ["v0", "v1"], lambda prompt: "fresh summary")
    assert "['fresh summary']" in requests[1][1].messages[-1]["content"]  # old day summaries are gone
    assert items(recall(memory, "v0").context)[0] == "fresh summary"


def test_mb_global_summary_is_none_until_the_first_summary():
    memory = MBMemory(HashingEncoder(), coef=math.inf)
    store_all(memory, ["only unit"])
    assert items(recall(memory, "only").context) == ["None", "only unit"]


def test_mb_is_untruncated_unless_asked():
    settings = MemorySettings(word_limit=5)
    long_text = " ".join(["alpha"] * 50)
    memory = MBMemory(HashingEncoder(), settings, coef=math.inf)
    store_all(memory, [long_text])
    assert long_text in recall(memory, "alpha").context
    truncated = MBMemory(HashingEncoder(), settings, coef=math.inf, truncate=True)
    store_all(truncated, [long_text])
    assert len(recall(truncated, "alpha").context.split(" ")) == 5
    assert re.match(r"\[Memory Start\]\n\[0\] None\n\[1\] alpha", recall(truncated, "alpha").context)
