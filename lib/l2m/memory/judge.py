"""Tolerant parsing of LLM judge replies (BASELINES §0).

MemEngine parses numeric ratings with eval() (which crashes on "Rating: 7" and executes model
output as code) and accepts only the exact strings "True"/"False" (anything else is a truthy
error string). Here a number is found with a regular expression and a yes/no answer
case-insensitively; when neither is found the caller's fallback is used and `used_fallback`
says so, so the record can log it. Nothing the model writes is ever evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TRUE = re.compile(r"\b(true|yes)\b", re.IGNORECASE)
_FALSE = re.compile(r"\b(false|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    value: object
    used_fallback: bool


def parse_number(reply: str, fallback: float, *, low: float | None = None, high: float | None = None) -> Parsed:
    """The first number in `reply`, clipped to [low, high]; `fallback` if there is none."""
    match = _NUMBER.search(reply)
    if match is None:
        return Parsed(fallback, True)
    value = float(match.group())
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return Parsed(value, False)


def parse_bool(reply: str, fallback: bool) -> Parsed:
    """True/False (or yes/no), whichever appears first, case-insensitively; else `fallback`."""
    t, f = _TRUE.search(reply), _FALSE.search(reply)
    if t and (not f or t.start() < f.start()):
        return Parsed(True, False)
    if f:
        return Parsed(False, False)
    return Parsed(fallback, True)
