"""The relevance classifier's hold-back threshold, chosen from labelled scores for a target share of relevant
images held back: the lowest threshold (most irrelevant images caught) that keeps the relevant ones held back at or
below the target."""

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


def share_at_or_above(scores: Sequence[float], threshold: float) -> float | None:
    return sum(score >= threshold for score in scores) / len(scores) if scores else None


def hold_back_threshold(
    relevant: Sequence[float], irrelevant: Sequence[float], *, target: float, default: float
) -> ThresholdChoice:
    """With n relevant scores, at most floor(target * n) of them may lie at or above the threshold: the threshold
    sits just above the next one. Few labels make it cautious by themselves (under 34 relevant images at 3%, none
    may be held back). Without relevant scores the default stands."""
    if not relevant:
        threshold = default
    else:
        allowed = math.floor(target * len(relevant) + 1e-9)
        ranked = sorted(relevant, reverse=True)
        threshold = ranked[allowed] + 1e-6 if allowed < len(ranked) else THRESHOLD_FLOOR
        threshold = min(THRESHOLD_CEILING, max(THRESHOLD_FLOOR, threshold))
    return ThresholdChoice(
        round(threshold, 6), share_at_or_above(relevant, threshold), share_at_or_above(irrelevant, threshold)
    )
