"""SCMemory, MGMemory, RFMemory and MTMemory (BASELINES §6-9) with a fake encoder and scripted LLM replies."""

import json
import math

import numpy as np
import pytest

from conftest import HashingEncoder, drive
from l2m.memory.base import EMPTY_CONTEXT, MemorySettings, render_indexed
from l2m.memory.baselines.memgpt import MGMemory, parse_calls
from l2m.memory.baselines.memtree import MTMemory
from l2m.memory.baselines.reflexion import RFMemory
from l2m.memory.baselines.self_controlled import SCMemory, render_sections

JUDGE_MARK = "Output only True or False."


def no_llm(prompt: str) -> str:
    raise AssertionError(f"unexpected LLM call: {prompt[:80]!r}")


def sc_replies(activation: str, summary: str = "True"):
    """Summaries are "S(<unit>)"; the activation judge and the summary judge answer as given."""

    def respond(prompt: str) -> str:
        if prompt.startswith("Content: "):
            return "S(" + prompt.split("\n", 1)[0].removeprefix("Content: ") + ")"
        assert JUDGE_MARK in prompt
        return activation if "Does answering" in prompt else summary

    return respond


def section(context: str, key: str) -> list[str]:
    """The lines under `(key)` up to the next section or the end marker."""
    lines = context.split("\n")
    start = lines.index(f"({key})") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("(") or lines[i] == "[Memory End]")
    return lines[start:end]


def store_all(memory, texts, respond=no_llm):
    return [drive(memory.store(text), respond)[0] for text in texts]


UNITS = [f"unit{i} word{i} thing{i}" for i in range(6)]


# ---------------------------------------------------------------------------------------------
# render_sections (ConcateUtilization of a dict)
# ---------------------------------------------------------------------------------------------


def test_render_sections_follows_concate_utilization():
    assert render_sections({"A": ["x", "y"], "B": "text", "C": []}) == (
        "[Memory Start]\n(A)\n[0] x\n[1] y\n(B)\ntext\n(C)\nNone\n[Memory End]"
    )
    assert render_sections({"A": [], "B": None}) == EMPTY_CONTEXT


# ---------------------------------------------------------------------------------------------
# SCMemory
# ---------------------------------------------------------------------------------------------


def test_sc_store_summarises_each_unit_once():
    memory = SCMemory(HashingEncoder())
    records = store_all(memory, UNITS[:2], sc_replies("False"))
    assert [r["time"] for r in records] == [0, 1]
    assert [r["summary"] for r in records] == [f"S({UNITS[0]})", f"S({UNITS[1]})"]
    assert [len(r["llm_calls"]) for r in records] == [1, 1]
    json.dumps(records)


def test_sc_activation_false_returns_the_three_newest_units_newest_first():
    memory = SCMemory(HashingEncoder())
    store_all(memory, UNITS, sc_replies("False"))
    recall, requests = drive(memory.recall("unit0"), sc_replies("False"))
    assert recall.context == render_indexed([UNITS[5], UNITS[4], UNITS[3]])
    assert len(requests) == 1 and recall.record["activate"] is False
    json.dumps(recall.record)


def test_sc_true_true_gives_summary_and_flash_sections_of_three():
    memory = SCMemory(HashingEncoder())
    store_all(memory, UNITS, sc_replies("True"))
    recall, requests = drive(memory.recall("unit0 word0"), sc_replies("True", "True"))
    summaries, flash = section(recall.context, "History Summary"), section(recall.context, "Flash Memory")
    assert len(summaries) == 3 and len(flash) == 3
    # The unit that matches the query is activated first; its stored summary is reused.
    assert summaries[0] == f"[0] S({UNITS[0]})"
    assert flash == [f"[0] {UNITS[5]}", f"[1] {UNITS[4]}", f"[2] {UNITS[3]}"]
    assert len(requests) == 2  # two judges, no fresh summaries
    assert recall.record["activated"][0] == 0 and recall.record["use_summaries"] is True
    json.dumps(recall.record)


def test_sc_summary_judge_false_gives_full_texts_and_resummarize_pays_per_unit():
    memory = SCMemory(HashingEncoder(), resummarize=True)
    store_all(memory, UNITS, sc_replies("True"))
    recall, requests = drive(memory.recall("unit0 word0"), sc_replies("True", "False"))
    assert section(recall.context, "History Memory")[0] == f"[0] {UNITS[0]}"
    assert [r.stage for r in requests] == ["judge", "summarize", "summarize", "summarize", "judge"]


def test_sc_judge_parsing_is_tolerant_by_default_and_exact_as_an_option():
    tolerant, exact = SCMemory(HashingEncoder()), SCMemory(HashingEncoder(), exact_judge=True)
    for memory in (tolerant, exact):
        store_all(memory, UNITS, sc_replies("True"))
    # "False." means "no activation"; MemEngine reads only "False", and its error string is truthy.
    assert drive(tolerant.recall("q"), sc_replies("False."))[0].record["activate"] is False
    assert drive(exact.recall("q"), sc_replies("False."))[0].record["activate"] is True
    # A reply with no verdict falls back to True and says so.
    record = drive(tolerant.recall("q"), sc_replies("maybe"))[0].record
    assert record["activate"] is True and record["activate_fallback"] is True


def test_sc_activated_units_refresh_into_the_next_flash_memory():
    refreshed, plain = SCMemory(HashingEncoder()), SCMemory(HashingEncoder(), refresh_recency=False)
    for memory in (refreshed, plain):
        store_all(memory, UNITS, sc_replies("True"))
        drive(memory.recall("unit0 word0 thing0"), sc_replies("True"))
    assert 0 in drive(refreshed.recall("q"), sc_replies("False"))[0].record["flash"]
    assert drive(plain.recall("q"), sc_replies("False"))[0].record["flash"] == [5, 4, 3]


def test_sc_reset_empties_the_memory():
    memory = SCMemory(HashingEncoder())
    store_all(memory, UNITS, sc_replies("True"))
    memory.reset()
    recall, requests = drive(memory.recall("unit0"), no_llm)
    assert recall.context == EMPTY_CONTEXT and requests == []


# ---------------------------------------------------------------------------------------------
# MGMemory
# ---------------------------------------------------------------------------------------------


def test_mg_a_unit_over_1024_words_flushes_the_fifo_with_one_summary_call():
    memory = MGMemory(HashingEncoder())
    store_all(memory, ["short one", "short two"])
    long_unit = " ".join(f"w{i}" for i in range(1100))
    record, requests = drive(memory.store(long_unit), lambda prompt: "the summary")
    assert [r.stage for r in requests] == ["summarize"]
    assert memory.fifo == [] and memory.summary == "the summary"
    assert memory.recall_storage.texts == ["short one", "short two", long_unit]
    assert record["flushed"] == 3
    json.dumps(record)


def test_mg_flush_stops_once_the_moved_text_exceeds_the_limit():
    memory = MGMemory(HashingEncoder(), flush_words=5)
    store_all(memory, ["a b c d", "e f g h"])  # no unit is over 5 words: no flush
    drive(memory.store("i j k l m n"), lambda prompt: "s")
    # Moved text "a b c d" has 4 pieces; "a b c d\ne f g h" has 7 > 5 (a newline is no separator).
    assert memory.recall_storage.texts == ["a b c d", "e f g h"] and memory.fifo == ["i j k l m n"]


def test_mg_context_pressure_flushes_on_the_whole_main_context():
    # The rendered main context has 9 space-separated pieces with one two-word unit, +2 per unit.
    incoming, context = (
        MGMemory(HashingEncoder(), flush_words=12),
        MGMemory(HashingEncoder(), flush_words=12, pressure_source="context"),
    )
    store_all(incoming, ["a b", "c d", "e f"])
    store_all(context, ["a b", "c d"])
    _, requests = drive(context.store("e f"), lambda prompt: "s")
    assert len(requests) == 1 and context.recall_storage.texts == ["a b", "c d", "e f"]
    assert incoming.fifo == ["a b", "c d", "e f"]


def test_mg_memory_transfer_moves_fifo_item_0_to_working_memory():
    memory = MGMemory(HashingEncoder())
    store_all(memory, ["alpha", "bravo", "charlie"])
    recall, requests = drive(memory.recall("q"), lambda prompt: "memory_transfer([0])")
    assert len(requests) == 1 and requests[0].stage == "trigger"
    assert memory.working == ["alpha"] and memory.fifo == ["bravo", "charlie"]
    assert section(recall.context, "Working Memory") == ["[0] alpha"]
    assert section(recall.context, "FIFO Memory") == ["[0] bravo", "[1] charlie"]
    assert recall.record["executed"] == [{"call": "memory_transfer", "argument": [0], "moved": 1}]
    json.dumps(recall.record)


def test_mg_trigger_parsing_never_evaluates_and_skips_malformed_lines():
    reply = "\n".join(
        [
            "memory_retrieval('Alice's name')",  # MemEngine's own unbalanced example
            "memory_save([0, 1])",
            "__import__('os').system('echo hacked')",
            "memory_transfer(0)",
            "memory_archive(['a'])",
            "memory_save(",
            "NONE",
        ]
    )
    calls, ignored = parse_calls(reply)
    assert calls == [("memory_retrieval", "Alice's name"), ("memory_save", [0, 1]), ("memory_transfer", [0])]
    assert len(ignored) == 4


def test_mg_external_storages_are_retrievable():
    memory = MGMemory(HashingEncoder(), MemorySettings(top_k=1))
    store_all(memory, ["paris is in france", "berlin is in germany"])
    drive(memory.recall("q"), lambda prompt: "memory_transfer([1])\nmemory_save([0])")
    assert memory.archival_storage.texts == ["berlin is in germany"] and memory.working == []
    recall, _ = drive(memory.recall("q"), lambda prompt: 'memory_retrieval("berlin germany")')
    assert memory.working == ["berlin is in germany"]
    assert recall.record["executed"][0]["found"] == [0]
    drive(memory.recall("q"), lambda prompt: "memory_archive([0])")
    assert memory.fifo == [] and memory.recall_storage.texts == ["paris is in france"]
    drive(memory.recall("q"), lambda prompt: "memory_recall('paris')")
    assert memory.fifo == ["paris is in france"]


def test_mg_reset_clears_the_main_context_and_storages():
    memory = MGMemory(HashingEncoder())
    store_all(memory, ["alpha", "bravo"])
    drive(memory.recall("q"), lambda prompt: "memory_transfer([0])\nmemory_save([0])")
    memory.reset()
    recall, requests = drive(memory.recall("q"), no_llm)
    assert recall.context == EMPTY_CONTEXT and requests == []
    assert memory.archival_storage.texts == [] and memory.working == [] and memory.fifo == []


# ---------------------------------------------------------------------------------------------
# RFMemory
# ---------------------------------------------------------------------------------------------


def test_rf_without_insight_is_full_memory():
    memory = RFMemory()
    store_all(memory, ["a", "b"])
    assert drive(memory.recall("q"), no_llm)[0].context == render_indexed(["a", "b"])


def test_rf_after_optimize_the_recall_starts_with_the_insight():
    memory = RFMemory()
    store_all(memory, ["a", "b"])
    record, requests = drive(memory.optimize("trial text"), lambda prompt: "Search one entity at a time.")
    assert [r.stage for r in requests] == ["reflect"] and "trial text" in requests[0].messages[-1]["content"]
    context = drive(memory.recall("q"), no_llm)[0].context
    assert context.startswith("[Memory Start]\n(Insight)\nSearch one entity at a time.\n(Memory)\n[0] a")
    json.dumps(record)


def test_rf_insight_carries_into_the_next_trial_unless_disabled():
    kept, cleared = RFMemory(), RFMemory(keep_insight=False)
    for memory in (kept, cleared):
        store_all(memory, ["a"])
        drive(memory.optimize("trial 1"), lambda prompt: "insight 1")
        memory.reset()
    assert drive(kept.recall("q"), no_llm)[0].context == "[Memory Start]\n(Insight)\ninsight 1\n[Memory End]"
    assert drive(cleared.recall("q"), no_llm)[0].context == EMPTY_CONTEXT
    # The next reflection sees the kept insight and replaces it.
    _, requests = drive(kept.optimize("trial 2"), lambda prompt: "insight 2")
    assert "Previous insight: insight 1" in requests[0].messages[-1]["content"]
    assert kept.insights == ["insight 2"]


def test_rf_max_insights_keeps_the_latest_reflections():
    memory = RFMemory(max_insights=2)
    for i in range(3):
        drive(memory.optimize(f"trial {i}"), lambda prompt, i=i: f"insight {i}")
    assert section(drive(memory.recall("q"), no_llm)[0].context, "Insight") == ["[0] insight 1", "[1] insight 2"]


# ---------------------------------------------------------------------------------------------
# MTMemory
# ---------------------------------------------------------------------------------------------


class OneHotEncoder:
    """Each distinct text gets its own basis vector, so every pair of texts is orthogonal."""

    def __init__(self, dim: int = 32):
        self.dim, self.seen = dim, {}

    def encode(self, texts, kind="passage"):
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(rows, texts):
            row[self.seen.setdefault(text, len(self.seen))] = 1.0
        return rows


def test_mt_threshold_formula():
    memory = MTMemory(HashingEncoder())
    memory.max_depth = 3
    for depth in range(4):
        assert memory.threshold(depth) == pytest.approx(0.4 * math.exp(0.5 * depth / 3))


def test_mt_orthogonal_units_all_attach_to_the_root_without_llm_calls():
    memory = MTMemory(OneHotEncoder())
    records = store_all(memory, [f"text {i}" for i in range(6)])
    assert [(r["parent"], r["depth"]) for r in records] == [(0, 1)] * 6
    assert memory.nodes[0].children == [1, 2, 3, 4, 5, 6] and memory.max_depth == 1
    json.dumps(records)


def test_mt_querying_with_a_stored_text_returns_it_first():
    memory = MTMemory(HashingEncoder())
    texts = ["apple banana cherry", "delta echo foxtrot", "golf hotel india"]
    store_all(memory, texts)
    for text in texts:
        recall = drive(memory.recall(text), no_llm)[0]
        assert recall.context.split("\n")[1] == f"[0] {text}"
    json.dumps(recall.record)


def test_mt_similar_unit_merges_into_the_parent_and_descends():
    memory = MTMemory(HashingEncoder())
    store_all(memory, ["apple banana cherry"])
    record, requests = drive(memory.store("apple banana cherry date"), lambda prompt: "fruit summary")
    assert [r.stage for r in requests] == ["merge"]
    assert "from 1 earlier entries" in requests[0].messages[-1]["content"]
    assert (record["parent"], record["depth"], record["merged"]) == (1, 2, [0])
    # The root now holds the summary, is embedded, and can be recalled.
    assert memory.nodes[0].text == "fruit summary"
    assert "fruit summary" in drive(memory.recall("fruit summary"), no_llm)[0].context.split("\n")[1]


def test_mt_split_leaves_turns_the_reached_leaf_into_a_parent():
    memory = MTMemory(HashingEncoder(), split_leaves=True)
    store_all(memory, ["apple banana cherry"])
    record, requests = drive(memory.store("apple banana cherry date"), lambda prompt: "merged")
    assert [r.stage for r in requests] == ["merge", "merge"]
    assert record["parent"] == 1 and memory.nodes[1].text == "merged"
    assert [memory.nodes[c].text for c in memory.nodes[1].children] == [
        "apple banana cherry",
        "apple banana cherry date",
    ]


def test_mt_reset_empties_the_memory():
    memory = MTMemory(HashingEncoder())
    store_all(memory, ["alpha bravo"])
    memory.reset()
    assert drive(memory.recall("alpha bravo"), no_llm)[0].context == EMPTY_CONTEXT
