"""Spatial consensus: distances, the weighted geometric median, radii, ambiguity and retirement rules."""

import math

import numpy as np
import pytest

from consensus.spatial import (
    EARTH_RADIUS_M,
    Retirement,
    answer_weights,
    density_clusters,
    geometric_median,
    haversine_m,
    retirement_decision,
    spatial_consensus,
    weighted_radius_m,
)

ONE_DEGREE_M = EARTH_RADIUS_M * math.pi / 180.0  # 111 195 m


class TestHaversine:
    def test_one_degree_of_latitude_is_one_180th_of_half_a_great_circle(self):
        assert haversine_m(lat1=10.0, lon1=20.0, lat2=11.0, lon2=20.0) == pytest.approx(ONE_DEGREE_M)

    def test_the_short_way_across_the_antimeridian_is_taken(self):
        assert haversine_m(lat1=0.0, lon1=179.5, lat2=0.0, lon2=-179.5) == pytest.approx(ONE_DEGREE_M)

    def test_arrays_broadcast(self):
        distances = haversine_m(lat1=0.0, lon1=0.0, lat2=np.array([0.0, 0.0]), lon2=np.array([0.0, 90.0]))
        assert distances == pytest.approx([0.0, EARTH_RADIUS_M * math.pi / 2])


class TestAnswerWeights:
    def test_precision_weights_times_skill_with_a_floor(self):
        weights = answer_weights(precisions=["High", "medium", "low"], skills=[0.8, 1.0, 0.0])
        assert weights == pytest.approx([0.8, 0.5, 0.25 * 0.05])

    def test_without_skills_only_precision_counts(self):
        assert answer_weights(precisions=["high", "low"]) == pytest.approx([1.0, 0.25])

    def test_an_unknown_precision_is_refused(self):
        with pytest.raises(ValueError, match="exact"):
            answer_weights(precisions=["exact"])


class TestGeometricMedian:
    def test_a_far_outlier_does_not_drag_the_centre(self):
        lat, lon = geometric_median(lat=[0.0, 0.0, 0.0, 0.001, 30.0], lon=[0.0, 0.001, -0.001, 0.0, 30.0])
        assert haversine_m(lat1=lat, lon1=lon, lat2=0.0, lon2=0.0) < 100.0

    def test_three_pins_on_the_equator_meet_at_the_middle_one(self):
        lat, lon = geometric_median(lat=[0.0, 0.0, 0.0], lon=[0.0, 0.01, 0.05])
        assert (lat, lon) == pytest.approx((0.0, 0.01), abs=1e-7)

    def test_a_pin_heavier_than_all_others_together_is_the_median(self):
        lat, lon = geometric_median(lat=[45.0, 45.01, 44.99, 45.0], lon=[7.0, 7.0, 7.0, 7.02], weights=[5, 1, 1, 1])
        assert (lat, lon) == pytest.approx((45.0, 7.0), abs=1e-7)

    def test_pins_either_side_of_the_antimeridian_meet_on_it(self):
        lat, lon = geometric_median(lat=[-17.0, -17.0], lon=[179.99, -179.99])
        assert abs(lon) == pytest.approx(180.0, abs=1e-6)
        assert lat == pytest.approx(-17.0, abs=1e-4)

    def test_out_of_range_coordinates_are_refused_by_name(self):
        with pytest.raises(ValueError, match=r"Latitude 91.0 at position 1 is outside \[-90, 90\]"):
            geometric_median(lat=[0.0, 91.0], lon=[0.0, 0.0])
        with pytest.raises(ValueError, match=r"Longitude -181.0 .* outside \[-180, 180\]"):
            geometric_median(lat=[0.0], lon=[-181.0])
        with pytest.raises(ValueError, match="Latitude nan"):
            geometric_median(lat=[float("nan")], lon=[0.0])


class TestWeightedRadius:
    def test_the_radius_is_the_smallest_distance_covering_the_share_of_weight(self):
        distances, weights = np.array([0.0, 0.0, 0.0, 1000.0]), np.ones(4)
        assert weighted_radius_m(distances_m=distances, weights=weights, coverage=0.68) == 0.0
        assert weighted_radius_m(distances_m=distances, weights=weights, coverage=0.95) == 1000.0

    def test_exact_coverage_is_reached_despite_rounding(self):
        distances, weights = np.array([10.0, 20.0, 30.0]), np.full(3, 0.1)
        assert weighted_radius_m(distances_m=distances, weights=weights, coverage=2 / 3) == 20.0


class TestDensityClusters:
    def test_a_chain_of_pins_is_one_cluster_with_its_ends_as_border_points_and_a_far_pin_is_noise(self):
        # pins 3 km apart along the equator, then one 110 km away; only the two middle pins are cores
        lon = np.array([0.0, 0.027, 0.054, 0.081, 1.0])
        clusters = density_clusters(lat=np.zeros(5), lon=lon, eps_m=3100.0, min_samples=3)
        assert clusters.tolist() == [0, 0, 0, 0, -1]

    def test_too_few_neighbours_anywhere_leave_everything_noise(self):
        clusters = density_clusters(lat=np.zeros(2), lon=np.array([0.0, 0.5]), eps_m=1000.0, min_samples=2)
        assert clusters.tolist() == [-1, -1]


class TestSpatialConsensus:
    def test_a_single_pin_is_its_own_centre_with_zero_radii(self):
        result = spatial_consensus(lat=[48.85], lon=[2.35])
        assert (result.lat, result.lon) == pytest.approx((48.85, 2.35))
        assert (result.radius_68_m, result.radius_95_m) == (0.0, 0.0)
        assert not result.ambiguous
        assert result.flag == ""

    def test_tight_pins_and_one_stray_give_a_centre_among_the_tight_ones(self):
        lat = [0.0, 0.0, 0.0, 0.0, 0.2]
        lon = [0.0, 0.0, 0.0, 0.01, 0.0]
        result = spatial_consensus(lat=lat, lon=lon)
        assert not result.ambiguous
        assert (result.lat, result.lon) == pytest.approx((0.0, 0.0), abs=1e-6)  # 0.1 m
        assert result.radius_68_m == pytest.approx(0.01 * ONE_DEGREE_M, abs=0.01)
        assert result.radius_95_m == pytest.approx(0.2 * ONE_DEGREE_M, abs=0.01)

    def test_two_distant_groups_are_flagged_ambiguous_with_both_sites_not_their_average(self):
        # three pins near Lisbon and three near Porto, 275 km apart
        lat = [38.72, 38.721, 38.719, 41.15, 41.151, 41.149]
        lon = [-9.14, -9.141, -9.139, -8.61, -8.611, -8.609]
        result = spatial_consensus(lat=lat, lon=lon, weights=[1, 1, 1, 2, 2, 2])
        assert result.ambiguous
        assert result.flag == "ambiguous: 2 candidate sites"
        assert result.lat is None and result.radius_68_m is None
        porto, lisbon = result.candidates
        assert (porto.lat, porto.lon) == pytest.approx((41.15, -8.61), abs=1e-3)
        assert (lisbon.lat, lisbon.lon) == pytest.approx((38.72, -9.14), abs=1e-3)
        assert (porto.weight_share, lisbon.weight_share) == pytest.approx((2 / 3, 1 / 3))
        assert porto.n_answers == 3

    def test_a_small_second_group_below_the_share_threshold_is_not_a_candidate(self):
        lat = [38.72] * 9 + [41.15] * 2
        lon = [-9.14] * 9 + [-8.61] * 2
        result = spatial_consensus(lat=lat, lon=lon)
        assert not result.ambiguous
        assert len(result.candidates) == 1

    def test_no_pins_are_refused(self):
        with pytest.raises(ValueError, match="At least one"):
            spatial_consensus(lat=[], lon=[])


class TestRetirementDecision:
    def decide(self, **overrides):
        arguments = {
            "n_answers": 5,
            "n_cannot_geolocate": 0,
            "radius_68_m": 50.0,
            "ambiguous": False,
            "target_radius_m": 100.0,
        }
        return retirement_decision(**{**arguments, **overrides})

    def test_a_radius_within_the_target_is_done(self):
        decision = self.decide()
        assert decision.status == Retirement.DONE
        assert decision.reason == "68% radius 50 m is within the target of 100 m"

    def test_too_few_answers_need_more_even_when_tight(self):
        decision = self.decide(n_answers=2)
        assert decision.status == Retirement.NEEDS_MORE_ANSWERS
        assert "2 of at least 3" in decision.reason

    def test_a_majority_of_cannot_geolocate_retires_the_image_as_such(self):
        decision = self.decide(n_answers=5, n_cannot_geolocate=3, radius_68_m=10.0)
        assert decision.status == Retirement.CANNOT_GEOLOCATE
        assert decision.reason == "3 of 5 answers say it cannot be geolocated"

    def test_half_cannot_geolocate_is_not_a_majority(self):
        assert self.decide(n_answers=4, n_cannot_geolocate=2).status == Retirement.DONE

    def test_still_wide_after_the_maximum_needs_expert_review(self):
        decision = self.decide(n_answers=10, radius_68_m=2500.0)
        assert decision.status == Retirement.NEEDS_EXPERT_REVIEW
        assert decision.reason == "68% radius 2500 m exceeds the target of 100 m after 10 answers"

    def test_ambiguous_after_the_maximum_needs_expert_review(self):
        decision = self.decide(n_answers=12, radius_68_m=None, ambiguous=True)
        assert decision.status == Retirement.NEEDS_EXPERT_REVIEW
        assert "several candidate sites" in decision.reason

    def test_wide_before_the_maximum_needs_more_answers(self):
        decision = self.decide(n_answers=6, radius_68_m=900.0)
        assert decision.status == Retirement.NEEDS_MORE_ANSWERS
        assert decision.reason == "68% radius 900 m exceeds the target of 100 m"

    def test_impossible_counts_are_refused(self):
        with pytest.raises(ValueError):
            self.decide(n_answers=2, n_cannot_geolocate=3)
