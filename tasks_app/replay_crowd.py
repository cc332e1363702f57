"""The crowd's behaviour in the crisis replay, beyond honest geolocation: evidence, the text's guess, checks, and
careless or hostile volunteers. Pure functions of seeded streams (tasks_app/replay.py calls them).

Every number here comes from the replay's config (``replay_defaults.yaml``: ``consensus_policies``, ``trust``,
``text_prior``, ``evidence``, ``verification``, ``gold``, ``scenarios``) and is an assumption of ours, stated in
tasks_app/REPLAY.md and overridable with ``--config``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

HONEST, CARELESS, PRIOR_CLICKER, COORDINATED = "honest", "careless", "prior_clicker", "coordinated"
BEHAVIOURS = (HONEST, CARELESS, PRIOR_CLICKER, COORDINATED)
SEARCHED = {"map_moved": True, "map_zoomed": True, "place_searched": False, "streetview_opened": True}
NOTHING_DONE = {"map_moved": False, "map_zoomed": False, "place_searched": False, "streetview_opened": False}
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Prior:
    """The text-derived guess of an image (set as the post's location, which the platform reads as the guess)."""

    lat: float
    lon: float
    accuracy_m: float


def offset(lat: float, lon: float, *, distance_m: float, bearing: float) -> tuple[float, float]:
    dlat = distance_m * math.cos(bearing) / METRES_PER_DEGREE
    dlon = distance_m * math.sin(bearing) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return max(-90.0, min(90.0, lat + dlat)), max(-180.0, min(180.0, lon + dlon))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, h)))


def roles_assign(*, config: dict, seed: int, count: int) -> tuple[dict[int, str], set[int]]:
    """Who behaves how, and who arrives with a track record from earlier crises.

    One seeded permutation of the volunteers: the first ``trust.experienced`` arrive with a record; careless
    volunteers are taken from the last experienced one on (so one careless volunteer holds a record and checks
    others' pins: the careless-verifier assumption at work), prior-clickers and coordinated attackers from the
    first newcomer on. The honest crowd's skills and arrivals do not depend on the scenario.
    """
    order = list(range(count))
    random.Random(f"roles-{seed}").shuffle(order)
    experienced = int(config["trust"]["experienced"])
    behaviour = dict.fromkeys(order, HONEST)
    shares = config.get("behaviours") or {}
    careless = round(float(shares.get(CARELESS, 0.0)) * count)
    start = max(0, experienced - 1)
    for index in order[start : start + careless]:
        behaviour[index] = CARELESS
    cursor = experienced + max(0, careless - 1)
    for name in (PRIOR_CLICKER, COORDINATED):
        n = round(float(shares.get(name, 0.0)) * count)
        for index in order[cursor : cursor + n]:
            behaviour[index] = name
        cursor += n
    with_record = {index for index in order[:experienced] if behaviour[index] != COORDINATED}
    return behaviour, with_record


def priors_generate(*, config: dict, images, seed: int) -> dict[int, Prior]:
    """The text's guess per image index: near the truth (Rayleigh error), sometimes a namesake far away, or none."""
    spec = config["text_prior"]
    rng = random.Random(f"priors-{seed}")
    priors = {}
    for image in images:
        draw = rng.random()
        if draw >= spec["share"]:
            continue
        bearing = rng.uniform(0, 2 * math.pi)
        if draw < spec["share"] * spec["wrong_place_share"]:
            lat, lon = offset(image.lat, image.lon, distance_m=spec["wrong_place_m"], bearing=bearing)
        else:
            error = spec["error_m"] * math.sqrt(-2 * math.log(1 - rng.random()))
            lat, lon = offset(image.lat, image.lon, distance_m=error, bearing=bearing)
        priors[image.index] = Prior(lat, lon, spec["accuracy_m"])
    return priors


def group_spot(image, *, seed: int) -> tuple[float, float]:
    """Where the coordinated group puts an image: one wrong spot per image, a few kilometres off, agreed by all."""
    rng = random.Random(f"group-{seed}-{image.index}")
    return offset(image.lat, image.lon, distance_m=rng.uniform(2000, 5000), bearing=rng.uniform(0, 2 * math.pi))


def geolocation_fields(
    *, behaviour: str, honest: dict, image, prior: Prior | None, config: dict, area: dict, seed: int, rng
) -> dict:
    """The answer a volunteer of ``behaviour`` sends, given the honest answer drawn for them (precision, pin)."""
    if behaviour == COORDINATED:
        lat, lon = group_spot(image, seed=seed)
        return {
            "precision": "high",
            "lat": lat,
            "lon": lon,
            "clue_tags": ["landmark"],
            "pano_lat": lat,
            "pano_lon": lon,
            "pano_heading": 90.0,
            "pano_pitch": 0.0,
            "interaction": SEARCHED,
        }
    if behaviour == PRIOR_CLICKER and prior is not None:
        lat, lon = offset(prior.lat, prior.lon, distance_m=rng.uniform(0, 60), bearing=rng.uniform(0, 2 * math.pi))
        return {"precision": "high", "lat": lat, "lon": lon, "interaction": NOTHING_DONE}
    if behaviour in (CARELESS, PRIOR_CLICKER):
        # Random pins: anywhere in the area, with the precision an honest volunteer would have claimed.
        precision = "medium" if honest["precision"] == "cannot" else honest["precision"]
        lat = rng.uniform(area["south"], area["north"])
        lon = rng.uniform(area["west"], area["east"])
        return {"precision": precision, "lat": lat, "lon": lon, "interaction": {**NOTHING_DONE, "map_moved": True}}
    fields = {**honest, "interaction": SEARCHED}
    evidence = config["evidence"]
    if honest["precision"] == "high":
        if rng.random() < evidence["high_streetview"]:
            fields.update(
                pano_lat=honest["lat"], pano_lon=honest["lon"], pano_heading=rng.uniform(0, 359), pano_pitch=0.0
            )
        else:
            fields["clue_tags"] = ["sign_text"]
    elif honest["precision"] == "medium" and rng.random() < evidence["medium_clues"]:
        fields["clue_tags"] = ["landmark"]
    return fields


def verification_verdict(*, behaviour: str, pin_error_m: float, group_pin: bool, config: dict, rng) -> str:
    """A check of a pin ``pin_error_m`` from the truth: honest, careless or coordinated."""
    spec = config["verification"]
    if behaviour == COORDINATED:
        return "yes" if group_pin else "no"
    wrong = pin_error_m > spec["yes_m"]
    if behaviour in (CARELESS, PRIOR_CLICKER) or rng.random() < spec["lapse_rate"]:
        if wrong:
            return "yes" if rng.random() < spec["careless_yes_to_wrong"] else "no"
        return "yes" if rng.random() < spec["careless_yes_to_right"] else "no"
    if rng.random() >= spec["honest_accuracy"]:
        return rng.choice(["yes", "nearby", "no"])
    if not wrong:
        return "yes"
    return "nearby" if pin_error_m <= spec["nearby_m"] else "no"


def false_publishes(points, truth) -> tuple[int, int, int]:
    """(beyond the stated 68% radius, more than 1 km off, both) among published points (media id, lat, lon, r68)."""
    beyond = far = both = 0
    for media_id, lat, lon, radius in points:
        true_lat, true_lon = truth[media_id]
        error = distance_m(lat, lon, true_lat, true_lon)
        is_beyond, is_far = error > (radius or 0.0), error > 1000.0
        beyond += is_beyond
        far += is_far
        both += is_beyond and is_far
    return beyond, far, both
