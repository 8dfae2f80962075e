"""The think-then-act agent of PAPER §1.2 and the memory-less ActOnly / CoTOnly agents.

The agent sees only the question, its memory context and (for ACT) its own thought: every
earlier step reaches it through memory alone. Prompts are written from the description in
PAPER §1.3 (role line, question, the think instruction or the action menu with its examples,
then the memory block).

ActOnly and CoTOnly (PAPER §8.1) are single-step agents without memory: the paper's Table 3
gives them equal time per step and per trajectory, so each answers in one step. Their ACT
prompt therefore offers only Finish[answer], to be answered from the model's own knowledge
(inferred; the paper gives one line for each and the authors' code has neither).
"""

from __future__ import annotations

from dataclasses import dataclass

from l2m.actions import ACTION_CONSTRAINT
from l2m.calls import LLMRequest, user_message
from l2m.config import Profile
from l2m.models.llm import Sampling

ROLE_LINE = (
    "You are a knowledgeable expert, and you are answering a question. "
    "You are allowed to search in Wikipedia to get information."
)
MEMORY_BLOCK = "In previous steps, you have already accumulated some knowledge in your memory as follows:\n{context}"

THINK_PROMPT = (
    ROLE_LINE + "\nThe question is: {question}.\n"
    "Decide whether to answer the question now or to search an entity in Wikipedia for more information. "
    "Think step by step, and output your reasoning as one concise paragraph.\n" + MEMORY_BLOCK
)

ACTION_MENU = (
    "Choose one of the following actions:\n"
    "(1) Search[entity], which searches the entity in Wikipedia and returns its paragraphs.\n"
    "(2) Finish[answer], which gives the answer and ends the task. The answer should be concise "
    "with several words, NOT a sentence.\n"
    "Your output must follow one of the formats Search[entity] or Finish[answer], for example: "
    "Search[Alan Turing], Finish[no], Finish[Shanghai]."
)

ACT_PROMPT = (
    ROLE_LINE + "\nThe question is: {question}.\n"
    "You have thought step by step about what to do next, as follows:\n{thought}\n" + ACTION_MENU + "\n" + MEMORY_BLOCK
)

FINISH_ONLY = (
    "Answer the question from your own knowledge with Finish[answer], where the answer is concise "
    "with several words, NOT a sentence. For example: Finish[no], Finish[Shanghai]."
)
ACT_ONLY_PROMPT = ROLE_LINE + "\nThe question is: {question}.\n" + FINISH_ONLY
COT_THINK_PROMPT = (
    ROLE_LINE + "\nThe question is: {question}.\n"
    "Think step by step about the answer, and output your reasoning as one concise paragraph."
)
COT_ACT_PROMPT = (
    ROLE_LINE + "\nThe question is: {question}.\nYou have thought step by step as follows:\n{thought}\n" + FINISH_ONLY
)

AGENT_KINDS = ("react", "act_only", "cot_only")


@dataclass(frozen=True)
class Agent:
    """Builds the agent's LLM requests; which prompts depends on `kind`."""

    kind: str
    think: Sampling
    act: Sampling

    def __post_init__(self):
        if self.kind not in AGENT_KINDS:
            raise ValueError(f"unknown agent kind {self.kind!r}; choose one of {', '.join(AGENT_KINDS)}")

    @classmethod
    def from_profile(cls, profile: Profile, kind: str = "react", *, constrained: bool | None = None) -> "Agent":
        """The profile's agent; `constrained` overrides the profile's constrained_actions."""
        constrained = profile.constrained_actions if constrained is None else constrained
        return cls(
            kind=kind,
            think=Sampling(profile.think_max_tokens, profile.temperature, seed=profile.seed),
            act=Sampling(
                profile.act_max_tokens,
                profile.temperature,
                seed=profile.seed,
                constraint=ACTION_CONSTRAINT if constrained else None,
            ),
        )

    @property
    def uses_memory(self) -> bool:
        return self.kind == "react"

    @property
    def thinks(self) -> bool:
        return self.kind != "act_only"

    def think_request(self, question: str, context: str) -> LLMRequest:
        template = THINK_PROMPT if self.kind == "react" else COT_THINK_PROMPT
        text = template.format(question=question, context=context)
        return LLMRequest("agent", "think", user_message(text), self.think)

    def act_request(self, question: str, thought: str, context: str) -> LLMRequest:
        template = {"react": ACT_PROMPT, "act_only": ACT_ONLY_PROMPT, "cot_only": COT_ACT_PROMPT}[self.kind]
        text = template.format(question=question, thought=thought, context=context)
        return LLMRequest("agent", "act", user_message(text), self.act)
