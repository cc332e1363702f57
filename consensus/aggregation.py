"""Label aggregation for difficulty ratings: majority vote and Dawid-Skene EM over a list of answers."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

# Class order for difficulty ratings; class index i is DIFFICULTY_CLASSES[i]. Majority-vote ties go to the
# lowest index, i.e. the easiest of the tied classes.
DIFFICULTY_CLASSES: tuple[str, ...] = ("Easy", "Medium", "Difficult", "Impossible")

# Floor for probabilities before taking logs, the same as crowd-kit's, so unsmoothed runs can match it.
PROBABILITY_FLOOR = 1e-10

# Warning codes on per-item results.
WARN_CLOSE_POSTERIORS = "close_posteriors"
WARN_MV_TIE = "mv_tie"
WARN_DS_MV_DISAGREE = "ds_mv_disagreement"
WARN_NO_ANSWERS = "no_answers"

# Floats such as 0.55 - 0.45 come out as 0.10000000000000003; "within 0.1 inclusive" must still hold for them.
_MARGIN_SLACK = 1e-9


@dataclass(frozen=True)
class EncodedAnswers:
    """Answers as parallel int arrays plus the original ids that each index stands for."""

    item_idx: np.ndarray
    worker_idx: np.ndarray
    label: np.ndarray
    items: np.ndarray
    workers: np.ndarray
    classes: tuple[Any, ...]

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class MajorityVoteResult:
    """Per item: winning class index (-1 when unanswered), vote counts and shares, tie flag, answer count."""

    labels: np.ndarray
    votes: np.ndarray
    shares: np.ndarray
    ties: np.ndarray
    n_answers: np.ndarray


@dataclass(frozen=True)
class DawidSkeneResult:
    """Fitted Dawid-Skene model.

    ``confusions[w, k, l]`` is P(worker w answers l | true class k); rows sum to 1. Pooled workers (fewer than
    ``min_answers`` answers) all carry the shared "occasional volunteer" matrix.
    """

    posteriors: np.ndarray
    labels: np.ndarray
    priors: np.ndarray
    confusions: np.ndarray
    pooled: np.ndarray
    n_iter: int
    converged: bool
    setup_seconds: float
    iteration_seconds: tuple[float, ...]


@dataclass(frozen=True)
class ItemWarnings:
    """Boolean warning flags per item, from a Dawid-Skene fit and a majority vote on the same answers."""

    close_posteriors: np.ndarray
    mv_tie: np.ndarray
    ds_mv_disagreement: np.ndarray
    no_answers: np.ndarray

    @property
    def any(self) -> np.ndarray:
        return self.close_posteriors | self.mv_tie | self.ds_mv_disagreement | self.no_answers


@dataclass(frozen=True)
class ItemResult:
    """One item's consensus: DS label and posterior, the runner-up, the MV label, and why it is warned."""

    item: int
    label: int
    posterior: float
    runner_up: float
    mv_label: int
    mv_share: float
    warnings: tuple[str, ...]
    reason: str

    @property
    def warned(self) -> bool:
        return bool(self.warnings)


def encode_answers(
    *,
    items: Sequence[Any] | np.ndarray | pd.Series,
    workers: Sequence[Any] | np.ndarray | pd.Series,
    labels: Sequence[Any] | np.ndarray | pd.Series,
    classes: Sequence[Any] | None = None,
) -> EncodedAnswers:
    """Turn three parallel columns of ids and labels into index arrays.

    Items and workers are numbered in sorted order of their ids. Classes follow ``classes`` when given
    (e.g. ``DIFFICULTY_CLASSES``; a label outside it is a ValueError), otherwise the sorted distinct labels.
    """
    n = len(items)
    if len(workers) != n or len(labels) != n:
        raise ValueError(f"items, workers and labels differ in length: {n}, {len(workers)}, {len(labels)}.")
    item_idx, item_ids = pd.factorize(pd.Series(items), sort=True)
    worker_idx, worker_ids = pd.factorize(pd.Series(workers), sort=True)
    if classes is None:
        label_idx, class_values = pd.factorize(pd.Series(labels), sort=True)
        class_tuple = tuple(class_values.tolist())
    else:
        class_tuple = tuple(classes)
        label_idx = pd.Index(class_tuple).get_indexer(pd.Series(labels))
    if (item_idx < 0).any() or (worker_idx < 0).any():
        raise ValueError("Item and worker ids must not be missing.")
    if (label_idx < 0).any():
        bad = pd.Series(labels).iloc[int(np.argmax(label_idx < 0))]
        raise ValueError(f"Label {bad!r} is not one of the classes {class_tuple}.")
    return EncodedAnswers(
        item_idx=item_idx.astype(np.int64),
        worker_idx=worker_idx.astype(np.int64),
        label=label_idx.astype(np.int64),
        items=np.asarray(item_ids),
        workers=np.asarray(worker_ids),
        classes=class_tuple,
    )


def _as_index_array(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}.")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must not be negative.")
    return array


def _size(name: str, given: int | None, array: np.ndarray) -> int:
    needed = int(array.max()) + 1 if array.size else 0
    if given is None:
        return needed
    if given < needed:
        raise ValueError(f"{name}={given} but an index of {needed - 1} occurs.")
    return given


def _vote_counts(item_idx: np.ndarray, label: np.ndarray, n_items: int, n_classes: int, weights: Any) -> np.ndarray:
    flat = np.bincount(item_idx * n_classes + label, weights=weights, minlength=n_items * n_classes)
    return flat.reshape(n_items, n_classes).astype(np.float64, copy=False)


def majority_vote(
    *,
    item_idx: np.ndarray,
    label: np.ndarray,
    n_classes: int,
    n_items: int | None = None,
    weights: np.ndarray | None = None,
) -> MajorityVoteResult:
    """Majority vote per item, optionally weighted.

    Ties are broken towards the lowest class index (for difficulty: Easy < Medium < Difficult < Impossible, so
    the easiest tied class wins; crowd-kit's MajorityVote does the same with sorted labels) and always flagged
    in ``ties``. Items without answers get label -1, zero shares and no tie flag.
    """
    item_idx = _as_index_array("item_idx", item_idx)
    label = _as_index_array("label", label)
    if len(item_idx) != len(label):
        raise ValueError("item_idx and label differ in length.")
    if label.size and label.max() >= n_classes:
        raise ValueError(f"label holds {label.max()} but n_classes={n_classes}.")
    n_items = _size("n_items", n_items, item_idx)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != item_idx.shape or (weights < 0).any():
            raise ValueError("weights must be non-negative and one per answer.")
    votes = _vote_counts(item_idx, label, n_items, n_classes, weights)
    n_answers = np.bincount(item_idx, minlength=n_items)
    totals = votes.sum(axis=1)
    answered = totals > 0
    shares = np.divide(votes, totals[:, None], out=np.zeros_like(votes), where=answered[:, None])
    top = votes.max(axis=1)
    labels = np.where(answered, votes.argmax(axis=1), -1)
    ties = answered & ((votes == top[:, None]).sum(axis=1) > 1)
    return MajorityVoteResult(labels=labels, votes=votes, shares=shares, ties=ties, n_answers=n_answers)


def dawid_skene(
    *,
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    label: np.ndarray,
    n_classes: int,
    n_items: int | None = None,
    n_workers: int | None = None,
    smoothing: float = 1.0,
    diagonal_prior: float = 0.0,
    one_coin: bool = False,
    min_answers: int = 5,
    tol: float = 1e-3,
    max_iter: int = 100,
) -> DawidSkeneResult:
    """Dawid-Skene EM over per-worker confusion matrices.

    Settings:
    - ``smoothing``: Laplace pseudo-count added to each class prior and to every confusion cell (0 gives the
      plain maximum-likelihood updates of crowd-kit, probabilities floored at 1e-10).
    - ``diagonal_prior``: extra pseudo-count on each confusion diagonal cell, a prior that workers are right.
    - ``one_coin``: each worker has one accuracy s; their confusion is s on the diagonal and (1 - s) / (K - 1)
      off it. Pseudo-counts: ``smoothing + diagonal_prior`` for right, ``(K - 1) * smoothing`` for wrong.
    - ``min_answers``: workers with fewer answers share one pooled "occasional volunteer" matrix; a 4 x 4
      confusion estimated from four ratings is mostly smoothing and would silence those workers. 0 disables.
    - EM starts from vote shares smoothed with ``smoothing``, and stops when no posterior moves by more than
      ``tol`` in one iteration, or after ``max_iter`` iterations (``converged`` is then False).

    The scatter-adds over the answer list (log-likelihood per item, expected counts per worker and label) are
    products with a sparse items x (worker, label) count matrix built once: the same sums as ``np.bincount``
    per class, in one pass over the answers for all classes.
    """
    started = time.perf_counter()
    item_idx = _as_index_array("item_idx", item_idx)
    worker_idx = _as_index_array("worker_idx", worker_idx)
    label = _as_index_array("label", label)
    if not (len(item_idx) == len(worker_idx) == len(label)):
        raise ValueError("item_idx, worker_idx and label differ in length.")
    if n_classes < 1:
        raise ValueError("n_classes must be at least 1.")
    if label.size and label.max() >= n_classes:
        raise ValueError(f"label holds {label.max()} but n_classes={n_classes}.")
    if smoothing < 0 or diagonal_prior < 0:
        raise ValueError("smoothing and diagonal_prior must not be negative.")
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1.")
    n_items = _size("n_items", n_items, item_idx)
    n_workers = _size("n_workers", n_workers, worker_idx)
    k = n_classes

    answers_per_worker = np.bincount(worker_idx, minlength=n_workers)
    pooled = answers_per_worker < min_answers
    n_own = int((~pooled).sum())
    group_of_worker = np.full(n_workers, n_own, dtype=np.int64)
    group_of_worker[~pooled] = np.arange(n_own)
    n_groups = n_own + int(pooled.any())

    pair = group_of_worker[worker_idx] * k + label
    # built straight from the item order rather than via COO: a repeated answer stays a separate entry, and
    # products sum it in all the same
    order = np.argsort(item_idx, kind="stable")
    n_answers = np.bincount(item_idx, minlength=n_items)
    answers = sp.csr_matrix(
        (np.ones(len(item_idx)), pair[order], np.concatenate([[0], np.cumsum(n_answers)])),
        shape=(n_items, max(n_groups, 1) * k),
    )
    # the CSC view walks items in order and scatters into the small (worker, label) table: cache friendly
    answers_t = answers.T
    answered = (n_answers > 0).astype(np.float64)
    ones = np.ones(k)

    votes = _vote_counts(item_idx, label, n_items, k, None)
    denominator = n_answers[:, None] + k * smoothing
    posteriors = np.divide(votes + smoothing, denominator, out=np.full((n_items, k), 1.0 / k), where=denominator > 0)

    def m_step(post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prior_counts = answered @ post + smoothing
        priors = np.maximum(prior_counts / max(prior_counts.sum(), PROBABILITY_FLOOR), PROBABILITY_FLOOR)
        # expected[g, t, l]: expected number of answers l from group g on items whose true class is t
        expected = (answers_t @ post).reshape(max(n_groups, 1), k, k).transpose(0, 2, 1)
        if one_coin:
            correct = np.trace(expected, axis1=1, axis2=2) + smoothing + diagonal_prior
            total = expected.sum(axis=(1, 2)) + k * smoothing + diagonal_prior
            accuracy = np.clip(correct / np.maximum(total, PROBABILITY_FLOOR), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
            off = (1.0 - accuracy) / (k - 1) if k > 1 else np.zeros_like(accuracy)
            confusion = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
            confusion[:, np.arange(k), np.arange(k)] = accuracy[:, None] if k > 1 else 1.0
            confusion = np.maximum(confusion, PROBABILITY_FLOOR)
        else:
            counts = expected + smoothing
            counts[:, np.arange(k), np.arange(k)] += diagonal_prior
            counts = np.maximum(counts, PROBABILITY_FLOOR)
            confusion = counts / counts.sum(axis=2, keepdims=True)
        return priors, confusion

    def e_step(priors: np.ndarray, confusion: np.ndarray) -> np.ndarray:
        # rows (g, observed l), columns true class t, matching the layout of `answers`' columns
        log_conf = np.log(confusion).transpose(0, 2, 1).reshape(-1, k)
        log_lik = answers @ log_conf + np.log(priors)
        # column-wise loops and a matrix-vector product: numpy reduces rows of 4 slowly along axis 1
        row_max = log_lik[:, 0].copy()
        for column in range(1, k):
            np.maximum(row_max, log_lik[:, column], out=row_max)
        log_lik -= row_max[:, None]
        post = np.exp(log_lik, out=log_lik)
        post /= (post @ ones)[:, None]
        return post

    priors, confusion = m_step(posteriors)
    setup_seconds = time.perf_counter() - started
    iteration_seconds: list[float] = []
    converged = False
    for _ in range(max_iter):
        tick = time.perf_counter()
        updated = e_step(priors, confusion)
        change = float(np.abs(updated - posteriors).max()) if n_items else 0.0
        posteriors = updated
        priors, confusion = m_step(posteriors)
        iteration_seconds.append(time.perf_counter() - tick)
        if change <= tol:
            converged = True
            break

    confusions = confusion[group_of_worker] if n_groups else np.zeros((n_workers, k, k))
    return DawidSkeneResult(
        posteriors=posteriors,
        labels=posteriors.argmax(axis=1),
        priors=priors,
        confusions=confusions,
        pooled=pooled,
        n_iter=len(iteration_seconds),
        converged=converged,
        setup_seconds=setup_seconds,
        iteration_seconds=tuple(iteration_seconds),
    )


def _top_two(posteriors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if posteriors.shape[1] < 2:
        return posteriors[:, 0], np.zeros(len(posteriors))
    ordered = np.sort(posteriors, axis=1)
    return ordered[:, -1], ordered[:, -2]


def item_warnings(*, ds: DawidSkeneResult, mv: MajorityVoteResult, margin: float = 0.1) -> ItemWarnings:
    """Warning flags per item, as in Firmansyah et al.

    ``close_posteriors``: the top two DS posteriors are within ``margin`` of each other (inclusive);
    ``mv_tie``: the majority vote was a tie; ``ds_mv_disagreement``: DS and MV labels differ;
    ``no_answers``: nobody rated the item (its posterior is just the class prior).
    """
    if ds.posteriors.shape[0] != mv.labels.shape[0]:
        raise ValueError("The DS and MV results cover different numbers of items.")
    top, runner_up = _top_two(ds.posteriors)
    answered = mv.n_answers > 0
    return ItemWarnings(
        close_posteriors=answered & (top - runner_up <= margin + _MARGIN_SLACK),
        mv_tie=mv.ties.copy(),
        ds_mv_disagreement=answered & (ds.labels != mv.labels),
        no_answers=~answered,
    )


def item_results(*, ds: DawidSkeneResult, mv: MajorityVoteResult, margin: float = 0.1) -> list[ItemResult]:
    """Per-item rows: DS label and posterior, MV label and share, warning codes and a readable reason."""
    flags = item_warnings(ds=ds, mv=mv, margin=margin)
    top, runner_up = _top_two(ds.posteriors)
    mv_share = mv.shares.max(axis=1) if mv.shares.size else np.zeros(len(mv.labels))
    rows = []
    for i in range(len(top)):
        codes: list[str] = []
        reasons: list[str] = []
        if flags.no_answers[i]:
            codes.append(WARN_NO_ANSWERS)
            reasons.append("no answers yet")
        if flags.close_posteriors[i]:
            codes.append(WARN_CLOSE_POSTERIORS)
            reasons.append(f"top two posteriors {top[i]:.2f} and {runner_up[i]:.2f} are within {margin:g}")
        if flags.mv_tie[i]:
            codes.append(WARN_MV_TIE)
            reasons.append(f"majority vote tied, broken towards class {mv.labels[i]}")
        if flags.ds_mv_disagreement[i]:
            codes.append(WARN_DS_MV_DISAGREE)
            reasons.append(f"Dawid-Skene says class {ds.labels[i]}, majority vote says class {mv.labels[i]}")
        rows.append(
            ItemResult(
                item=i,
                label=int(ds.labels[i]),
                posterior=float(top[i]),
                runner_up=float(runner_up[i]),
                mv_label=int(mv.labels[i]),
                mv_share=float(mv_share[i]),
                warnings=tuple(codes),
                reason="; ".join(reasons),
            )
        )
    return rows
