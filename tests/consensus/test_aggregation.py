"""Majority vote, Dawid-Skene and per-item warnings, by hand and against crowd-kit."""

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene

from consensus.aggregation import (
    DIFFICULTY_CLASSES,
    WARN_CLOSE_POSTERIORS,
    WARN_DS_MV_DISAGREE,
    WARN_MV_TIE,
    WARN_NO_ANSWERS,
    DawidSkeneResult,
    dawid_skene,
    encode_answers,
    item_results,
    item_warnings,
    majority_vote,
)

# crowd-kit 1.4 uses pandas arguments that pandas 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit")


def simulate(*, n_items=1500, n_workers=50, n_classes=4, per_item=5, seed=0):
    """Answers from workers with random confusion matrices (accuracy 0.35-0.9), plus the true labels."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = rng.uniform(0.35, 0.9, n_workers)
    confusion = rng.dirichlet(np.ones(n_classes), size=(n_workers, n_classes)) * (1 - accuracy)[:, None, None]
    confusion[:, np.arange(n_classes), np.arange(n_classes)] += accuracy[:, None]
    items = np.repeat(np.arange(n_items), per_item)
    workers = np.concatenate([rng.choice(n_workers, per_item, replace=False) for _ in range(n_items)])
    cumulative = confusion[workers, truth[items]].cumsum(axis=1)
    labels = (rng.random(len(items))[:, None] > cumulative).sum(axis=1)
    return items, workers, labels, truth


def crowdkit_frame(items, workers, labels):
    return pd.DataFrame({"task": items, "worker": workers, "label": labels})


def crowdkit_probas(probas, n_classes):
    # crowd-kit orders its columns by first appearance, not by label
    return probas.sort_index()[list(range(n_classes))].to_numpy()


class TestEncodeAnswers:
    def test_ids_are_numbered_in_sorted_order_and_labels_follow_the_given_classes(self):
        encoded = encode_answers(
            items=["img-b", "img-a", "img-b"],
            workers=[7, 3, 3],
            labels=["Difficult", "Easy", "Impossible"],
            classes=DIFFICULTY_CLASSES,
        )
        assert encoded.item_idx.tolist() == [1, 0, 1]
        assert encoded.worker_idx.tolist() == [1, 0, 0]
        assert encoded.label.tolist() == [2, 0, 3]
        assert encoded.items.tolist() == ["img-a", "img-b"]
        assert (encoded.n_items, encoded.n_workers, encoded.n_classes) == (2, 2, 4)

    def test_without_classes_the_sorted_distinct_labels_are_used(self):
        encoded = encode_answers(items=[1, 2], workers=[1, 1], labels=["no", "yes"])
        assert encoded.classes == ("no", "yes")
        assert encoded.label.tolist() == [0, 1]

    def test_a_label_outside_the_classes_is_refused(self):
        with pytest.raises(ValueError, match="Hard"):
            encode_answers(items=[1], workers=[1], labels=["Hard"], classes=DIFFICULTY_CLASSES)

    def test_columns_of_different_lengths_are_refused(self):
        with pytest.raises(ValueError, match="differ in length"):
            encode_answers(items=[1, 2], workers=[1], labels=[0, 1])


class TestMajorityVote:
    def test_a_tie_goes_to_the_lowest_class_and_is_flagged(self):
        result = majority_vote(item_idx=np.array([0, 0, 0, 0]), label=np.array([2, 1, 2, 1]), n_classes=4)
        assert result.labels.tolist() == [1]
        assert result.ties.tolist() == [True]
        assert result.shares[0].tolist() == [0.0, 0.5, 0.5, 0.0]

    def test_a_single_rating_wins_with_its_whole_share(self):
        result = majority_vote(item_idx=np.array([0]), label=np.array([3]), n_classes=4)
        assert result.labels.tolist() == [3]
        assert result.ties.tolist() == [False]
        assert result.shares[0, 3] == 1.0

    def test_an_item_without_answers_gets_no_label(self):
        result = majority_vote(item_idx=np.array([1]), label=np.array([0]), n_classes=2, n_items=3)
        assert result.labels.tolist() == [-1, 0, -1]
        assert result.n_answers.tolist() == [0, 1, 0]
        assert not result.ties.any()

    def test_weights_can_outvote_a_head_count(self):
        result = majority_vote(
            item_idx=np.array([0, 0, 0]), label=np.array([0, 0, 1]), n_classes=2, weights=np.array([1, 1, 3])
        )
        assert result.labels.tolist() == [1]

    def test_labels_beyond_n_classes_are_refused(self):
        with pytest.raises(ValueError, match="n_classes"):
            majority_vote(item_idx=np.array([0]), label=np.array([4]), n_classes=4)

    def test_agrees_with_crowd_kit_on_every_item_without_a_tie(self):
        items, workers, labels, _ = simulate(per_item=4, seed=1)
        ours = majority_vote(item_idx=items, label=labels, n_classes=4)
        theirs = MajorityVote().fit_predict(crowdkit_frame(items, workers, labels)).sort_index().to_numpy()
        assert ours.ties.any()  # the data does exercise ties; crowd-kit breaks them by column order
        assert np.array_equal(ours.labels[~ours.ties], theirs[~ours.ties])


class TestDawidSkene:
    def test_one_em_step_on_a_single_rating_matches_the_hand_computation(self):
        # K=2, smoothing 1: start [2/3, 1/3]; priors [5/9, 4/9]; P(answer 0 | t) = 5/8 and 4/7
        result = dawid_skene(
            item_idx=np.array([0]), worker_idx=np.array([0]), label=np.array([0]), n_classes=2, max_iter=1
        )
        expected = (5 / 9 * 5 / 8) / (5 / 9 * 5 / 8 + 4 / 9 * 4 / 7)
        assert result.posteriors[0, 0] == pytest.approx(expected, rel=1e-12)
        assert result.labels.tolist() == [0]
        assert result.n_iter == 1
        assert len(result.iteration_seconds) == 1

    def test_a_single_rating_converges_to_its_own_label(self):
        result = dawid_skene(item_idx=np.array([0]), worker_idx=np.array([0]), label=np.array([1]), n_classes=4)
        assert result.converged
        assert result.labels.tolist() == [1]
        assert result.posteriors[0].sum() == pytest.approx(1.0)

    def test_a_worker_who_always_answers_the_same_barely_moves_a_posterior(self):
        truth = np.tile([0, 1], 20)
        items = np.repeat(np.arange(40), 2)
        workers = np.tile([0, 1], 40)
        labels = np.repeat(truth, 2)
        labels[[4, 9, 30]] = 1 - labels[[4, 9, 30]]  # the two informative workers disagree here and there
        without = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=2, min_answers=0, tol=1e-8)
        with_constant = dawid_skene(
            item_idx=np.concatenate([items, np.arange(40)]),
            worker_idx=np.concatenate([workers, np.full(40, 2)]),
            label=np.concatenate([labels, np.zeros(40, dtype=int)]),
            n_classes=2,
            min_answers=0,
            tol=1e-8,
        )
        assert np.array_equal(with_constant.labels, without.labels)
        assert np.allclose(with_constant.posteriors, without.posteriors, atol=5e-3)
        assert (with_constant.confusions[2][:, 0] > 0.9).all()

    def test_a_tie_between_a_reliable_and_an_unreliable_worker_goes_to_the_reliable_one(self):
        rng = np.random.default_rng(9)
        truth = rng.integers(0, 2, 60)
        items = np.repeat(np.arange(60), 3)
        workers = np.tile([0, 1, 2], 60)
        labels = np.column_stack([truth, truth, rng.integers(0, 2, 60)]).ravel()
        # the last item: reliable worker 0 says 1, the coin-flipper says 0, worker 1 did not answer
        items, workers, labels = (
            np.append(items, [60, 60]),
            np.append(workers, [0, 2]),
            np.append(labels, [1, 0]),
        )
        ds = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=2, min_answers=0)
        mv = majority_vote(item_idx=items, label=labels, n_classes=2)
        assert (mv.labels[60], mv.ties[60]) == (0, True)
        assert ds.labels[60] == 1
        assert item_results(ds=ds, mv=mv)[60].warnings == (WARN_MV_TIE, WARN_DS_MV_DISAGREE)

    def test_no_answers_at_all_give_an_empty_result(self):
        empty = np.array([], dtype=int)
        result = dawid_skene(item_idx=empty, worker_idx=empty, label=empty, n_classes=4)
        assert result.posteriors.shape == (0, 4)
        assert result.priors.tolist() == [0.25] * 4

    def test_workers_with_few_answers_share_one_occasional_volunteer_matrix(self):
        items, workers, labels, _ = simulate(n_items=200, n_workers=40, per_item=3, seed=2)
        keep = (workers >= 5) | (np.arange(len(workers)) % 15 == 0)  # workers 0-4 keep only a few answers
        result = dawid_skene(
            item_idx=items[keep], worker_idx=workers[keep], label=labels[keep], n_classes=4, min_answers=5
        )
        counts = np.bincount(workers[keep], minlength=40)
        assert result.pooled.tolist() == (counts < 5).tolist()
        pooled = np.flatnonzero(result.pooled)
        assert len(pooled) >= 2
        assert all(np.array_equal(result.confusions[pooled[0]], result.confusions[w]) for w in pooled)
        assert not np.array_equal(result.confusions[5], result.confusions[6])

    def test_a_diagonal_prior_raises_every_workers_accuracy(self):
        items, workers, labels, _ = simulate(n_items=200, n_workers=20, seed=3)
        plain = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=4)
        confident = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=4, diagonal_prior=10.0)
        diagonal = np.arange(4)
        assert (
            confident.confusions[:, diagonal, diagonal].mean(axis=1)
            > plain.confusions[:, diagonal, diagonal].mean(axis=1)
        ).all()

    def test_confusion_rows_are_probability_distributions(self):
        items, workers, labels, _ = simulate(n_items=200, n_workers=20, seed=4)
        for one_coin in (False, True):
            result = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=4, one_coin=one_coin)
            assert np.allclose(result.confusions.sum(axis=2), 1.0)
            assert np.allclose(result.posteriors.sum(axis=1), 1.0)
            assert result.priors.sum() == pytest.approx(1.0)

    def test_the_iteration_cap_stops_an_unconverged_run(self):
        items, workers, labels, _ = simulate(n_items=300, n_workers=20, seed=5)
        result = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=4, tol=0.0, max_iter=3)
        assert (result.n_iter, result.converged, len(result.iteration_seconds)) == (3, False, 3)

    def test_inconsistent_inputs_are_refused(self):
        with pytest.raises(ValueError, match="differ in length"):
            dawid_skene(item_idx=np.array([0, 1]), worker_idx=np.array([0]), label=np.array([0, 1]), n_classes=2)
        with pytest.raises(ValueError, match="negative"):
            dawid_skene(item_idx=np.array([-1]), worker_idx=np.array([0]), label=np.array([0]), n_classes=2)
        with pytest.raises(ValueError, match="integers"):
            dawid_skene(item_idx=np.array([0.5]), worker_idx=np.array([0]), label=np.array([0]), n_classes=2)

    @pytest.mark.parametrize("n_iter", [1, 10])
    def test_matches_crowd_kit_exactly_with_its_settings(self, n_iter):
        items, workers, labels, _ = simulate(seed=6)
        theirs = DawidSkene(n_iter=n_iter, tol=-np.inf).fit(crowdkit_frame(items, workers, labels))
        # crowd-kit: no smoothing, raw vote shares to start, no pooling, a fixed number of iterations
        crowdkit_settings = {"smoothing": 0.0, "min_answers": 0, "tol": 0.0}
        ours = dawid_skene(
            item_idx=items,
            worker_idx=workers,
            label=labels,
            n_classes=4,
            max_iter=n_iter,
            **crowdkit_settings,
        )
        assert np.array_equal(ours.labels, theirs.labels_.sort_index().to_numpy())
        assert np.allclose(ours.posteriors, crowdkit_probas(theirs.probas_, 4), atol=1e-8)

    def test_one_coin_matches_crowd_kit_exactly_with_its_settings(self):
        items, workers, labels, _ = simulate(seed=7)
        theirs = OneCoinDawidSkene(n_iter=10, tol=-np.inf).fit(crowdkit_frame(items, workers, labels))
        crowdkit_settings = {"smoothing": 0.0, "min_answers": 0, "tol": 0.0, "one_coin": True}
        ours = dawid_skene(
            item_idx=items, worker_idx=workers, label=labels, n_classes=4, max_iter=10, **crowdkit_settings
        )
        assert np.array_equal(ours.labels, theirs.labels_.sort_index().to_numpy())
        assert np.allclose(ours.posteriors, crowdkit_probas(theirs.probas_, 4), atol=1e-8)

    def test_default_settings_are_as_accurate_as_crowd_kit_within_one_point(self):
        items, workers, labels, truth = simulate(n_items=2000, seed=8)
        theirs = DawidSkene(n_iter=100).fit_predict(crowdkit_frame(items, workers, labels)).sort_index().to_numpy()
        ours = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=4)
        assert ours.converged
        assert abs((ours.labels == truth).mean() - (theirs == truth).mean()) <= 0.01


def ds_result(posteriors):
    posteriors = np.asarray(posteriors, dtype=float)
    return DawidSkeneResult(
        posteriors=posteriors,
        labels=posteriors.argmax(axis=1),
        priors=np.full(posteriors.shape[1], 1 / posteriors.shape[1]),
        confusions=np.zeros((0, posteriors.shape[1], posteriors.shape[1])),
        pooled=np.zeros(0, dtype=bool),
        n_iter=1,
        converged=True,
        setup_seconds=0.0,
        iteration_seconds=(0.0,),
    )


class TestItemWarnings:
    def test_top_two_posteriors_exactly_0_1_apart_are_warned(self):
        ds = ds_result([[0.55, 0.45], [0.56, 0.44], [0.3, 0.7]])
        mv = majority_vote(item_idx=np.array([0, 1, 2]), label=np.array([0, 0, 1]), n_classes=2)
        assert item_warnings(ds=ds, mv=mv).close_posteriors.tolist() == [True, False, False]

    def test_a_tie_and_a_disagreement_are_warned_with_reasons(self):
        ds = ds_result([[0.1, 0.9], [0.95, 0.05], [0.9, 0.1]])
        mv = majority_vote(item_idx=np.array([0, 0, 1, 2]), label=np.array([0, 1, 1, 0]), n_classes=2)
        rows = item_results(ds=ds, mv=mv)
        assert rows[0].warnings == (WARN_MV_TIE, WARN_DS_MV_DISAGREE)
        assert "tied" in rows[0].reason
        assert rows[1].warnings == (WARN_DS_MV_DISAGREE,)
        assert "majority vote says class 1" in rows[1].reason
        assert rows[2].warnings == ()
        assert not rows[2].warned
        assert (rows[2].label, rows[2].posterior, rows[2].mv_share) == (0, 0.9, 1.0)

    def test_an_item_nobody_rated_is_warned_as_unanswered_only(self):
        ds = ds_result([[0.5, 0.5], [0.9, 0.1]])
        mv = majority_vote(item_idx=np.array([1]), label=np.array([0]), n_classes=2, n_items=2)
        rows = item_results(ds=ds, mv=mv)
        assert rows[0].warnings == (WARN_NO_ANSWERS,)
        assert rows[1].warnings == ()

    def test_close_posteriors_come_from_a_real_fit(self):
        # one item, two equally trusted answers in different classes: posteriors are close
        items, workers, labels = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1])
        ds = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=2)
        mv = majority_vote(item_idx=items, label=labels, n_classes=2)
        rows = item_results(ds=ds, mv=mv)
        assert WARN_MV_TIE in rows[0].warnings
        assert WARN_CLOSE_POSTERIORS in rows[0].warnings
