"""Ranking pairs for retrieval training (PAPER §5 step 2).

From the last step of a successful trajectory, with the L memories in the order the gate ranked
them, position i is paired with its mirror L-1-i (the middle one, for odd L, is skipped):

    coef_i = 2i - (L-1)        sign_i = -sign(coef_i)   (+ when the core was ranked higher)
    v_i = (L-1-|coef_i|) / 2   (exponent="code")    or   L-1-|coef_i|   (exponent="paper")
    w_i = sign_i gamma^v_i / sum_j gamma^v_j

The extreme pair (top against bottom) has v = 0 and the largest weight. Each unordered pair
appears twice with opposite signs, so both copies push the same preference. The code's halved
exponent makes its effective gamma sqrt(0.2) ~ 0.447 relative to the paper's formula.
"""

from __future__ import annotations

from dataclasses import dataclass

EXPONENTS = ("code", "paper")


@dataclass(frozen=True)
class RankPair:
    core: int  # index of a memory unit in storage
    inverse: int  # index of its mirror in the ranking
    weight: float  # signed: > 0 asks f(core) > f(inverse)


def mirrored_pairs(ranking: list[int], *, gamma: float = 0.2, exponent: str = "code") -> list[RankPair]:
    """The weighted pairs of one ranking (storage indices, best first)."""
    if exponent not in EXPONENTS:
        raise ValueError(f"exponent must be one of {EXPONENTS}, got {exponent!r}")
    last = len(ranking) - 1
    positions = [i for i in range(len(ranking)) if 2 * i != last]
    coefs = {i: 2 * i - last for i in positions}
    powers = {i: (last - abs(c)) / (2 if exponent == "code" else 1) for i, c in coefs.items()}
    total = sum(gamma ** powers[i] for i in positions)
    return [
        RankPair(ranking[i], ranking[last - i], (1.0 if coefs[i] < 0 else -1.0) * gamma ** powers[i] / total)
        for i in positions
    ]
