"""Inter-rater agreement: Fleiss' kappa (also for unequal numbers of ratings) and Krippendorff's alpha."""

from __future__ import annotations

from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal", "interval"]


def rating_counts(*, item_idx: np.ndarray, label: np.ndarray, n_classes: int, n_items: int | None = None) -> np.ndarray:
    """Items x classes table of how many raters put each item in each class, from the answer list."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    label = np.asarray(label, dtype=np.int64)
    if item_idx.shape != label.shape or item_idx.ndim != 1:
        raise ValueError("item_idx and label must be one-dimensional and of the same length.")
    if label.size and (label.min() < 0 or label.max() >= n_classes):
        raise ValueError(f"label must lie in 0..{n_classes - 1}.")
    if item_idx.size and item_idx.min() < 0:
        raise ValueError("item_idx must not be negative.")
    if n_items is None:
        n_items = int(item_idx.max()) + 1 if item_idx.size else 0
    flat = np.bincount(item_idx * n_classes + label, minlength=n_items * n_classes)
    return flat.reshape(n_items, n_classes)


def _as_counts(counts: np.ndarray) -> np.ndarray:
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"counts must be an items x classes table, got shape {table.shape}.")
    if (table < 0).any():
        raise ValueError("counts must not be negative.")
    return table


def fleiss_kappa(*, counts: np.ndarray) -> float:
    """Fleiss' kappa (1971) for an items x classes count table with the same number of ratings per item.

    Raises ValueError when items have different numbers of ratings: use ``generalised_fleiss_kappa``.
    """
    table = _as_counts(counts)
    per_item = table.sum(axis=1)
    if table.shape[0] == 0 or per_item[0] < 2 or not np.all(per_item == per_item[0]):
        raise ValueError(
            "Fleiss' kappa needs at least two ratings per item and the same number for every item; "
            "use generalised_fleiss_kappa for unequal numbers."
        )
    return generalised_fleiss_kappa(counts=table)


def generalised_fleiss_kappa(*, counts: np.ndarray) -> float:
    """Fleiss' kappa for items with different numbers of ratings; equal to Fleiss' own when they are equal.

    Observed agreement is the mean over items of the share of agreeing rater pairs,
    sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)); chance agreement is sum_j p_j^2 with p_j the share of all
    ratings in class j. Items with fewer than two ratings have no pairs and are left out. NaN when chance
    agreement is 1 (every rating in one class).
    """
    table = _as_counts(counts)
    table = table[table.sum(axis=1) >= 2]
    if table.shape[0] == 0:
        raise ValueError("No item has two or more ratings.")
    per_item = table.sum(axis=1)
    observed = float(np.mean((table * (table - 1)).sum(axis=1) / (per_item * (per_item - 1))))
    shares = table.sum(axis=0) / per_item.sum()
    expected = float(np.sum(shares**2))
    if np.isclose(expected, 1.0):
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def _distance_squared(level: Level, class_totals: np.ndarray) -> np.ndarray:
    k = len(class_totals)
    index = np.arange(k)
    if level == "nominal":
        return (index[:, None] != index[None, :]).astype(np.float64)
    if level == "interval":
        return (index[:, None] - index[None, :]).astype(np.float64) ** 2
    if level == "ordinal":
        # Krippendorff's ordinal metric: (sum of n_g for g from c to k, minus half of n_c and n_k)^2
        cumulative = np.concatenate([[0.0], np.cumsum(class_totals)])
        low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
        between = cumulative[high + 1] - cumulative[low]
        return (between - (class_totals[low] + class_totals[high]) / 2.0) ** 2
    raise ValueError(f"Unknown level {level!r}: use 'nominal', 'ordinal' or 'interval'.")


def krippendorff_alpha(*, counts: np.ndarray, level: Level = "nominal") -> float:
    """Krippendorff's alpha from an items x classes count table (missing ratings are simply not counted).

    Class index order is the value order for ``ordinal`` (difficulty: Easy < Medium < Difficult < Impossible)
    and ``interval`` (classes one unit apart). Items with fewer than two ratings are not pairable and are left
    out, as in Krippendorff (2011). NaN when there is no expected disagreement (a single class used).
    """
    table = _as_counts(counts)
    per_item = table.sum(axis=1)
    table = table[per_item >= 2]
    per_item = per_item[per_item >= 2]
    if table.shape[0] == 0:
        raise ValueError("No item has two or more ratings.")
    # coincidences o_ck = sum over items of n_ic n_ik / (m_i - 1), less the pairs of a rating with itself
    scaled = table / (per_item - 1)[:, None]
    coincidences = scaled.T @ table - np.diag(scaled.sum(axis=0))
    class_totals = coincidences.sum(axis=1)
    total = class_totals.sum()
    delta2 = _distance_squared(level, class_totals)
    observed = float((coincidences * delta2).sum())
    expected = float((np.outer(class_totals, class_totals) * delta2).sum())
    if expected == 0.0:
        return float("nan")
    return 1.0 - (total - 1.0) * observed / expected
