"""Answer metrics (SQuAD-style EM and F1), the Wilson interval for accuracies and a normal one for means."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Collection, Mapping, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """PAPER §7: lower-case, strip punctuation, drop a/an/the, collapse whitespace (SQuAD)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal: the episode reward of PAPER §7."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-level F1 of the normalised strings (HotpotQA's official definition).

    As in the official script, yes/no/noanswer answers score 0 unless they match exactly.
    """
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (pred in special or ref in special) and pred != ref:
        return 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    common = Counter(pred_tokens) & Counter(ref_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion (sound at 0 and n successes too)."""
    if n <= 0:
        raise ValueError("a proportion needs n >= 1 trials")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, {n}], got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float]:
    """(mean, low, high): a normal 95% interval of the mean, clipped to `bounds`.

    With a single value the interval is the whole of `bounds` (nothing is known about the spread);
    with none, all three are NaN.
    """
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, *bounds
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = 1.959964 * sd / math.sqrt(n)
    return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)


def interval_columns(
    columns: Mapping[str, Sequence[float]], unbounded: Collection[str] = (), separator: str = " "
) -> dict:
    """`{name: mean, "name low": .., "name high": ..}` per column (mean_interval); `separator`
    joins the name and "low"/"high".

    Columns are shares in [0, 1] unless named in `unbounded`, which lie in [0, inf) (lengths).
    """
    row = {}
    for name, values in columns.items():
        mean, low, high = mean_interval(values, (0.0, math.inf) if name in unbounded else (0.0, 1.0))
        row |= {name: mean, f"{name}{separator}low": low, f"{name}{separator}high": high}
    return row


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    bounds: tuple[float, float] = (-1.0, 1.0),
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(mean of a - b, low, high): a 95% percentile-bootstrap interval of the mean paired difference.

    `a` and `b` are one value per item for two methods on the same items (e.g. per-question EM);
    pairing removes the between-question spread that two separate intervals would carry. The
    resampling is seeded, so the interval is reproducible. With a single pair nothing is known
    about the spread and the interval is the whole of `bounds` (a difference of shares lies in
    [-1, 1]); with a handful of pairs the bootstrap is optimistic, so read n beside it.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need two equal, non-empty lists; got {len(a)} and {len(b)}")
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diffs) < 2:
        return float(diffs.mean()), *bounds
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(diffs.mean()), float(low), float(high)
