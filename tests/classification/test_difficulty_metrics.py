"""Difficulty classifier metrics: point values, seeded bootstrap intervals, the confusion matrix."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from classification.difficulty.metrics import classification_metrics

NAMES = ("difficult", "easy")


def probabilities_for(positive_scores) -> np.ndarray:
    scores = np.asarray(positive_scores, dtype=float)
    return np.stack([1 - scores, scores], axis=1)


class TestClassificationMetrics:
    def test_binary_figures_are_about_the_positive_class(self):
        y_true = [1, 1, 1, 0, 0, 0, 0, 1]
        scores = [0.9, 0.8, 0.3, 0.2, 0.1, 0.6, 0.4, 0.7]  # one easy missed, one difficult taken for easy
        metrics = classification_metrics(y_true, probabilities_for(scores), class_names=NAMES, bootstrap_samples=200)
        assert metrics.accuracy.value == pytest.approx(6 / 8)
        assert metrics.precision.value == pytest.approx(3 / 4)
        assert metrics.recall.value == pytest.approx(3 / 4)
        assert metrics.f1.value == pytest.approx(3 / 4)
        assert metrics.roc_auc.value == pytest.approx(14 / 16)
        assert metrics.confusion_matrix == [[3, 1], [1, 3]]  # rows actual, columns predicted
        assert metrics.positive_label == "easy" and metrics.count == 8

    def test_intervals_hold_the_point_value_and_repeat_with_the_same_seed(self):
        rng = np.random.default_rng(1)
        y_true = rng.integers(0, 2, 60)
        scores = np.clip(y_true * 0.4 + rng.random(60) * 0.6, 0, 1)
        first = classification_metrics(y_true, probabilities_for(scores), class_names=NAMES, bootstrap_samples=300)
        again = classification_metrics(y_true, probabilities_for(scores), class_names=NAMES, bootstrap_samples=300)
        other = classification_metrics(
            y_true, probabilities_for(scores), class_names=NAMES, bootstrap_samples=300, seed=9
        )
        assert first == again and first != other
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            metric = getattr(first, name)
            assert metric.low <= metric.value <= metric.high
            assert metric.high - metric.low > 0

    def test_a_test_set_of_one_class_leaves_roc_auc_undefined(self):
        metrics = classification_metrics([1, 1, 1], probabilities_for([0.9, 0.2, 0.8]), class_names=NAMES)
        assert metrics.roc_auc.value is None and str(metrics.roc_auc) == "n/a"
        assert metrics.accuracy.value == pytest.approx(2 / 3)

    def test_the_result_serialises_to_json_and_prints_a_summary(self):
        metrics = classification_metrics([0, 1], probabilities_for([0.2, 0.9]), class_names=NAMES, bootstrap_samples=20)
        data = json.loads(json.dumps(metrics.to_dict()))
        assert data["accuracy"]["value"] == 1.0 and data["class_names"] == ["difficult", "easy"]
        assert "confusion matrix" in metrics.summary() and "roc_auc" in metrics.summary()

    def test_three_classes_use_macro_averages(self):
        y_true = [0, 1, 2, 2]
        probabilities = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]]
        metrics = classification_metrics(y_true, probabilities, class_names=("a", "b", "c"), bootstrap_samples=50)
        assert metrics.positive_label is None
        assert metrics.recall.value == pytest.approx((1 + 1 + 0.5) / 3)
        assert metrics.confusion_matrix == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]

    @pytest.mark.parametrize("seed", range(5))
    def test_point_values_agree_with_sklearn(self, seed):
        rng = np.random.default_rng(seed)
        y_true = rng.integers(0, 2, 40)
        scores = np.round(np.clip(y_true * 0.3 + rng.random(40) * 0.7, 0, 1), 1)  # rounded: ties in the ranking
        metrics = classification_metrics(y_true, probabilities_for(scores), class_names=NAMES, bootstrap_samples=0)
        predicted = (scores > 0.5).astype(int)
        assert metrics.precision.value == pytest.approx(precision_score(y_true, predicted, zero_division=0))
        assert metrics.recall.value == pytest.approx(recall_score(y_true, predicted, zero_division=0))
        assert metrics.f1.value == pytest.approx(f1_score(y_true, predicted, zero_division=0))
        assert metrics.roc_auc.value == pytest.approx(roc_auc_score(y_true, scores))
        assert metrics.accuracy.low is None
