"""Training data, fitting and leave-events-out evaluation of the learned option selector (selector.py).

For every annotated post the locator prepares its options exactly as in production; each option's point is scored
against the post's gold point (the most specific gold mention), so an option is "good" within 161 km and within
25 km. Posts with no option keep the fallback's error, posts with one option its error: the figures below are
post-level accuracies over every post, comparable with ``eval_text_geolocation``.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from classification.geolocation.crisis_places import SPECIFIC_RADIUS_KM
from classification.geolocation.evaluation import GoldPost
from classification.geolocation.geo import haversine_km
from classification.geolocation.recognizer import SourceText
from classification.geolocation.resolver import CrisisContext, GeoLocator, calibrated_radius_km, choose
from classification.geolocation.selector import FEATURES


@dataclass
class SelectorData:
    """Every option of every post, stacked: rows of features with their post, and each post's outcome."""

    features: list[np.ndarray] = field(default_factory=list)  # one (options x FEATURES) block per post
    errors: list[np.ndarray] = field(default_factory=list)  # km from each option's point to the gold point
    rules_choice: list[int] = field(default_factory=list)  # the rules' option, -1 when the post has none
    fallback_error: list[float] = field(default_factory=list)  # km, used when the post has no option
    events: list[str] = field(default_factory=list)

    def add_event(self, locator: GeoLocator, event: str, posts: list[GoldPost], context: CrisisContext) -> None:
        width = len(FEATURES)
        for post in posts:
            prepared = locator.prepare([SourceText("post", post.text)], context)
            self.events.append(event)
            if not prepared.options:
                lat, lon, _, _ = locator.fallback_point(context)
                self.features.append(np.zeros((0, width)))
                self.errors.append(np.zeros(0))
                self.rules_choice.append(-1)
                self.fallback_error.append(haversine_km(lat, lon, post.lat, post.lon))
                continue
            self.features.append(locator.option_features(prepared))
            self.errors.append(
                np.array([haversine_km(s.place.lat, s.place.lon, post.lat, post.lon) for _, s, _ in prepared.options])
            )
            ruled = choose(prepared.options, {id(m): n for n, m in enumerate(prepared.mentions)})
            self.rules_choice.append(next(n for n, option in enumerate(prepared.options) if option is ruled))
            if context.located is not None:  # the crisis's posts so far, as evaluate() counts them (rules' pick)
                place = ruled[1].place
                if calibrated_radius_km(place) <= SPECIFIC_RADIUS_KM:
                    context.located.add(place.lat, place.lon)
            self.fallback_error.append(math.nan)

    def __len__(self) -> int:
        return len(self.events)


def _stack(data: SelectorData, posts: list[int]):
    """Posts with a choice (two options or more, a good and a bad one at 161 or 25 km) as stacked arrays."""
    blocks, errors, starts, size = [], [], [], 0
    for n in posts:
        e = data.errors[n]
        if len(e) < 2:
            continue
        useful = any(0 < (e <= limit).sum() < len(e) for limit in (161.0, 25.0))
        if not useful:
            continue
        starts.append(size)
        blocks.append(data.features[n])
        errors.append(e)
        size += len(e)
    if not blocks:
        return None
    return np.vstack(blocks), np.concatenate(errors), np.array(starts, dtype=np.int64)


def fit(data: SelectorData, posts: list[int], *, l2: float = 1.0) -> np.ndarray:
    """Conditional-logit weights from the given posts: -log P(good at 161 km) - log P(good at 25 km) + l2 |w|^2.
    Deterministic: L-BFGS from zero weights."""
    from scipy.optimize import minimize

    stacked = _stack(data, posts)
    if stacked is None:
        return np.zeros(len(FEATURES))
    x, errors, starts = stacked
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(errors))))
    labels = []
    for limit in (161.0, 25.0):
        good = errors <= limit
        count = np.bincount(group, weights=good, minlength=len(starts))
        size = np.bincount(group, minlength=len(starts))
        valid = (count > 0) & (count < size)
        labels.append((good.astype(float), valid))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        u = x @ w
        u = u - np.maximum.reduceat(u, starts)[group]
        e = np.exp(u)
        p = e / np.add.reduceat(e, starts)[group]
        total, grad = l2 * float(w @ w), 2 * l2 * w
        for good, valid in labels:
            mass = np.maximum(np.bincount(group, weights=p * good, minlength=len(starts)), 1e-12)
            total -= float(np.log(mass[valid]).sum())
            rows = valid[group]
            q = p * good / mass[group]
            grad += x[rows].T @ (p - q)[rows]
        return total, grad

    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 1000}).x


def accuracy(data: SelectorData, posts: list[int], weights: np.ndarray | None) -> dict:
    """Post-level acc@161 and acc@25 of the given posts, choosing with ``weights`` (None: the rules)."""
    hits161 = hits25 = 0
    for n in posts:
        e = data.errors[n]
        if not len(e):
            error = data.fallback_error[n]
        elif weights is None or len(e) == 1:
            error = e[data.rules_choice[n]] if weights is None else e[0]
        else:
            error = e[int(np.argmax(data.features[n] @ weights))]
        hits161 += error <= 161
        hits25 += error <= 25
    total = max(1, len(posts))
    return {"posts": len(posts), "acc_161": round(hits161 / total, 4), "acc_25": round(hits25 / total, 4)}


def leave_events_out(data: SelectorData, *, l2: float = 1.0) -> dict:
    """Each event judged by weights fitted on the other events only, then all those held-out choices together."""
    events = sorted(set(data.events))
    per_event, chosen = {}, {}
    for event in events:
        inside = [n for n, e in enumerate(data.events) if e == event]
        outside = [n for n, e in enumerate(data.events) if e != event]
        weights = fit(data, outside, l2=l2)
        per_event[event] = {"rules": accuracy(data, inside, None), "selector": accuracy(data, inside, weights)}
        for n in inside:
            chosen[n] = weights
    hits161 = hits25 = 0
    for n, weights in chosen.items():
        one = accuracy(data, [n], weights)
        hits161 += one["acc_161"]
        hits25 += one["acc_25"]
    total = max(1, len(chosen))
    return {
        "all": {"posts": len(chosen), "acc_161": round(hits161 / total, 4), "acc_25": round(hits25 / total, 4)},
        "per_event": per_event,
    }
