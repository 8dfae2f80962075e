"""The agent's action grammar: Search[entity] and Finish[answer] (PAPER §1.2, §7).

The paper's code applies the full-string regex ^(\\w+)\\[(.+)\\]$ to the whole ACT output and
treats anything else as an invalid action. Two parsing modes are offered:

* "strict"     — exactly the paper's code: re.match of the regex on the whole output, no
  stripping (Python's `$` also matches before a single final newline, so that is accepted).
* "first_line" — the first line that, after stripping surrounding whitespace, matches the same
  regex. Tolerated beyond the paper: leading/trailing blank space, prose lines before or after
  the action line. Not tolerated: an action embedded inside a sentence, lower-case verbs, or
  brackets that do not close at the end of the line.

Only the verbs Search and Finish are actions; a well-formed line with another verb (e.g.
"Lookup[x]") parses to an Action whose `valid` is False, which the environment answers with
its invalid-action observation, as the paper's code does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACTION_PATTERN = re.compile(r"^(\w+)\[(.+)\]$")
# What constrained decoding lets the ACT call produce (issue: the small agent): exactly one
# Search[...] or Finish[...] with a one-line argument. Every string it admits parses in both modes.
ACTION_CONSTRAINT = r"(Search|Finish)\[[^\[\]\n]{1,80}\]"
VERBS = ("Search", "Finish")
PARSERS = ("strict", "first_line")


@dataclass(frozen=True)
class Action:
    verb: str
    argument: str

    @property
    def valid(self) -> bool:
        return self.verb in VERBS

    def __str__(self) -> str:
        return f"{self.verb}[{self.argument}]"


def parse_action(text: str, mode: str = "strict") -> Action | None:
    """The action in the agent's ACT output, or None when there is none (see module doc)."""
    if mode == "strict":
        candidates = [text]
    elif mode == "first_line":
        candidates = [line.strip() for line in text.splitlines()]
    else:
        raise ValueError(f"unknown action parser {mode!r}; choose one of {', '.join(PARSERS)}")
    for line in candidates:
        match = ACTION_PATTERN.match(line)
        if match:
            return Action(verb=match.group(1), argument=match.group(2).strip())
    return None
