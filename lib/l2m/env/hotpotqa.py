"""HotpotQA as an interactive task (PAPER §7).

Actions are Search[entity] and Finish[answer]; anything else is invalid. An episode ends at
Finish (reward 1 for an exact match after SQuAD normalisation, else 0) or after `max_steps`
actions (reward 0). The environment parses the agent's own ACT output itself: text that comes
from the wiki or from memory is only ever shown to the agent, never acted upon.
"""

from __future__ import annotations

from dataclasses import dataclass

from l2m.actions import Action, parse_action
from l2m.data.hotpotqa import HotpotRecord
from l2m.env.wiki import Wiki
from l2m.metrics import exact_match

NOT_FOUND = "Content not found."
# The authors' code says "Action is inavalid."; the typo is fixed here (the text only ever
# reaches the agent through memory, so the wording does not affect any mechanism).
INVALID_ACTION = "Action is invalid."
RIGHT_ANSWER = "The answer is right."
WRONG_ANSWER = "The answer is wrong."


def question_observation(question: str) -> str:
    """The first observation of an episode (PAPER §1.2)."""
    return f"The question is '{question}'"


@dataclass(frozen=True)
class StepResult:
    observation: str
    reward: float
    done: bool
    action: Action | None


class HotpotQAEnv:
    def __init__(self, wiki: Wiki, *, max_steps: int = 5, action_parser: str = "strict"):
        self.wiki = wiki
        self.max_steps = max_steps
        self.action_parser = action_parser
        self.record: HotpotRecord | None = None
        self.steps_taken = 0
        self.done = True

    def reset(self, record: HotpotRecord) -> str:
        self.record, self.steps_taken, self.done = record, 0, False
        return question_observation(record.question)

    def step(self, agent_output: str) -> StepResult:
        """Carry out the action in the agent's ACT output (parsed here, never elsewhere)."""
        if self.record is None or self.done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self.steps_taken += 1
        action = parse_action(agent_output, self.action_parser)
        observation, reward, finished = self._apply(action)
        self.done = finished or self.steps_taken >= self.max_steps
        return StepResult(observation, reward, self.done, action)

    def _apply(self, action: Action | None) -> tuple[str, float, bool]:
        if action is None or not action.valid:
            return INVALID_ACTION, 0.0, False
        if action.verb == "Finish":
            reward = exact_match(action.argument, self.record.answer)
            return (RIGHT_ANSWER if reward else WRONG_ANSWER), reward, True
        page = self.wiki.search(action.argument)
        return (page if page else NOT_FOUND), 0.0, False
