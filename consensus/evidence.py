"""When is a location known well enough to publish? Evidence, independence, plausibility and trust (pure: no database).

The inputs are one image's pins and verification answers, each with what the platform knows of its author; the
output is a ``Decision``: done, more answers, a check by a volunteer with a record, expert review, or cannot
geolocate, with the reason and a summary of the evidence for the map's popup. ``services.location_consensus_update``
gathers the inputs and applies the decision. The rules (consensus README, "Trust"):

- **Evidence per pin.** "High" needs evidence (a Street View view or clue tags); without it a pin counts as
  medium. A pin that only repeats the text-derived guess (``confirms_prior``) or lies outside the crisis area
  weighs little and is never independent evidence.
- **Enough evidence** (adaptive redundancy): two independent pins by skilled volunteers within the target radius
  of the centre, or one high-precision pin with its evidence (a Street View view, or clue tags) confirmed by a
  "yes" check: the check is what shows the photo is there, the recorded view only makes it quicker. Fixed redundancy
  (the policy before adaptive redundancy) is done when ``min_answers`` pins agree within the target radius.
- **Trust.** With ``requires_record`` a point is published only when its evidence includes a volunteer with a
  track record, a reviewer or a coordinator; otherwise it waits for a check by such a volunteer. No number of
  accounts without a record can publish on their own.
- **Plausibility.** A centre outside the crisis area (beyond its margin) goes to expert review, never to the map.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.utils.translation import gettext_noop

from consensus.spatial import MIN_SKILL, PRECISION_WEIGHTS, haversine_m, spatial_consensus

# A stated 68% radius is never below the typical error of one pin of its precision: three pins on one spot are not
# "± 0 m", and one pin confirmed by a check is not exact either. Assumptions (a Street View match within tens of
# metres, "the right street or area" within a block or two, a town), shown in the consensus README. A high-precision
# point also states no less than a "yes" check asserts (``Rule.check_radius_m``): "the photo was taken at this pin"
# means the same, whether agreeing pins or a check say it.
PRECISION_RADIUS_FLOOR_M = {"high": 30.0, "medium": 150.0, "low": 1000.0}


# Why a location goes to a reviewer: English templates for the record, translated where the reviewer reads them.
TOWN_ONLY = gettext_noop(
    "%(pins)d independent pins agree on the town only; 68%% radius %(radius)d m exceeds the target of %(target)d m"
)
SPREAD_AFTER_ALL_ANSWERS = gettext_noop(
    "68%% radius %(radius)d m exceeds the target of %(target)d m after %(answers)d answers"
)
OUTSIDE_THE_AREA = gettext_noop("the pins are %(km)d km outside the crisis area: a coordinator checks it")
OUTSIDE_THE_COUNTRIES = gettext_noop(
    "the pins are %(km)d km outside the crisis's countries (%(countries)s): a coordinator checks it"
)
THIN_AFTER_ALL_ANSWERS = gettext_noop("not enough independent evidence after %(answers)d answers")


@dataclass(frozen=True)
class Reason:
    """A reason a reviewer reads: its template and values, so that the review page can say it in the reviewer's
    language while the consensus records it in English (``str``)."""

    template: str
    values: dict

    def __str__(self) -> str:
        return self.template % self.values


ONE_PIN_OUTSIDE = "one volunteer's pin lies outside {extent}: another volunteer looks before a coordinator"


class Outcome(enum.StrEnum):
    DONE = "done"
    NEEDS_MORE_ANSWERS = "needs_more_answers"
    AWAITING_VERIFICATION = "awaiting_verification"
    NEEDS_EXPERT_REVIEW = "needs_expert_review"
    CANNOT_GEOLOCATE = "cannot_geolocate"


@dataclass(frozen=True)
class Pin:
    """One geolocation answer with a location, and what is known of the volunteer who placed it."""

    answer_id: int
    volunteer_id: int
    lat: float
    lon: float
    precision: str  # as stated: high, medium, low
    has_streetview: bool = False
    has_clues: bool = False
    confirms_prior: bool = False
    outside_area_m: float = 0.0  # distance beyond the affected area's margin; 0 inside
    skill: float = 0.3
    record: int = 0  # correct checked answers
    gold_correct: int = 0
    trusted: bool = False  # a track record by the crisis's rule, or a coordinator
    coordinator: bool = False  # trusted as a coordinator of the crisis, whatever their record

    @property
    def effective_precision(self) -> str:
        if self.precision == "high" and not (self.has_streetview or self.has_clues):
            return "medium"
        return self.precision

    @property
    def independent(self) -> bool:
        return not self.confirms_prior and self.outside_area_m <= 0


@dataclass(frozen=True)
class Check:
    """A verification answer: was the photo taken at the pin shown (lat, lon)? yes, nearby or no."""

    volunteer_id: int
    lat: float
    lon: float
    verdict: str
    trusted: bool = False
    record: int = 0
    gold_correct: int = 0
    coordinator: bool = False
    skill: float = 0.3  # the checker's skill in this crisis (right checks and pins count in it)

    def counts(self, rule: Rule) -> bool:
        """A check counts when its author's answers in this crisis have kept their skill at the level a pin needs to
        be evidence (``Rule.skilled_skill``): a record earned elsewhere does not vouch for checks that keep turning
        out wrong here. A coordinator's always counts."""
        return self.coordinator or self.skill >= rule.skilled_skill


@dataclass(frozen=True)
class Rule:
    """The crisis's publication rule and the platform's thresholds."""

    adaptive: bool = True
    requires_record: bool = True
    target_radius_m: float = 250.0
    min_answers: int = 3  # fixed redundancy: answers before any decision
    max_answers: int = 6  # then expert review
    cluster_eps_m: float = 2000.0
    skilled_skill: float = 0.3  # an "independent skilled pin" comes from a volunteer at least this skilled
    verified_pin_skill: float = 0.3  # a single pin confirmed by a check needs this skill
    prior_weight: float = 0.2  # weight factor of a pin that only confirms the text-derived guess
    outside_weight: float = 0.1
    check_radius_m: float = 50.0  # a "yes" says the photo was taken within this distance of the pin
    nearby_m: float = 500.0  # a "medium" pin this close to the high-precision pins agrees with them ("nearby")
    countries: tuple[str, ...] = ()  # without a drawn area, "outside" is outside these countries (said in reasons)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    lat: float | None = None
    lon: float | None = None
    radius_68_m: float | None = None
    radius_95_m: float | None = None
    precision: str = ""
    ambiguous: bool = False
    candidates: tuple = ()
    trusted: bool = False
    verify: Pin | None = None  # the pin a volunteer with a record should check next
    evidence: dict = field(default_factory=dict)
    why: Reason | None = None  # the reason of a location sent to a reviewer, for the review page

    @classmethod
    def to_review(cls, why: Reason, **located) -> Decision:
        return cls(Outcome.NEEDS_EXPERT_REVIEW, str(why), why=why, **located)


def pin_weights(pins: Sequence[Pin], rule: Rule) -> np.ndarray:
    """Precision (capped without evidence) x skill, shrunk for pins that only confirm the guess or lie outside."""
    weights = np.array(
        [PRECISION_WEIGHTS[p.effective_precision] * min(1.0, max(MIN_SKILL, p.skill)) for p in pins], dtype=float
    )
    weights *= np.array([rule.prior_weight if p.confirms_prior else 1.0 for p in pins])
    weights *= np.array([rule.outside_weight if p.outside_area_m > 0 else 1.0 for p in pins])
    return weights


def evidence_summary(*, pins: Sequence[Pin], checks: Sequence[Check], reviewed_by: str = "") -> dict:
    """What the map's popup says: how many people placed or checked it, how many of them are coordinators, how many
    others have a track record, and the best record among those (a coordinator counts without one)."""
    people: dict[int, tuple[int, int, bool, bool]] = {}
    for item in [*pins, *checks]:
        record, gold, trusted, coordinator = people.get(item.volunteer_id, (0, 0, False, False))
        people[item.volunteer_id] = (
            max(record, item.record),
            max(gold, item.gold_correct),
            trusted or item.trusted,
            coordinator or item.coordinator,
        )
    with_record = sorted(((r, g) for r, g, trusted, coord in people.values() if trusted and not coord), reverse=True)
    return {
        "volunteers": len(people),
        "coordinators": sum(1 for *_, coordinator in people.values() if coordinator),
        "pins": len(pins),
        "checks": sum(1 for c in checks if c.verdict == "yes"),
        "with_record": len(with_record),
        "best_record": with_record[0][0] if with_record else 0,
        "best_record_gold": with_record[0][1] if with_record else 0,
        "streetview": any(p.has_streetview for p in pins),
        "confirms_prior": sum(1 for p in pins if p.confirms_prior),
        "reviewed_by": reviewed_by,
    }


def decide(*, pins: Sequence[Pin], checks: Sequence[Check], n_cannot: int, rule: Rule) -> Decision:
    """The next step for one image from its pins, its checks and its "cannot geolocate" answers."""
    n_answers = len(pins) + n_cannot
    summary = evidence_summary(pins=pins, checks=checks)
    if rule.adaptive:
        # Early stop on agreement that nothing can be found: two "cannot" answers outnumbering the pins.
        if n_cannot >= 2 and n_cannot > len(pins):
            return Decision(
                Outcome.CANNOT_GEOLOCATE,
                f"{n_cannot} of {n_answers} answers say it cannot be geolocated",
                evidence=summary,
            )
    else:
        if n_answers < rule.min_answers:
            return Decision(
                Outcome.NEEDS_MORE_ANSWERS,
                f"{n_answers} of at least {rule.min_answers} answers so far",
                evidence=summary,
            )
        if 2 * n_cannot > n_answers:
            return Decision(
                Outcome.CANNOT_GEOLOCATE,
                f"{n_cannot} of {n_answers} answers say it cannot be geolocated",
                evidence=summary,
            )
    at_max = n_answers >= rule.max_answers
    if not pins:
        if at_max:
            return Decision(
                Outcome.NEEDS_EXPERT_REVIEW, f"no answer gives a location after {n_answers} answers", evidence=summary
            )
        return Decision(Outcome.NEEDS_MORE_ANSWERS, "no answer gives a location yet", evidence=summary)

    weights = pin_weights(pins, rule)
    result = spatial_consensus(
        lat=[p.lat for p in pins], lon=[p.lon for p in pins], weights=weights, cluster_eps_m=rule.cluster_eps_m
    )
    candidates = tuple(
        {
            "lat": s.lat,
            "lon": s.lon,
            "radius_68_m": s.radius_68_m,
            "n_answers": s.n_answers,
            "weight_share": s.weight_share,
        }
        for s in result.candidates
    )
    if result.ambiguous:
        outcome = Outcome.NEEDS_EXPERT_REVIEW if at_max else Outcome.NEEDS_MORE_ANSWERS
        suffix = f" after {n_answers} answers" if at_max else ""
        return Decision(
            outcome,
            f"answers point to several candidate sites{suffix}",
            ambiguous=True,
            candidates=candidates,
            evidence=summary,
        )

    counted = [c for c in checks if c.counts(rule)]
    refuted = [c for c in counted if c.verdict in ("no", "nearby")]
    if rule.adaptive and result.radius_68_m > rule.target_radius_m:
        # Pins of lower precision that only widen the spread around agreeing high-precision pins do not disagree
        # with them: "this street" 300 m from a Street View match is the same answer, less precisely. The point
        # rests on the precise pins (which still need a check or a second skilled pin); asking for one more
        # geolocation because a medium pin sits within its own precision would buy nothing.
        result = _precise_core(pins, weights, rule, refuted=refuted) or result
    distances = haversine_m(
        lat1=result.lat, lon1=result.lon, lat2=np.array([p.lat for p in pins]), lon2=np.array([p.lon for p in pins])
    )
    near = [p for p, d in zip(pins, distances, strict=True) if d <= rule.target_radius_m]
    yes = [c for c in counted if c.verdict == "yes" and _near(c, result.lat, result.lon, rule.target_radius_m)]
    # A pin a check said "no" or "nearby" to is not evidence, whoever placed it.
    support = [p for p in near if not any(_near(c, p.lat, p.lon, 1.0) for c in refuted)]
    if near and not support:
        reason = "checks said the pins are not where the photo was taken"
        if at_max:
            return Decision(Outcome.NEEDS_EXPERT_REVIEW, f"{reason} after {n_answers} answers", evidence=summary)
        return Decision(Outcome.NEEDS_MORE_ANSWERS, reason, evidence=summary)
    precision = _precision(support, yes)
    floor = PRECISION_RADIUS_FLOOR_M.get(precision, 0.0)
    if yes or precision == "high":
        floor = max(floor, rule.check_radius_m)
    if yes:
        # A "yes" vouches for the pin it showed, within the check's radius: where other pins move the centre away
        # from that pin, the stated radius reaches around it.
        reach = max(float(haversine_m(lat1=result.lat, lon1=result.lon, lat2=c.lat, lon2=c.lon)) for c in yes)
        floor = max(floor, reach + rule.check_radius_m)
    radius_68 = max(result.radius_68_m, floor)
    radius_95 = max(result.radius_95_m, radius_68)
    located = {
        "lat": result.lat,
        "lon": result.lon,
        "radius_68_m": radius_68,
        "radius_95_m": radius_95,
        "precision": precision,
        "candidates": candidates,
        "evidence": {**summary, "claimed_precision": _claimed_precision(support)},
    }
    agreed = radius_68 <= rule.target_radius_m
    if not agreed:
        radii = {"radius": round(radius_68), "target": round(rule.target_radius_m)}
        town = _town_level(pins, distances, rule)
        if rule.adaptive and town >= 2:
            # Two volunteers found only the town, and the same one: more pins would not make it precise, and each
            # costs minutes on a difficult image. A reviewer with a record decides what to do with it.
            return Decision.to_review(Reason(TOWN_ONLY, {"pins": town, **radii}), **located)
        if at_max:
            return Decision.to_review(Reason(SPREAD_AFTER_ALL_ANSWERS, {**radii, "answers": n_answers}), **located)
        spread = f"68% radius {radii['radius']} m exceeds the target of {radii['target']} m"
        return Decision(Outcome.NEEDS_MORE_ANSWERS, spread, **located)

    independent = [p for p in support if p.independent]
    skilled = {p.volunteer_id for p in independent if p.skill >= rule.skilled_skill or p.trusted}
    verifiable = [
        p for p in independent if p.effective_precision == "high" and (p.skill >= rule.verified_pin_skill or p.trusted)
    ]
    confirmed = [p for p in verifiable if any(c.volunteer_id != p.volunteer_id for c in yes)]
    if rule.adaptive:
        enough = len(skilled) >= 2 or bool(confirmed)
        enough_reason = (
            f"{len(skilled)} independent pins agree within {rule.target_radius_m:.0f} m"
            if len(skilled) >= 2
            else "a high-precision pin with evidence was confirmed by a check"
        )
    else:
        enough = True  # fixed redundancy: every answer asked for is in and they agree
        enough_reason = f"68% radius {radius_68:.0f} m is within the target of {rule.target_radius_m:.0f} m"
    trusted = any(p.trusted for p in support) or any(c.trusted for c in yes)
    outside = max((p.outside_area_m for p in support), default=0.0)
    if support and all(p.outside_area_m > 0 for p in support):
        if rule.adaptive and not at_max and len({p.volunteer_id for p in support}) < 2:
            # One volunteer's pin outside is as likely a slip as a find: another volunteer looks first, so that a
            # careless click costs one more answer, not a coordinator's time. It weighs little and is no evidence.
            extent = f"the crisis's countries ({', '.join(rule.countries)})" if rule.countries else "the crisis area"
            return Decision(
                Outcome.NEEDS_MORE_ANSWERS, ONE_PIN_OUTSIDE.format(extent=extent), trusted=trusted, **located
            )
        km = round(outside / 1000)
        why = (
            Reason(OUTSIDE_THE_COUNTRIES, {"km": km, "countries": ", ".join(rule.countries)})
            if rule.countries
            else Reason(OUTSIDE_THE_AREA, {"km": km})
        )
        return Decision.to_review(why, trusted=trusted, **located)
    if not enough:
        to_verify = max(verifiable, key=lambda p: (p.trusted, p.skill), default=None)
        if to_verify is not None and not any(c.volunteer_id != to_verify.volunteer_id for c in yes):
            return Decision(
                Outcome.AWAITING_VERIFICATION,
                "a high-precision pin with evidence waits for a check by a volunteer with a record",
                trusted=trusted,
                verify=to_verify,
                **located,
            )
        if at_max:
            return Decision.to_review(Reason(THIN_AFTER_ALL_ANSWERS, {"answers": n_answers}), **located)
        return Decision(Outcome.NEEDS_MORE_ANSWERS, _missing(support, independent, rule), trusted=trusted, **located)
    if rule.requires_record and not trusted:
        best = max(support, key=lambda p: (p.effective_precision == "high", p.has_streetview, p.skill))
        return Decision(
            Outcome.AWAITING_VERIFICATION,
            f"{enough_reason}, but nobody with a track record is among them: waiting for a check",
            verify=best,
            **located,
        )
    return Decision(Outcome.DONE, enough_reason, trusted=trusted, **located)


def _precise_core(pins: Sequence[Pin], weights: np.ndarray, rule: Rule, *, refuted: Sequence[Check] = ()):
    """The spatial consensus of the independent high-precision pins alone, when they agree within the target radius
    and every other pin lies within its own precision's reach of them (medium: ``rule.nearby_m``; low, the town:
    ``rule.cluster_eps_m``); else None. Those other pins then corroborate the point without setting its radius. Pins
    a check refuted are left out (they are not evidence either way)."""
    discarded = {i for i, p in enumerate(pins) if any(_near(c, p.lat, p.lon, 1.0) for c in refuted)}
    precise = [
        i for i, p in enumerate(pins) if p.effective_precision == "high" and p.independent and i not in discarded
    ]
    others = [i for i in range(len(pins)) if i not in precise and i not in discarded]
    if not precise or not others:
        return None  # nothing of lower precision to corroborate them: the usual agreement rule decides
    core = spatial_consensus(
        lat=[pins[i].lat for i in precise],
        lon=[pins[i].lon for i in precise],
        weights=weights[precise],
        cluster_eps_m=rule.cluster_eps_m,
    )
    if core.ambiguous or core.radius_68_m > rule.target_radius_m:
        return None
    reach = {"high": rule.target_radius_m, "medium": rule.nearby_m, "low": rule.cluster_eps_m}
    for index in others:
        pin = pins[index]
        distance = float(haversine_m(lat1=core.lat, lon1=core.lon, lat2=pin.lat, lon2=pin.lon))
        if distance > reach[pin.effective_precision]:
            return None
    return core


def _town_level(pins: Sequence[Pin], distances: np.ndarray, rule: Rule) -> int:
    """Volunteers whose independent pins all say "only the town" and lie in one town (within the cluster radius)."""
    if any(p.effective_precision != "low" for p in pins):
        return 0
    if any(d > rule.cluster_eps_m for d in distances):
        return 0
    return len({p.volunteer_id for p in pins if p.independent})


def _near(check: Check, lat: float, lon: float, metres: float) -> bool:
    return float(haversine_m(lat1=check.lat, lon1=check.lon, lat2=lat, lon2=lon)) <= metres


def _precision(support: Sequence[Pin], yes: Sequence[Check]) -> str:
    """The most common effective precision of the supporting pins; high only with evidence (capped otherwise)."""
    if not support:
        return "low"
    counts = {name: 0 for name in ("high", "medium", "low")}
    for pin in support:
        counts[pin.effective_precision] += 1
    if yes and counts["high"] == 0 and any(p.precision == "high" for p in support):
        counts["high"] = 1  # a check at the recorded Street View view is the evidence the pin lacked
    return max(("high", "medium", "low"), key=lambda name: (counts[name], -("high", "medium", "low").index(name)))


def _claimed_precision(support: Sequence[Pin]) -> str:
    """The precision the supporting pins state, evidence or not: what a reviewer's acceptance vouches for."""
    names = ("high", "medium", "low")
    return max(names, key=lambda name: (sum(p.precision == name for p in support), -names.index(name)))


def _missing(support: Sequence[Pin], independent: Sequence[Pin], rule: Rule) -> str:
    if len(independent) < len(support):
        return (
            f"{len(support) - len(independent)} of {len(support)} agreeing pins only repeat the text's guess or lie "
            "outside the area: more independent pins needed"
        )
    return f"{len(independent)} independent pin(s) so far: one more needed"
