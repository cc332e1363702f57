"""The relevance classifier's hold-back threshold, chosen from labelled scores for a target share of relevant
images held back: the lowest threshold (most irrelevant images caught) that keeps the share of the crisis's *next*
relevant images held back at or below the target, not only that of the labelled ones."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

THRESHOLD_FLOOR = 0.5  # an image the model finds more likely relevant than not is never held back
THRESHOLD_CEILING = 0.9999


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    relevant_held_back: float | None  # share of the relevant scores at or above the threshold
    irrelevant_caught: float | None  # share of the irrelevant scores at or above the threshold
    from_labels: bool = True  # False: too few relevant scores to promise the target, the default stands


def share_at_or_above(scores: Sequence[float], threshold: float) -> float | None:
    return sum(score >= threshold for score in scores) / len(scores) if scores else None


def allowed_above(relevant_count: int, target: float) -> int:
    """How many of n labelled relevant scores may lie at or above the threshold so that a new relevant image of
    the crisis is held back with probability at most ``target``: a new image exchangeable with the n ranks above
    the (k+1)-th highest labelled score with probability at most (k+1)/(n+1), so k = floor(target (n+1)) - 1.
    Negative (no threshold can promise the target) under 1/target - 1 labels: 33 at 3%. Holding back k of the n
    labelled images, the in-sample rule, would promise (k+1)/(n+1): 6% instead of 3% with 34 labels."""
    return math.floor(target * (relevant_count + 1) + 1e-9) - 1


def hold_back_threshold(
    relevant: Sequence[float], irrelevant: Sequence[float], *, target: float, default: float
) -> ThresholdChoice:
    """The threshold sits just above the (k+1)-th highest relevant score, k = ``allowed_above(n, target)``. With
    too few relevant scores for any k (or none) the default stands, with the rates it measures on the labels."""
    allowed = allowed_above(len(relevant), target)
    from_labels = bool(relevant) and allowed >= 0
    if not from_labels:
        threshold = default
    else:
        ranked = sorted(relevant, reverse=True)
        threshold = ranked[allowed] + 1e-6 if allowed < len(ranked) else THRESHOLD_FLOOR
        threshold = min(THRESHOLD_CEILING, max(THRESHOLD_FLOOR, threshold))
    return ThresholdChoice(
        round(threshold, 6),
        share_at_or_above(relevant, threshold),
        share_at_or_above(irrelevant, threshold),
        from_labels,
    )
