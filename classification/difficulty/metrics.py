"""Accuracy, precision, recall, F1 and ROC AUC with seeded bootstrap 95% confidence intervals; confusion matrix."""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class MetricWithInterval:
    """A point estimate and its percentile-bootstrap interval (None where the test set cannot define it)."""

    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class ClassificationMetrics:
    """Test-set figures. Binary tasks report precision/recall/F1 for ``positive_label``; more classes, macro means."""

    accuracy: MetricWithInterval
    precision: MetricWithInterval
    recall: MetricWithInterval
    f1: MetricWithInterval
    roc_auc: MetricWithInterval
    confusion_matrix: list[list[int]]  # rows: actual class, columns: predicted class, in class_names order
    class_names: list[str]
    positive_label: str | None
    count: int
    confidence: float
    bootstrap_samples: int
    seed: int

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            data[name] = getattr(self, name).to_dict()
        return data

    def summary(self) -> str:
        """Human-readable table: the metrics with intervals, then the confusion matrix."""
        level = round(self.confidence * 100)
        lines = [f"test images: {self.count}; {level}% CI from {self.bootstrap_samples} bootstrap resamples"]
        if self.positive_label is not None:
            lines.append(f"positive class: {self.positive_label}")
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            lines.append(f"{name:10} {getattr(self, name)}")
        width = max(len(n) for n in self.class_names) + 2
        lines.append("confusion matrix (rows actual, columns predicted):")
        lines.append(" " * width + "".join(f"{n:>{width}}" for n in self.class_names))
        for name, row in zip(self.class_names, self.confusion_matrix, strict=True):
            lines.append(f"{name:>{width}}" + "".join(f"{v:>{width}}" for v in row))
        return "\n".join(lines)


def _binary_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney form of ROC AUC (ties count half), the same value as sklearn's roc_auc_score."""
    positives = int(is_positive.sum())
    negatives = len(is_positive) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based ranks, ties averaged
    return float((ranks[is_positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _point_metrics(y_true: np.ndarray, probabilities: np.ndarray, *, positive: int | None) -> np.ndarray:
    """[accuracy, precision, recall, F1, ROC AUC]; binary figures for ``positive``, else macro means.

    Plain numpy rather than sklearn's scorers: the bootstrap calls this a thousand times and sklearn's input
    validation costs milliseconds per call. The test suite checks both agree.
    """
    classes = probabilities.shape[1]
    predicted = probabilities.argmax(1)
    matrix = np.bincount(y_true * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    hits = np.diag(matrix).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(hits / matrix.sum(0), nan=0.0)
        recall = np.nan_to_num(hits / matrix.sum(1), nan=0.0)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall), nan=0.0)
    accuracy = hits.sum() / max(len(y_true), 1)
    if positive is not None:
        auc = _binary_auc(y_true == positive, probabilities[:, positive])
        return np.array([accuracy, precision[positive], recall[positive], f1[positive], auc])
    # One-vs-rest macro AUC, defined only when every class is present (as in sklearn).
    aucs = [_binary_auc(y_true == c, probabilities[:, c]) for c in range(classes)]
    return np.array([accuracy, precision.mean(), recall.mean(), f1.mean(), np.mean(aucs)])


def classification_metrics(
    y_true: Sequence[int],
    probabilities: Sequence[Sequence[float]] | np.ndarray,
    *,
    class_names: Sequence[str],
    positive_index: int | None = 1,
    bootstrap_samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ClassificationMetrics:
    """Metrics of ``probabilities`` (N x classes) against ``y_true``, with percentile bootstrap intervals.

    Resamples the test set with replacement ``bootstrap_samples`` times from a seeded generator, so the same inputs
    always give the same intervals. Resamples holding one class only leave ROC AUC undefined and are skipped for it.
    ``positive_index`` applies to binary tasks; with more classes the averages are macro.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(y_true):
        raise ValueError("probabilities must be N x classes, one row per label")
    positive = positive_index if len(class_names) == 2 else None
    point = _point_metrics(y_true, probabilities, positive=positive)
    rng = np.random.default_rng(seed)
    draws = np.stack(
        [
            _point_metrics(y_true[idx], probabilities[idx], positive=positive)
            for idx in rng.integers(0, len(y_true), size=(bootstrap_samples, len(y_true)))
        ]
    ) if bootstrap_samples > 0 and len(y_true) > 0 else np.empty((0, 5))  # fmt: skip
    tail = (1 - confidence) / 2 * 100
    intervals = []
    for column in range(5):
        values = draws[:, column][~np.isnan(draws[:, column])] if len(draws) else np.empty(0)
        value = None if math.isnan(point[column]) else float(point[column])
        if value is None or len(values) == 0:
            intervals.append(MetricWithInterval(value, None, None))
        else:
            low, high = np.percentile(values, [tail, 100 - tail])
            intervals.append(MetricWithInterval(value, float(low), float(high)))
    classes = len(class_names)
    matrix = np.bincount(y_true * classes + probabilities.argmax(1), minlength=classes * classes).reshape(classes, -1)
    return ClassificationMetrics(
        *intervals,
        confusion_matrix=matrix.astype(int).tolist(),
        class_names=list(class_names),
        positive_label=class_names[positive] if positive is not None else None,
        count=len(y_true),
        confidence=confidence,
        bootstrap_samples=bootstrap_samples,
        seed=seed,
    )
