"""Geolocatability estimates without fine-tuning: a linear head on a frozen image embedding plus the evidence
around the image (the post's text, text read in the image, duplicates already located), giving an ease in [0, 1]
and probabilities over Easy / Medium / Difficult / Impossible, the outputs of a trained classifier.

Two heads share this code. The cold-start head ships with the platform: its image weights were trained by
``manage.py train_cold_start_difficulty`` on a documented labelled folder (record beside the weights) and its
evidence weights are stated priors. A crisis head is learned from the crisis's own consensus ratings
(``classification.services.difficulty_learn``): image and evidence weights together.
"""

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from classification.difficulty.metrics import classification_metrics

LEVELS = ("easy", "medium", "difficult", "impossible")
# Cumulative-logit cut points: P(at least medium) = sigmoid(s + 1.5), P(at least difficult) = sigmoid(s + 4), with
# s = logit(ease); P(easy) is the ease itself. The label is the most probable of easy, medium and difficult.
LEVEL_CUTS = (1.5, 4.0)
HEAD_FORMAT = 1


class HeadKind(StrEnum):
    COLD_START = "cold_start"
    CRISIS = "crisis"


def _sigmoid(value: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(value, -30, 30)))


def level_probabilities(ease: float) -> dict[str, float]:
    """Easy / Medium / Difficult / Impossible from an ease, ordinally: P(easy) = ease, and the rest falls towards
    Medium when the ease is middling and towards Difficult (then Impossible) as it drops."""
    ease = min(1.0 - 1e-9, max(1e-9, float(ease)))
    logit = math.log(ease / (1.0 - ease))
    at_least_medium = float(_sigmoid(logit + LEVEL_CUTS[0]))
    at_least_difficult = float(_sigmoid(logit + LEVEL_CUTS[1]))
    values = (ease, at_least_medium - ease, at_least_difficult - at_least_medium, 1.0 - at_least_difficult)
    return {level: round(value, 6) for level, value in zip(LEVELS, values, strict=True)}


def level_label(probabilities: dict[str, float]) -> str:
    """The most probable of easy, medium and difficult. Never "impossible": that label withholds an image from
    volunteers until a coordinator releases it, which an estimate without the crowd's word must not do."""
    return max(LEVELS[:3], key=lambda level: probabilities.get(level, 0.0))


class TextTier(StrEnum):
    """The most specific place the post's text (or coordinates) gives."""

    NATIVE = "native_coordinates"
    STREET = "street_or_landmark"
    TOWN = "town_or_local_place"
    REGION = "region_or_country"
    NONE = "none"


EVIDENCE_FEATURES = (
    "text_native_coordinates",
    "text_street_or_landmark",
    "text_town_or_local_place",
    "text_region_or_country",
    "ocr_text",
    "ocr_place",
    "duplicate_located",
)

# The cold start's evidence weights, in log-odds added to the image's: stated priors, not fitted. Nothing labelled
# holds both photos and their posts, so they cannot be measured here; a crisis head learns its own from ratings.
# A post naming a street or landmark gives volunteers a place to check, a town a search area, a country nothing the
# crisis area does not already say; text read in the image (a shop name, a sign) is a clue volunteers can search; a
# copy of the photo already located elsewhere means the answer is known.
COLD_START_EVIDENCE_WEIGHTS = {
    "text_native_coordinates": 1.0,
    "text_street_or_landmark": 0.8,
    "text_town_or_local_place": 0.3,
    "text_region_or_country": 0.0,
    "ocr_text": 0.4,
    "ocr_place": 0.4,
    "duplicate_located": 3.0,
}


@dataclass(frozen=True)
class ImageEvidence:
    """What is known around an image when it is scored."""

    text_tier: str = TextTier.NONE
    ocr_text: bool = False  # readable text in the image (OCR on)
    ocr_place: bool = False  # a place recognised in that text
    duplicate_located: bool = False  # a near-identical photo already has a published location

    def vector(self) -> np.ndarray:
        tier = f"text_{self.text_tier}"
        flags = {"ocr_text": self.ocr_text, "ocr_place": self.ocr_place, "duplicate_located": self.duplicate_located}
        return np.array([float(name == tier or flags.get(name, False)) for name in EVIDENCE_FEATURES])

    def to_dict(self) -> dict:
        return asdict(self) | {"text_tier": str(self.text_tier)}


@dataclass(frozen=True)
class Estimate:
    ease: float
    probabilities: dict[str, float]
    label: str
    image_logit: float  # the image's own log-odds of "easy", before the evidence
    contributions: dict[str, float]  # log-odds each piece of evidence added

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GeolocatabilityHead:
    """Standardised embedding -> logistic weights, plus evidence weights; ``record`` says how it was made."""

    kind: str
    backbone: str
    views: int
    embedding_mean: np.ndarray
    embedding_scale: np.ndarray
    embedding_coef: np.ndarray
    intercept: float
    evidence_weights: dict[str, float]
    regularisation_c: float
    record: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.embedding_coef)

    def image_logits(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"embeddings of shape {vectors.shape} do not fit a head of {self.dim} inputs")
        return ((vectors - self.embedding_mean) / self.embedding_scale) @ self.embedding_coef + self.intercept

    def estimate(self, vectors: np.ndarray, evidences: Sequence[ImageEvidence] | None = None) -> list[Estimate]:
        logits = self.image_logits(vectors)
        evidences = evidences or [ImageEvidence()] * len(logits)
        estimates = []
        for logit, evidence in zip(logits, evidences, strict=True):
            active = [name for name, on in zip(EVIDENCE_FEATURES, evidence.vector(), strict=True) if on]
            contributions = {name: self.evidence_weights.get(name, 0.0) for name in active}
            ease = float(_sigmoid(logit + sum(contributions.values())))
            probabilities = level_probabilities(ease)
            estimates.append(
                Estimate(round(ease, 6), probabilities, level_label(probabilities), float(logit), contributions)
            )
        return estimates

    def to_dict(self) -> dict:
        return {
            "format": HEAD_FORMAT,
            "kind": str(self.kind),
            "backbone": self.backbone,
            "views": self.views,
            "embedding_mean": [round(float(v), 7) for v in self.embedding_mean],
            "embedding_scale": [round(float(v), 7) for v in self.embedding_scale],
            "embedding_coef": [round(float(v), 8) for v in self.embedding_coef],
            "intercept": float(self.intercept),
            "evidence_weights": dict(self.evidence_weights),
            "regularisation_c": self.regularisation_c,
            "record": self.record,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "GeolocatabilityHead":
        if data.get("format") != HEAD_FORMAT:
            raise ValueError(f"not a geolocatability head of format {HEAD_FORMAT}")
        arrays = {
            name: np.asarray(data[name], dtype=np.float64)
            for name in ("embedding_mean", "embedding_scale", "embedding_coef")
        }
        if len({len(a) for a in arrays.values()}) != 1:
            raise ValueError("a geolocatability head's mean, scale and weights differ in length")
        return cls(
            kind=data["kind"],
            backbone=data["backbone"],
            views=int(data["views"]),
            intercept=float(data["intercept"]),
            evidence_weights={k: float(v) for k, v in data["evidence_weights"].items()},
            regularisation_c=float(data["regularisation_c"]),
            record=data.get("record", {}),
            **arrays,
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "GeolocatabilityHead":
        return cls.from_dict(json.loads(Path(path).read_text()))


# --- fitting -------------------------------------------------------------------------------------------------------
C_GRID = (0.0003, 0.001, 0.003, 0.01)  # inverse L2 strength on standardised 1280-d embeddings
DEFAULT_C = 0.002  # the middle of the grid's best region on the development set, for sets too small to search
MIN_FOR_SEARCH = 50  # labelled images (and 5 groups, 5 of each class) before C is chosen by inner cross-validation
# Evidence columns enter the fit multiplied by this: the L2 penalty that keeps 1280 image weights small would
# otherwise keep a handful of strong evidence weights (a street named in the post) far below their size.
EVIDENCE_SCALE = 10.0


def _logistic(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed)


def _design(vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray, evidence: np.ndarray | None) -> np.ndarray:
    standardised = (np.asarray(vectors, dtype=np.float64) - mean) / scale
    return standardised if evidence is None else np.hstack([standardised, evidence * EVIDENCE_SCALE])


def grouped_folds(labels: np.ndarray, groups: Sequence[str], *, folds: int, seed: int) -> list[tuple]:
    """Stratified folds that never split a group (a photographer, a duplicate group) across train and test."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, np.asarray(groups)))


def _choose_c(x: np.ndarray, labels: np.ndarray, groups: Sequence[str], *, seed: int, grid: Sequence[float]) -> dict:
    enough = len(labels) >= MIN_FOR_SEARCH and min(np.bincount(labels, minlength=2)) >= 5 and len(set(groups)) >= 5
    if not enough or len(grid) == 1:
        return {"c": grid[0] if len(grid) == 1 else DEFAULT_C, "searched": False, "scores": {}}
    scores = {}
    for c in grid:
        hits, losses = 0, 0.0
        for train, test in grouped_folds(labels, groups, folds=5, seed=seed):
            model = _logistic(c, seed).fit(x[train], labels[train])
            probability = np.clip(model.predict_proba(x[test])[:, 1], 1e-6, 1 - 1e-6)
            hits += int(((probability >= 0.5) == labels[test]).sum())
            losses -= float(np.sum(labels[test] * np.log(probability) + (1 - labels[test]) * np.log(1 - probability)))
        scores[c] = (hits / len(labels), losses / len(labels))
    best = max(grid, key=lambda c: (scores[c][0], -scores[c][1]))
    return {"c": best, "searched": True, "scores": {str(c): [round(a, 4), round(b, 4)] for c, (a, b) in scores.items()}}


def head_fit(
    vectors: np.ndarray,
    labels: Sequence[int],
    *,
    groups: Sequence[str],
    kind: str,
    backbone: str,
    views: int,
    evidences: Sequence[ImageEvidence] | None = None,
    evidence_weights: dict[str, float] | None = None,
    seed: int = 13,
    c_grid: Sequence[float] = C_GRID,
) -> GeolocatabilityHead:
    """Fit a head on embeddings (label 1 = easy). With ``evidences`` the evidence weights are learned with the
    image weights; otherwise ``evidence_weights`` (e.g. the cold start's priors) are attached as given.
    Class-balanced, L2-regularised; C from ``c_grid`` by grouped inner cross-validation when the set allows."""
    labels = np.asarray(labels, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(set(labels.tolist())) < 2:
        raise ValueError("a geolocatability head needs both easy and difficult examples")
    mean = vectors.mean(0)
    scale = np.maximum(vectors.std(0), 1e-6)
    evidence = np.stack([e.vector() for e in evidences]) if evidences is not None else None
    x = _design(vectors, mean, scale, evidence)
    choice = _choose_c(x, labels, groups, seed=seed, grid=c_grid)
    model = _logistic(choice["c"], seed).fit(x, labels)
    coef = model.coef_[0]
    learned = (
        dict(zip(EVIDENCE_FEATURES, (coef[vectors.shape[1] :] * EVIDENCE_SCALE).tolist(), strict=True))
        if evidences is not None
        else None
    )
    return GeolocatabilityHead(
        kind=kind,
        backbone=backbone,
        views=views,
        embedding_mean=mean,
        embedding_scale=scale,
        embedding_coef=coef[: vectors.shape[1]],
        intercept=float(model.intercept_[0]),
        evidence_weights=learned if learned is not None else dict(evidence_weights or {}),
        regularisation_c=float(choice["c"]),
        record={"regularisation_search": choice, "label_counts": np.bincount(labels, minlength=2).tolist()},
    )


# --- measuring ----------------------------------------------------------------------------------------------------
BINARY_CLASS_NAMES = ("difficult", "easy")  # index 1, "easy", is the positive class (as the trained classifier's)


def precision_at_top(labels: Sequence[int], ease: Sequence[float], *, share: float = 0.2) -> float | None:
    """Share of truly easy images among the ``share`` with the highest ease: what volunteers meet first."""
    labels, ease = np.asarray(labels), np.asarray(ease, dtype=np.float64)
    if not len(labels):
        return None
    top = max(1, math.ceil(share * len(labels)))
    order = np.argsort(-ease, kind="stable")[:top]
    return float(labels[order].mean())


def ease_metrics(labels: Sequence[int], ease: Sequence[float], *, seed: int = 0, bootstrap: int = 1000) -> dict:
    """Binary figures of "easy when ease >= 0.5" (accuracy, precision and recall of easy, F1, ROC AUC with 95%
    bootstrap intervals), the log loss, and the precision of easy in the top 20% by ease."""
    labels = np.asarray(labels, dtype=np.int64)
    ease = np.clip(np.asarray(ease, dtype=np.float64), 1e-6, 1 - 1e-6)
    probabilities = np.stack([1 - ease, ease], axis=1)
    metrics = classification_metrics(
        labels, probabilities, class_names=BINARY_CLASS_NAMES, bootstrap_samples=bootstrap, seed=seed
    ).to_dict()
    log_loss = -float(np.mean(labels * np.log(ease) + (1 - labels) * np.log(1 - ease))) if len(labels) else None
    return {**metrics, "log_loss": log_loss, "precision_easy_top_20": precision_at_top(labels, ease)}


def cross_validated_ease(
    vectors: np.ndarray,
    labels: Sequence[int],
    groups: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 13,
    evidences: Sequence[ImageEvidence] | None = None,
) -> np.ndarray:
    """Out-of-fold ease of every image under the crisis learner's recipe (head_fit with its C search), folds
    grouped so no group is on both sides: each image is scored by a head that never saw its group."""
    labels = np.asarray(labels, dtype=np.int64)
    ease = np.zeros(len(labels))
    for train, test in grouped_folds(labels, groups, folds=folds, seed=seed):
        head = head_fit(
            vectors[train],
            labels[train],
            groups=[groups[i] for i in train],
            kind=HeadKind.CRISIS,
            backbone="",
            views=0,
            evidences=[evidences[i] for i in train] if evidences is not None else None,
            seed=seed,
        )
        chosen = [evidences[i] for i in test] if evidences is not None else None
        ease[test] = [estimate.ease for estimate in head.estimate(vectors[test], chosen)]
    return ease
