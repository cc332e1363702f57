"""The publication rule on its own (consensus/evidence.py): evidence, independence, plausibility and trust."""

from consensus.evidence import Check, Outcome, Pin, Rule, decide, evidence_summary
from consensus.spatial import haversine_m

HERE = (-30.0346, -51.2177)
NEAR = (-30.0347, -51.2178)  # about 15 m away
FAR = (-30.0800, -51.2177)  # about 5 km away


def pin(volunteer: int, where=HERE, **fields) -> Pin:
    defaults = {"precision": "high", "has_streetview": True, "skill": 0.4}
    return Pin(answer_id=volunteer, volunteer_id=volunteer, lat=where[0], lon=where[1], **{**defaults, **fields})


def check(volunteer: int, verdict: str = "yes", where=HERE, trusted: bool = True) -> Check:
    return Check(volunteer_id=volunteer, lat=where[0], lon=where[1], verdict=verdict, trusted=trusted, record=12)


ADAPTIVE = Rule()


class TestAdaptiveRedundancy:
    def test_one_street_view_pin_waits_for_a_check_and_names_the_pin_to_check(self):
        decision = decide(pins=[pin(1)], checks=[], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.AWAITING_VERIFICATION and decision.verify.answer_id == 1

    def test_a_yes_from_a_volunteer_with_a_record_publishes_it_as_high_precision(self):
        decision = decide(pins=[pin(1)], checks=[check(2)], n_cannot=0, rule=ADAPTIVE)
        assert (decision.outcome, decision.precision, decision.trusted) == (Outcome.DONE, "high", True)

    def test_the_pinner_cannot_confirm_their_own_pin(self):
        decision = decide(pins=[pin(1)], checks=[check(1)], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.AWAITING_VERIFICATION

    def test_a_pin_without_street_view_asks_for_a_second_geolocation(self):
        decision = decide(pins=[pin(1, has_streetview=False)], checks=[], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.NEEDS_MORE_ANSWERS

    def test_two_independent_pins_with_a_record_among_them_publish(self):
        decision = decide(
            pins=[pin(1, has_streetview=False), pin(2, NEAR, trusted=True)], checks=[], n_cannot=0, rule=ADAPTIVE
        )
        assert decision.outcome == Outcome.DONE and decision.trusted

    def test_disagreeing_pins_ask_for_more_then_go_to_expert_review(self):
        pins = [pin(1, has_streetview=False), pin(2, FAR, has_streetview=False)]
        assert decide(pins=pins, checks=[], n_cannot=0, rule=ADAPTIVE).outcome == Outcome.NEEDS_MORE_ANSWERS
        more = [*pins, pin(3, (-30.2, -51.0), has_streetview=False), pin(4, (-29.9, -51.3), has_streetview=False)]
        assert decide(pins=more, checks=[], n_cannot=2, rule=ADAPTIVE).outcome == Outcome.NEEDS_EXPERT_REVIEW

    def test_two_agreeing_cannot_geolocate_answers_stop_early(self):
        assert decide(pins=[], checks=[], n_cannot=2, rule=ADAPTIVE).outcome == Outcome.CANNOT_GEOLOCATE
        assert decide(pins=[], checks=[], n_cannot=1, rule=ADAPTIVE).outcome == Outcome.NEEDS_MORE_ANSWERS

    def test_a_no_from_a_checker_discards_the_pin(self):
        decision = decide(pins=[pin(1)], checks=[check(2, "no")], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.NEEDS_MORE_ANSWERS


class TestTrust:
    def test_any_number_of_agreeing_accounts_without_a_record_wait_for_a_check(self):
        pins = [pin(volunteer, has_streetview=False, has_clues=True) for volunteer in range(1, 21)]
        decision = decide(pins=pins, checks=[], n_cannot=0, rule=Rule(max_answers=30))
        assert decision.outcome == Outcome.AWAITING_VERIFICATION and not decision.trusted

    def test_a_yes_from_someone_without_a_record_does_not_make_it_trusted(self):
        pins = [pin(1, has_streetview=False), pin(2, NEAR, has_streetview=False)]
        decision = decide(pins=pins, checks=[check(3, trusted=False)], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.AWAITING_VERIFICATION

    def test_without_the_record_rule_agreeing_pins_publish(self):
        pins = [pin(1, has_streetview=False), pin(2, NEAR, has_streetview=False)]
        decision = decide(pins=pins, checks=[], n_cannot=0, rule=Rule(requires_record=False))
        assert decision.outcome == Outcome.DONE and not decision.trusted


class TestIndependenceAndPlausibility:
    def test_pins_that_only_repeat_the_guess_are_not_enough_whoever_placed_them(self):
        pins = [pin(v, has_streetview=False, confirms_prior=True, trusted=True) for v in (1, 2, 3)]
        decision = decide(pins=pins, checks=[], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.NEEDS_MORE_ANSWERS and "repeat" in decision.reason
        at_max = decide(pins=pins * 2, checks=[], n_cannot=0, rule=ADAPTIVE)
        assert at_max.outcome == Outcome.NEEDS_EXPERT_REVIEW

    def test_high_precision_without_evidence_is_capped_at_medium(self):
        pins = [pin(1, has_streetview=False, trusted=True), pin(2, NEAR, has_streetview=False)]
        decision = decide(pins=pins, checks=[], n_cannot=0, rule=ADAPTIVE)
        assert (decision.outcome, decision.precision) == (Outcome.DONE, "medium")
        assert decision.radius_68_m >= 150  # and never "± 0 m"
        assert decision.evidence["claimed_precision"] == "high"  # what a reviewer's acceptance restores

    def test_pins_outside_the_crisis_area_go_to_expert_review_even_from_volunteers_with_a_record(self):
        pins = [pin(v, outside_area_m=800_000, trusted=True) for v in (1, 2)]
        decision = decide(pins=pins, checks=[check(3)], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.NEEDS_EXPERT_REVIEW and "outside the crisis area" in decision.reason

    def test_one_volunteers_pin_outside_the_area_asks_another_volunteer_before_a_coordinator(self):
        slip = pin(1, outside_area_m=800_000, trusted=True)
        decision = decide(pins=[slip], checks=[], n_cannot=0, rule=ADAPTIVE)
        assert decision.outcome == Outcome.NEEDS_MORE_ANSWERS and "another volunteer" in decision.reason
        abroad = decide(pins=[slip], checks=[], n_cannot=0, rule=Rule(countries=("US",)))
        assert "outside the crisis's countries (US)" in abroad.reason
        last_answer = decide(pins=[slip], checks=[], n_cannot=0, rule=Rule(max_answers=1))
        assert last_answer.outcome == Outcome.NEEDS_EXPERT_REVIEW


class TestFixedRedundancy:
    def test_three_agreeing_pins_publish_when_no_record_is_required(self):
        rule = Rule(adaptive=False, requires_record=False)
        pins = [pin(v, has_streetview=False) for v in (1, 2)]
        assert decide(pins=pins, checks=[], n_cannot=0, rule=rule).outcome == Outcome.NEEDS_MORE_ANSWERS
        assert decide(pins=[*pins, pin(3, NEAR)], checks=[], n_cannot=0, rule=rule).outcome == Outcome.DONE


def test_the_popup_summary_names_the_best_record_among_the_volunteers():
    summary = evidence_summary(
        pins=[pin(1), pin(2, record=40, gold_correct=38, trusted=True)], checks=[check(3)], reviewed_by=""
    )
    assert (summary["volunteers"], summary["with_record"], summary["best_record"], summary["best_record_gold"]) == (
        3,
        2,
        40,
        38,
    )


def test_two_pins_agreeing_on_the_town_only_stop_asking_and_go_to_review():
    town = [pin(1, HERE, precision="low"), pin(2, (-30.045, -51.22), precision="low")]  # about 1 km apart
    decision = decide(pins=town, checks=[], n_cannot=0, rule=ADAPTIVE)
    assert decision.outcome == Outcome.NEEDS_EXPERT_REVIEW and "town" in decision.reason
    fixed = decide(pins=town, checks=[], n_cannot=1, rule=Rule(adaptive=False))
    assert fixed.outcome == Outcome.NEEDS_MORE_ANSWERS  # fixed redundancy asks up to its maximum


def test_the_popup_summary_counts_a_coordinator_apart_from_the_volunteers_with_a_record():
    coordinator = Check(volunteer_id=3, lat=HERE[0], lon=HERE[1], verdict="yes", trusted=True, coordinator=True)
    summary = evidence_summary(pins=[pin(1), pin(2)], checks=[coordinator])
    assert (summary["volunteers"], summary["coordinators"], summary["with_record"], summary["best_record"]) == (
        3,
        1,
        0,
        0,
    )


def test_a_high_precision_point_states_at_least_what_a_yes_check_asserts_however_it_was_agreed():
    agreed = decide(pins=[pin(1), pin(2, NEAR)], checks=[], n_cannot=0, rule=Rule(requires_record=False))
    checked = decide(pins=[pin(1)], checks=[check(2)], n_cannot=0, rule=ADAPTIVE)
    assert (agreed.outcome, agreed.precision, checked.outcome, checked.precision) == ("done", "high", "done", "high")
    assert agreed.radius_68_m == checked.radius_68_m == ADAPTIVE.check_radius_m  # not the 15 m between the pins


def test_a_check_counts_only_while_its_authors_skill_in_the_crisis_holds():
    """A record earned elsewhere does not vouch for checks that keep turning out wrong here; a coordinator's counts."""
    slipping = Check(volunteer_id=2, lat=HERE[0], lon=HERE[1], verdict="yes", trusted=True, record=20, skill=0.2)
    ignored = decide(pins=[pin(1)], checks=[slipping], n_cannot=0, rule=ADAPTIVE)
    assert ignored.outcome == Outcome.AWAITING_VERIFICATION and ignored.verify.volunteer_id == 1
    wrong_no = Check(volunteer_id=2, lat=HERE[0], lon=HERE[1], verdict="no", trusted=True, record=20, skill=0.2)
    assert decide(pins=[pin(1)], checks=[wrong_no], n_cannot=0, rule=ADAPTIVE).outcome == Outcome.AWAITING_VERIFICATION
    coordinator = Check(
        volunteer_id=3, lat=HERE[0], lon=HERE[1], verdict="yes", trusted=True, coordinator=True, skill=0.0
    )
    assert decide(pins=[pin(1)], checks=[slipping, coordinator], n_cannot=0, rule=ADAPTIVE).outcome == Outcome.DONE


def test_the_stated_radius_reaches_around_the_checked_pin_when_other_pins_move_the_centre():
    south = (-30.0349, -51.2177)  # about 33 m south of HERE
    pins = [pin(1), *(pin(v, south, precision="medium", has_streetview=False) for v in (2, 3))]
    decision = decide(pins=pins, checks=[check(4)], n_cannot=0, rule=ADAPTIVE)  # the check showed pin 1 (HERE)
    assert decision.outcome == Outcome.DONE
    offset = float(haversine_m(lat1=decision.lat, lon1=decision.lon, lat2=HERE[0], lon2=HERE[1]))
    assert offset > 1 and decision.radius_68_m >= offset + ADAPTIVE.check_radius_m


def test_a_medium_pin_within_its_reach_of_a_street_view_pin_asks_for_a_check_not_another_geolocation():
    street = (-30.0373, -51.2177)  # about 300 m south of HERE: the right street, less precisely
    pins = [pin(1, street, precision="medium", has_streetview=False, skill=0.6), pin(2)]
    waiting = decide(pins=pins, checks=[], n_cannot=0, rule=ADAPTIVE)
    assert waiting.outcome == Outcome.AWAITING_VERIFICATION and waiting.verify.volunteer_id == 2
    done = decide(pins=pins, checks=[check(3)], n_cannot=0, rule=ADAPTIVE)
    assert (done.outcome, done.precision) == (Outcome.DONE, "high")
    assert float(haversine_m(lat1=done.lat, lon1=done.lon, lat2=HERE[0], lon2=HERE[1])) < 1
    # Beyond its reach the medium pin disagrees: one more geolocation, as before.
    far = [pin(1, (-30.0420, -51.2177), precision="medium", has_streetview=False, skill=0.6), pin(2)]
    assert decide(pins=far, checks=[], n_cannot=0, rule=ADAPTIVE).outcome == Outcome.NEEDS_MORE_ANSWERS


def test_a_refuted_pin_does_not_make_a_lone_precise_pin_a_core_that_waits_for_a_check():
    """Two scattered high-precision pins, the first refuted by a check: nothing of lower precision corroborates the
    second, so the usual agreement rule decides (more pins), never a check that only the two pinners could give."""
    elsewhere = (-30.0600, -51.1800)  # about 4 km from HERE
    pins = [pin(1), pin(2, elsewhere)]
    decision = decide(pins=pins, checks=[check(2, verdict="no")], n_cannot=0, rule=ADAPTIVE)
    assert decision.outcome == Outcome.NEEDS_MORE_ANSWERS
