"""The geolocatability estimators' pure parts: levels from an ease, evidence, heads, fitting and measuring,
embeddings over square crops, the CPU inference mode and scene cues. Generated images and a tiny backbone only."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from classification.difficulty.cpu_inference import (
    FP32,
    cpu_bfloat16_supported,
    cpu_inference_choose,
    probabilities_difference,
    relative_difference,
)
from classification.difficulty.embedding import TINY_EMBEDDING_BACKBONE, embedder_build, square_crops
from classification.difficulty.geolocatability import (
    COLD_START_EVIDENCE_WEIGHTS,
    EVIDENCE_FEATURES,
    LEVELS,
    GeolocatabilityHead,
    HeadKind,
    ImageEvidence,
    TextTier,
    cross_validated_ease,
    ease_metrics,
    head_fit,
    level_label,
    level_probabilities,
    precision_at_top,
)
from classification.difficulty.inference import DifficultyClassifier
from classification.difficulty.scene import SCENE_GROUPS, scene_cues, scene_shares
from classification.difficulty.testing import images_generate, tiny_backbone
from classification.difficulty.training import checkpoint_save


def separable(count: int = 120, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Embeddings whose first coordinate says the class, in groups of three."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    vectors = rng.normal(size=(count, dim))
    vectors[:, 0] += np.where(labels == 1, 2.5, -2.5)
    return vectors, labels, [f"g{i // 3}" for i in range(count)]


class TestLevels:
    @pytest.mark.parametrize("ease", [0.001, 0.1, 0.3, 0.5, 0.8, 0.999])
    def test_probabilities_sum_to_one_and_easy_is_the_ease(self, ease):
        probabilities = level_probabilities(ease)
        assert list(probabilities) == list(LEVELS)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert probabilities["easy"] == pytest.approx(ease, abs=1e-5)
        assert all(value >= 0 for value in probabilities.values())

    def test_a_lower_ease_never_gives_an_easier_label(self):
        order = {"easy": 0, "medium": 1, "difficult": 2}
        labels = [level_label(level_probabilities(ease)) for ease in np.linspace(0.999, 0.001, 60)]
        ranks = [order[label] for label in labels]
        assert ranks == sorted(ranks)
        assert {"easy", "medium", "difficult"} <= set(labels)

    def test_an_estimate_never_withholds_an_image_as_impossible(self):
        probabilities = level_probabilities(1e-6)
        assert max(probabilities, key=probabilities.get) == "impossible"
        assert level_label(probabilities) == "difficult"


class TestEvidence:
    def test_the_text_tier_and_the_flags_are_one_vector(self):
        vector = ImageEvidence(text_tier=TextTier.STREET, ocr_text=True, duplicate_located=True).vector()
        on = {name for name, value in zip(EVIDENCE_FEATURES, vector, strict=True) if value}
        assert on == {"text_street_or_landmark", "ocr_text", "duplicate_located"}
        assert not ImageEvidence().vector().any()

    def test_a_street_mention_makes_an_image_easier_than_a_country_mention(self):
        head = GeolocatabilityHead(
            kind=HeadKind.COLD_START,
            backbone="x",
            views=1,
            embedding_mean=np.zeros(2),
            embedding_scale=np.ones(2),
            embedding_coef=np.array([1.0, 0.0]),
            intercept=0.0,
            evidence_weights=COLD_START_EVIDENCE_WEIGHTS,
            regularisation_c=1.0,
        )
        vectors = np.zeros((3, 2))
        street, country, copy = head.estimate(
            vectors,
            [
                ImageEvidence(text_tier=TextTier.STREET),
                ImageEvidence(text_tier=TextTier.REGION),
                ImageEvidence(duplicate_located=True),
            ],
        )
        assert street.ease > country.ease
        assert copy.ease > 0.9
        weight = COLD_START_EVIDENCE_WEIGHTS["text_street_or_landmark"]
        assert street.contributions == {"text_street_or_landmark": weight}
        assert street.image_logit == country.image_logit == 0.0


class TestHeads:
    def test_a_fitted_head_separates_what_is_separable_and_survives_a_round_trip(self, tmp_path):
        vectors, labels, groups = separable()
        head = head_fit(vectors, labels, groups=groups, kind=HeadKind.CRISIS, backbone="b", views=3, seed=1)
        ease = np.array([e.ease for e in head.estimate(vectors)])
        assert ((ease >= 0.5) == labels).mean() > 0.95
        assert head.record["regularisation_search"]["searched"]  # 120 images in 40 groups: C was searched
        loaded = GeolocatabilityHead.load(head.save(tmp_path / "head.json"))
        assert [e.ease for e in loaded.estimate(vectors)] == pytest.approx(ease.tolist(), abs=1e-5)
        assert json.loads((tmp_path / "head.json").read_text())["kind"] == "crisis"

    def test_a_head_refuses_embeddings_of_another_size(self):
        vectors, labels, groups = separable()
        head = head_fit(vectors, labels, groups=groups, kind=HeadKind.CRISIS, backbone="b", views=3)
        with pytest.raises(ValueError, match="do not fit"):
            head.estimate(vectors[:, :5])

    def test_a_single_class_cannot_be_learned(self):
        vectors, _, groups = separable(count=20)
        with pytest.raises(ValueError, match="both easy and difficult"):
            head_fit(vectors, np.ones(20, dtype=int), groups=groups, kind=HeadKind.CRISIS, backbone="b", views=1)

    def test_evidence_weights_are_learned_with_the_image_weights(self):
        rng = np.random.default_rng(3)
        labels = np.arange(200) % 2
        vectors = rng.normal(size=(200, 8))  # the image says nothing here
        evidences = [ImageEvidence(text_tier=TextTier.STREET if y else TextTier.NONE) for y in labels]
        head = head_fit(
            vectors, labels, groups=[str(i) for i in range(200)], kind=HeadKind.CRISIS, backbone="b", views=1,
            evidences=evidences,
        )  # fmt: skip
        assert head.evidence_weights["text_street_or_landmark"] > 1.0
        assert set(head.evidence_weights) == set(EVIDENCE_FEATURES)

    def test_out_of_fold_estimates_come_from_heads_that_never_saw_the_group(self):
        vectors, labels, groups = separable(count=90)
        # Make every group's images identical: a head that had seen the group would score them perfectly even
        # with shuffled labels; out-of-fold heads cannot.
        shuffled = np.random.default_rng(0).permutation(labels)
        for start in range(0, 90, 3):
            vectors[start : start + 3] = vectors[start]
            shuffled[start : start + 3] = shuffled[start]
        ease = cross_validated_ease(vectors, shuffled, groups, folds=5, seed=2)
        assert ((ease >= 0.5) == shuffled).mean() < 0.75
        clean = cross_validated_ease(*separable(count=90), folds=5, seed=2)
        assert ((clean >= 0.5) == separable(count=90)[1]).mean() > 0.9


class TestMeasuring:
    def test_precision_at_the_top_counts_the_easy_among_the_highest_eases(self):
        labels = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
        ease = [0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.4, 0.35, 0.25, 0.15]
        assert precision_at_top(labels, ease, share=0.2) == 0.5  # the top 2: 0.9 (easy), 0.8 (difficult)
        assert precision_at_top(labels, ease, share=0.3) == pytest.approx(2 / 3)
        assert precision_at_top([], []) is None

    def test_ease_metrics_report_accuracy_with_an_interval_and_the_log_loss(self):
        metrics = ease_metrics([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.1], bootstrap=50)
        assert metrics["accuracy"]["value"] == 0.75
        assert metrics["accuracy"]["low"] <= 0.75 <= metrics["accuracy"]["high"]
        assert metrics["log_loss"] > 0 and metrics["precision_easy_top_20"] == 1.0


class TestEmbedding:
    def test_a_landscape_photo_is_seen_through_three_squares_reaching_both_edges(self):
        image = Image.new("RGB", (300, 100))
        crops = square_crops(image)
        assert [crop.size for crop in crops] == [(100, 100)] * 3
        assert square_crops(Image.new("RGB", (100, 100))) and len(square_crops(Image.new("RGB", (100, 100)))) == 1
        assert [c.size for c in square_crops(Image.new("RGB", (50, 150)))] == [(50, 50)] * 3

    def test_the_same_image_always_gets_the_same_embedding_from_a_path_or_decoded(self, tmp_path):
        embedder = embedder_build(TINY_EMBEDDING_BACKBONE, cpu_fast=False)
        path = tmp_path / "wide.png"
        rng = np.random.default_rng(1)
        Image.fromarray(rng.integers(0, 256, (60, 150, 3), dtype=np.uint8)).save(path)
        first = embedder.embed([path, Image.open(path)], batch_size=2)
        assert first.vectors.shape == (2, embedder.dim) and first.views == [3, 3]
        assert np.allclose(first.vectors[0], first.vectors[1], atol=1e-6)
        probabilities = embedder.imagenet_probabilities(first.vectors)
        assert probabilities.shape == (2, 1000) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)

    def test_only_the_packaged_lite0_or_the_test_network_embeds(self):
        with pytest.raises(ValueError, match="No embedding backbone"):
            embedder_build("resnet50", cpu_fast=False)


class TestCpuInference:
    def test_a_mode_outside_the_tolerance_is_refused_and_fp32_kept(self, tmp_path):
        model, _ = tiny_backbone()
        chosen = cpu_inference_choose(
            model, model_key="tiny", image_size=32, outputs=lambda m, x: m(x), difference=lambda a, b: 1.0,
            tolerance=0.01, cache_path=tmp_path / "modes.json",
        )  # fmt: skip
        assert (chosen.channels_last, chosen.bfloat16) == (False, False)
        assert chosen.measured["channels_last"]["reason"] == "outside the tolerance"
        assert "bf16" in chosen.measured or not cpu_bfloat16_supported()

    def test_the_choice_is_measured_once_and_read_back_from_the_cache(self, tmp_path):
        model, _ = tiny_backbone()
        cache = tmp_path / "modes.json"
        kwargs = {"model_key": "tiny", "image_size": 32, "outputs": lambda m, x: m(x), "tolerance": 0.01}
        first = cpu_inference_choose(model, difference=probabilities_difference, cache_path=cache, **kwargs)

        def never(a, b):
            raise AssertionError("measured again")

        second = cpu_inference_choose(model, difference=never, cache_path=cache, **kwargs)
        assert second.name == first.name and second.measured == first.measured
        assert first.measured["fp32"]["accepted"]

    def test_a_checkpoint_scores_within_the_tolerance_in_the_mode_chosen_for_this_cpu(self, tmp_path):
        model, info = tiny_backbone()
        checkpoint = checkpoint_save(tmp_path / "tiny.pt", model=model, info=info, class_names=("difficult", "easy"))
        paths = [row.path for row in images_generate(tmp_path / "images", count=4)]
        plain = DifficultyClassifier.from_checkpoint(checkpoint, device="cpu").score(paths, device="cpu")
        fast = DifficultyClassifier.from_checkpoint(
            checkpoint, device="cpu", cpu_fast=True, tolerance=0.01, cache_path=tmp_path / "modes.json"
        )
        assert json.loads((tmp_path / "modes.json").read_text())  # the choice was measured and cached
        scored = fast.score(paths, device="cpu")
        assert np.abs(scored.probabilities() - plain.probabilities()).max() <= 0.01

    def test_fp32_runs_without_autocast_and_keeps_the_layout(self):
        batch = torch.zeros(1, 3, 8, 8)
        assert FP32.prepare_input(batch).is_contiguous()
        assert relative_difference(torch.ones(2, 4), torch.ones(2, 4)) == 0.0


class TestScene:
    def test_every_imagenet_class_is_in_at_most_one_cue(self):
        seen = [index for _, indices in SCENE_GROUPS.values() for index in indices]
        assert len(seen) == len(set(seen)) and all(0 <= index < 1000 for index in seen)

    def test_the_strongest_cues_come_first_and_weak_ones_are_left_out(self):
        probabilities = np.zeros((1, 1000))
        probabilities[0, 919] = 0.6  # street sign
        probabilities[0, 980] = 0.3  # volcano: a smoke plume
        probabilities[0, 1] = 0.01
        cues = scene_cues(scene_shares(probabilities)[0])
        assert [(c["cue"], c["makes"]) for c in cues] == [("street_sign", "easier"), ("smoke_plume", "harder")]
