"""The small agent: constrained actions, demonstrations from the training pool, success criteria, SFT packing."""

import pytest

from conftest import HashingEncoder, ScriptedChatModel, raw_record
from l2m import workspace as workspace_module
from l2m.actions import ACTION_CONSTRAINT, parse_action
from l2m.agent import Agent
from l2m.agent_tuning import (
    AgentAdapterSettings,
    demonstration_episode,
    episode_demonstrations,
    rotation,
    train_agent_adapter,
)
from l2m.calls import run_without_llm
from l2m.config import BASELINES, SMOLLM2, get_profile
from l2m.data.hotpotqa import check_training_pool, parse_record
from l2m.env.hotpotqa import HotpotQAEnv
from l2m.env.wiki import LocalWiki
from l2m.memory.full import FUMemory
from l2m.models import Sampling
from l2m.success import is_success
from l2m.training.sft import IGNORE, SFTExample, collate, encode_example
from l2m.workspace import Workspace


def test_profiles_constrain_the_small_agent_only():
    assert Agent.from_profile(get_profile("cpu")).act.constraint == ACTION_CONSTRAINT
    assert Agent.from_profile(get_profile("paper")).act.constraint is None
    assert Agent.from_profile(get_profile("cpu"), constrained=False).act.constraint is None
    assert get_profile("paper").agent_adapter_questions == 0
    # The cpu reader learns from every memory's contexts (the pilot); smoke keeps FUMemory's alone.
    assert get_profile("cpu").agent_context_memories == (*BASELINES, "Ours-def")
    assert get_profile("smoke").agent_context_memories == ("FUMemory",)


@pytest.mark.model
def test_constrained_decoder_returns_one_action_for_a_prose_prompt():
    from l2m.models.llm import TransformersChatModel

    llm = TransformersChatModel(SMOLLM2, dtype="float32")
    prose = "Write a long friendly paragraph about the history of Paris. Do not use brackets."
    conv = [[{"role": "user", "content": prose}], [{"role": "user", "content": "What is 2+2?"}]]
    free = llm.generate(conv, Sampling(24))
    assert parse_action(free[0].text) is None  # the unconstrained model writes prose here
    for generation in llm.generate(conv, Sampling(32, constraint=ACTION_CONSTRAINT)):
        action = parse_action(generation.text)  # strict: the whole output is one action
        assert action is not None and action.valid, generation.text


@pytest.fixture
def records():
    train = parse_record(
        raw_record(
            _id="train1",
            context=[["France", ["France is a country."]], ["Paris", ["Paris is the capital of France."]]],
            supporting_facts=[["France", 0], ["Paris", 0]],
        ),
        source="t",
        index=0,
    )
    test = parse_record(raw_record(_id="test1"), source="t", index=1)
    return train, test


def fumemory_demonstrations(record, *, reading_only=False):
    wiki = LocalWiki.from_records([record])
    agent = Agent.from_profile(get_profile("cpu"))
    new_env = lambda steps: HotpotQAEnv(wiki, max_steps=steps, action_parser="first_line")  # noqa: E731
    episode = run_without_llm(demonstration_episode(record, new_env, agent, FUMemory(word_limit=1024)))
    return episode_demonstrations(episode, agent, reading_only=reading_only)


def test_demonstrations_replay_the_scripted_episode(records):
    train, _ = records
    demos = fumemory_demonstrations(train)
    targets = [d.example.target for d in demos if d.stage == "act"]
    assert targets == ["Search[France]", "Search[Paris]", "Finish[Paris]"]
    assert {d.question_id for d in demos} == {"train1"}
    # The step-3 prompt holds what FUMemory would hold then: the page found at step 2, and the
    # templated thought stored before each action.
    last_act = demos[-1].example.messages[-1]["content"]
    assert "Observation (Step 3): Paris is the capital of France." in last_act
    assert "Action (Step 2): Search[Paris]" in last_act
    assert "Thought (Step 2): I need information about Paris" in last_act


def test_reading_demonstration_is_the_final_thought_with_the_full_memory(records):
    train, _ = records
    (demo,) = fumemory_demonstrations(train, reading_only=True)
    assert (demo.stage, demo.step) == ("think", 3)
    assert demo.example.target.endswith("The answer is Paris.")
    assert "Observation (Step 3): Paris is the capital of France." in demo.example.messages[-1]["content"]


def test_no_demonstration_from_a_test_question(records, tmp_path):
    train, test = records
    check_training_pool([train], {"test1"}, "demonstrations")
    with pytest.raises(ValueError, match="test1 are test questions; demonstrations learn"):
        check_training_pool([train, test], {"test1"}, "demonstrations")

    def demonstrate(full, reading):
        raise AssertionError("no demonstration may be played for a test question")

    settings = AgentAdapterSettings.default(1, 1, seed=0)
    with pytest.raises(ValueError, match="test1 are test questions"):
        train_agent_adapter(
            [train, test],
            demonstrate,
            llm_name=SMOLLM2,
            word_limit=1024,
            settings=settings,
            forbidden_ids={"test1"},
            out_dir=tmp_path,
            provenance={},
        )


def test_memories_rotate_over_the_questions():
    assert rotation(("FUMemory", "Ours-def", "LTMemory"), 5) == [
        "FUMemory",
        "Ours-def",
        "LTMemory",
        "FUMemory",
        "Ours-def",
    ]
    with pytest.raises(ValueError, match="at least one memory"):
        rotation((), 3)


def test_workspace_demonstrations_show_each_memorys_context(tmp_path):
    from l2m.workspace import Workspace

    profile = get_profile("smoke").replace(agent_context_memories=("FUMemory", "LTMemory+summarized"))
    ws = Workspace(profile, run_dir=tmp_path)
    ws.encoder = HashingEncoder()
    ws.llm = ScriptedChatModel(lambda prompt: "A short summary.")
    full, reading = ws.splits["train"][:2], ws.splits["train"][2:3]
    demos = ws.agent_demonstrations(full, reading)
    contexts = {d.question_id: d.example.messages[-1]["content"] for d in demos if (d.step, d.stage) == (2, "think")}
    # FUMemory keeps the step-1 action; the summarising memory stores the LLM's summaries instead.
    assert "Action (Step 1): Search[" in contexts[full[0].id]
    assert "A short summary." in contexts[full[1].id] and "Action (Step 1)" not in contexts[full[1].id]
    # Every step is scripted: the only LLM calls are the summarising memory's, one per store
    # (observation, thought and action at each of the 3 steps of question 2).
    assert ws.llm.calls == 9
    # The episodes are logged: a second call replays them without asking the LLM.
    assert ws.agent_demonstrations(full, reading) == demos and ws.llm.calls == 9
    (log,) = (tmp_path / "demonstrations").glob("*/episodes.jsonl")
    assert len(log.read_text().splitlines()) == 3
    assert [d.stage for d in demos if d.question_id == reading[0].id] == ["think"]
    with pytest.raises(ValueError, match="without a memory: ActOnly"):
        Workspace(
            profile.replace(agent_context_memories=("FUMemory", "ActOnly")), run_dir=tmp_path
        ).agent_demonstrations(full, [])


def test_workspace_demonstrations_load_no_llm_when_no_memory_asks(tmp_path):
    from l2m.workspace import RoleModels, Workspace

    ws = Workspace(get_profile("smoke").replace(agent_context_memories=("FUMemory",)), run_dir=tmp_path)
    ws.encoder = HashingEncoder()
    assert ws.agent_demonstrations(ws.splits["train"][:2], [])
    assert "llm" not in vars(ws) and "agent_llm" not in vars(ws)
    with pytest.raises(RuntimeError, match="scripted episode asked the agent"):
        RoleModels(ws, scripted_agent=True)["agent"]


def test_workspace_demonstrations_use_the_training_pool_only():
    from l2m.workspace import Workspace

    ws = Workspace(get_profile("cpu"))
    pool_ids = {r.id for r in ws.splits["train"]}
    assert not pool_ids & ws.test_ids


def test_existing_adapter_is_reused_without_training(tmp_path, records):
    train, _ = records
    settings = AgentAdapterSettings.default(1, seed=0)
    folder = tmp_path / f"agent_adapter-{settings.key(SMOLLM2, 1024, ['train1'], [])}"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")

    def demonstrate(full, reading):
        raise AssertionError("a reused adapter plays no demonstration")

    found = train_agent_adapter(
        [train],
        demonstrate,
        llm_name=SMOLLM2,
        word_limit=1024,
        settings=settings,
        forbidden_ids=set(),
        out_dir=tmp_path,
        provenance={},
    )
    assert found == folder
    other = AgentAdapterSettings.default(1, seed=1)
    assert other.key(SMOLLM2, 1024, ["train1"], []) != settings.key(SMOLLM2, 1024, ["train1"], [])


PINNED_FUMEMORY_KEY = "a72d12152681"


def test_a_rotation_of_memories_is_another_adapter_and_fumemory_alone_keeps_its_key():
    fumemory = AgentAdapterSettings.default(1, seed=0)
    rotated = AgentAdapterSettings.default(1, seed=0, context_memories=("FUMemory", "Ours-def"))
    assert rotated.key(SMOLLM2, 1024, ["train1"], []) != fumemory.key(SMOLLM2, 1024, ["train1"], [])
    # The key FUMemory-only adapters had before the memories became a setting: committed adapters stay valid.
    assert fumemory.key(SMOLLM2, 1024, ["train1"], []) == PINNED_FUMEMORY_KEY


def test_the_adapter_follows_agent_seed_not_the_seed_of_a_study():
    cpu = get_profile("cpu")
    assert AgentAdapterSettings.for_profile(cpu.replace(seed=2)) == AgentAdapterSettings.for_profile(cpu)
    assert AgentAdapterSettings.for_profile(cpu.replace(agent_seed=2)).sft.seed == 2


def test_a_seed_study_shares_the_adapter_trained_under_agent_seed(monkeypatch, tmp_path):
    demonstrating_seeds = []

    def train(pool, demonstrate, **settings):
        demonstrating_seeds.append(demonstrate.__self__.profile.seed)
        return tmp_path / "adapter"

    monkeypatch.setattr(workspace_module, "train_agent_adapter", train)
    monkeypatch.setattr(Workspace, "checked", lambda self, folder: folder)
    study = Workspace(get_profile("cpu").replace(seed=2), run_dir=tmp_path)
    assert study.agent_adapter == tmp_path / "adapter"
    assert demonstrating_seeds == [0]


def episode(answer, reward, context):
    return {"answer": answer, "gold_answer": "New York City", "reward": reward, "step_records": [{"context": context}]}


@pytest.mark.parametrize(
    "ep, em, f1, in_context",
    [
        (episode("New York City", 1.0, "nothing"), True, True, False),
        (episode("New York", 0.0, "[0] born in new york city."), False, True, True),  # F1 0.8
        (episode("York", 0.0, "New York Citys"), False, False, False),  # F1 = 0.5 < 0.6; "citys" is no match
        (episode(None, 0.0, "The New-York City hall"), False, False, False),
        (episode("Boston", 0.0, "moved to New York City in 1990"), False, False, True),
    ],
)
def test_success_criteria_hand_computed(ep, em, f1, in_context):
    assert is_success(ep, "em") is em
    assert is_success(ep, "f1", f1_threshold=0.6) is f1
    assert is_success(ep, "answer_in_context") is in_context


def test_sft_packs_prompt_and_target_without_pads_and_masks_the_prompt():
    class Tok:
        eos_token_id, pad_token_id = 99, 0

        def apply_chat_template(self, messages, add_generation_prompt, tokenize):
            return messages[-1]["content"]

        def __call__(self, text, add_special_tokens):
            return {"input_ids": [len(w) for w in text.split()]}

    ids, labels = encode_example(Tok(), SFTExample([{"role": "user", "content": "aa bbb c"}], "dddd e"), 100)
    assert ids == [2, 3, 1, 4, 1, 99] and labels == [IGNORE] * 3 + [4, 1, 99]
    short_ids, short_labels = encode_example(Tok(), SFTExample([{"role": "user", "content": "aa bbb c"}], "dddd e"), 4)
    assert short_ids == [1, 4, 1, 99] and short_labels == [IGNORE, 4, 1, 99]  # prompt cut from the left
    batch = collate([(ids, labels), ([5, 6], [IGNORE, 6])], pad_id=0)
    assert batch["input_ids"][1].tolist() == [5, 6, 0, 0, 0, 0]
    assert batch["labels"][1].tolist() == [IGNORE, 6, IGNORE, IGNORE, IGNORE, IGNORE]
    assert batch["attention_mask"][1].tolist() == [1, 1, 0, 0, 0, 0]
