"""How well a critic's scores separate wrong answers from right ones."""

from __future__ import annotations

import math
from collections.abc import Sequence


def auc(wrongness: Sequence[float], wrong: Sequence[bool]) -> float:
    """P(a wrong answer scores above a right one), ties counting half; NaN without both kinds.

    `wrongness` is any score that should be higher for wrong answers (e.g. minus the critic's
    pass probability). Threshold-free: it says whether a critic ranks well, while precision and
    recall also depend on where its threshold sits.
    """
    pairs = sorted(zip(wrongness, wrong, strict=True), key=lambda p: p[0])
    n_wrong = sum(wrong)
    n_right = len(pairs) - n_wrong
    if not n_wrong or not n_right:
        return math.nan
    # Mann-Whitney U with average ranks for ties.
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - n_wrong * (n_wrong + 1) / 2) / (n_wrong * n_right)
