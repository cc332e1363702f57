"""Fleiss' kappa and Krippendorff's alpha on published worked examples and hand-computed tables."""

import math

import numpy as np
import pytest

from consensus.agreement import fleiss_kappa, generalised_fleiss_kappa, krippendorff_alpha, rating_counts

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters each, 5 categories; kappa = 0.210.
WIKIPEDIA_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
# values 1-5, None where an observer did not code the unit. Published: nominal 0.743, ordinal 0.815,
# interval 0.849.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def krippendorff_2011_counts():
    pairs = [(unit, value - 1) for row in KRIPPENDORFF_2011 for unit, value in enumerate(row) if value is not None]
    items, labels = np.array(pairs).T
    return rating_counts(item_idx=items, label=labels, n_classes=5)


class TestRatingCounts:
    def test_counts_each_class_per_item_from_the_answer_list(self):
        counts = rating_counts(item_idx=np.array([0, 0, 2, 0]), label=np.array([1, 1, 0, 2]), n_classes=3)
        assert counts.tolist() == [[0, 2, 1], [0, 0, 0], [1, 0, 0]]

    def test_a_label_outside_the_classes_is_refused(self):
        with pytest.raises(ValueError, match=r"0\.\.2"):
            rating_counts(item_idx=np.array([0]), label=np.array([3]), n_classes=3)


class TestFleissKappa:
    def test_the_wikipedia_worked_example_gives_0_210(self):
        assert fleiss_kappa(counts=WIKIPEDIA_TABLE) == pytest.approx(0.20993, abs=1e-5)

    def test_perfect_agreement_gives_1(self):
        assert fleiss_kappa(counts=np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)

    def test_unequal_numbers_of_ratings_are_refused_with_a_pointer_to_the_generalised_form(self):
        with pytest.raises(ValueError, match="generalised_fleiss_kappa"):
            fleiss_kappa(counts=np.array([[2, 0], [1, 1], [2, 1]]))

    def test_the_generalised_form_equals_fleiss_when_every_item_has_the_same_number(self):
        assert generalised_fleiss_kappa(counts=WIKIPEDIA_TABLE) == pytest.approx(fleiss_kappa(counts=WIKIPEDIA_TABLE))

    def test_the_generalised_form_on_unequal_numbers_matches_the_hand_computation(self):
        # P_i = 1, 0, 1/3 -> P = 4/9; p = (5/7, 2/7) -> Pe = 29/49; kappa = (4/9 - 29/49) / (20/49) = -13/36
        kappa = generalised_fleiss_kappa(counts=np.array([[2, 0], [1, 1], [2, 1]]))
        assert kappa == pytest.approx(-13 / 36)

    def test_items_with_a_single_rating_are_left_out(self):
        with_single = np.array([[2, 0], [1, 1], [2, 1], [0, 1]])
        assert generalised_fleiss_kappa(counts=with_single) == pytest.approx(-13 / 36)

    def test_everyone_choosing_one_class_has_no_defined_kappa(self):
        assert math.isnan(generalised_fleiss_kappa(counts=np.array([[3, 0], [2, 0]])))


class TestKrippendorffAlpha:
    @pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
    def test_the_published_example_gives_krippendorffs_values(self, level, published):
        assert krippendorff_alpha(counts=krippendorff_2011_counts(), level=level) == pytest.approx(published, abs=5e-4)

    def test_ordinal_distance_forgives_neighbouring_difficulties_more_than_nominal(self):
        # Easy/Medium and Difficult/Impossible confusions only: close on the ordinal scale
        counts = np.array([[2, 1, 0, 0], [1, 2, 0, 0], [0, 0, 2, 1], [0, 0, 1, 2], [3, 0, 0, 0], [0, 0, 0, 3]])
        assert krippendorff_alpha(counts=counts, level="ordinal") > krippendorff_alpha(counts=counts, level="nominal")

    def test_perfect_agreement_gives_1(self):
        counts = np.array([[2, 0, 0], [0, 3, 0], [0, 0, 2]])
        assert krippendorff_alpha(counts=counts, level="ordinal") == pytest.approx(1.0)

    def test_two_raters_on_one_pair_of_items_match_the_hand_computation(self):
        # units (A, A) and (A, B): o_AA = 2, o_AB = o_BA = 1, n = 4, n_A = 3, n_B = 1
        # alpha = 1 - (n - 1) * (o_AB + o_BA) / (2 n_A n_B) = 1 - 3 * 2 / 6 = 0
        assert krippendorff_alpha(counts=np.array([[2, 0], [1, 1]])) == pytest.approx(0.0)

    def test_a_single_class_used_has_no_defined_alpha(self):
        assert math.isnan(krippendorff_alpha(counts=np.array([[2, 0], [3, 0]])))

    def test_an_unknown_level_is_refused(self):
        with pytest.raises(ValueError, match="Unknown level"):
            krippendorff_alpha(counts=np.array([[1, 1]]), level="ratio")
