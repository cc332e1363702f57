"""The relevance filter's image classifier: labels from coordinators and the crowd, training, serving after rules."""

import csv
import io
import re
import warnings

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from classification import services
from classification.difficulty.testing import TINY_BACKBONE, TINY_IMAGE_SIZE, images_generate, tiny_backbone
from classification.difficulty.training import checkpoint_save
from classification.errors import TooFewRelevanceLabels
from classification.models import MediaRelevance, ModelVersion, RelevanceLabel, RelevanceThreshold
from classification.relevance.classifier import RELEVANCE_CLASS_MAPPING, RELEVANCE_CLASS_NAMES, RelevanceClassifier
from classification.selectors import media_relevance_probabilities, model_version_active, relevance_verdicts
from consensus.models import RatingConsensus
from crawling import pipeline
from crawling.models import Media, Post
from tests.classification.test_relevance_rules import photo
from tests.classification.test_services import make_media
from tests.conftest import make_crisis

pytestmark = pytest.mark.django_db

RELEVANCE = ModelVersion.Purpose.RELEVANCE


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings.DIFFICULTY_MODEL_DIR = tmp_path / "models"
    settings.RELEVANCE_BACKBONE = TINY_BACKBONE
    settings.RELEVANCE_IMAGE_SIZE = TINY_IMAGE_SIZE
    settings.RELEVANCE_DEVICE = "cpu"
    settings.RELEVANCE_TORCH_THREADS = 1
    settings.RELEVANCE_DROP_THRESHOLD = 0.9
    settings.RELEVANCE_MIN_LABELS = 12
    settings.RELEVANCE_MIN_LABELS_PER_CLASS = 4
    services._classifiers.clear()
    yield
    services._classifiers.clear()
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def recorded_steps(monkeypatch):
    sent = []
    monkeypatch.setattr(pipeline, "send_step", lambda *, stage, media_id: sent.append((stage, media_id)) or True)
    return sent


@pytest.fixture
def post(db):
    crisis = make_crisis()
    return Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id="p", text="Rua alagada em Canoas")


def labelled_images(crisis, tmp_path, count: int) -> list[tuple[Media, bool]]:
    """Generated images past the filter, with whether each should count as relevant (class 1 is "not relevant")."""
    images = []
    for index, row in enumerate(images_generate(tmp_path / "generated", count=count)):
        post = Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id=f"l{index}", text="Flood")
        media = Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.PUBLISHED)
        with open(row.path, "rb") as handle:
            media.image.save(f"l{index}.png", ContentFile(handle.read()))
        images.append((media, row.label == 0))
    return images


def label_by_coordinators_and_crowd(images: list[tuple[Media, bool]]) -> None:
    """Half the verdicts from coordinators (restore / confirm), half from the crowd's rating consensus."""
    for index, (media, relevant) in enumerate(images):
        if index < len(images) // 2:
            source = RelevanceLabel.Source.RESTORE if relevant else RelevanceLabel.Source.CONFIRM
            RelevanceLabel.objects.create(media=media, relevant=relevant, source=source)
        else:
            RatingConsensus.objects.create(
                media=media,
                crisis=media.crisis,
                label="easy" if relevant else "not_relevant",
                posterior=0.9,
                probabilities={},
                n_ratings=3,
            )


def train_tiny(*, crisis_id=None) -> ModelVersion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the random-init warning: expected here
        return services.relevance_train(
            crisis_id=crisis_id,
            random_init=True,
            hub=False,
            head_epochs=1,
            finetune_epochs=1,
            batch_size=8,
            progress=False,
        )


def relevance_version(tmp_path, *, not_relevant_logit: float, name: str = "fixed", activate: bool = True):
    """A relevance checkpoint whose answer is known: a zeroed head with biases (0, logit) gives every image
    p(not relevant) = sigmoid(logit), whatever the backbone's random features."""
    model, info = tiny_backbone(num_classes=2)
    head = model.get_classifier()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, not_relevant_logit]))
    path = checkpoint_save(tmp_path / f"{name}.pt", model=model, info=info, class_names=RELEVANCE_CLASS_NAMES)
    version = ModelVersion.objects.create(
        name=name,
        purpose=RELEVANCE,
        backbone=info.name,
        image_size=info.image_size,
        weights_origin=info.weights,
        class_mapping=RELEVANCE_CLASS_MAPPING,
        class_names=list(RELEVANCE_CLASS_NAMES),
        data_hash="0" * 64,
        checkpoint=str(path),
    )
    if activate:
        services.model_version_activate(version=version)
    return version


def sigmoid(logit: float) -> float:
    return float(torch.sigmoid(torch.tensor(logit)))


class TestCrowdLabels:
    def test_not_relevant_consensus_becomes_a_not_relevant_label_and_other_ratings_relevant_ones(self, post):
        meme, flood = make_media(post, stage=Media.Stage.PUBLISHED), make_media(post, position=1)
        for media, label in ((meme, "not_relevant"), (flood, "difficult")):
            RatingConsensus.objects.create(
                media=media, crisis=post.crisis, label=label, posterior=0.8, probabilities={}, n_ratings=3
            )
        assert services.relevance_crowd_labels_sync() == 2
        assert services.relevance_crowd_labels_sync() == 0  # one row per image: a second sync changes nothing
        labels = {label.media_id: label for label in RelevanceLabel.objects.all()}
        assert (labels[meme.pk].relevant, labels[meme.pk].source) == (False, RelevanceLabel.Source.CROWD)
        assert (labels[flood.pk].relevant, labels[flood.pk].source) == (True, RelevanceLabel.Source.CROWD)

    def test_the_label_follows_the_consensus_when_it_changes(self, post):
        media = make_media(post, stage=Media.Stage.PUBLISHED)
        consensus = RatingConsensus.objects.create(
            media=media, crisis=post.crisis, label="not_relevant", posterior=0.6, probabilities={}, n_ratings=2
        )
        services.relevance_crowd_labels_sync(crisis_id=post.crisis_id)
        consensus.label = "easy"
        consensus.save()
        assert services.relevance_crowd_labels_sync(crisis_id=post.crisis_id) == 1
        assert list(RelevanceLabel.objects.values_list("relevant", flat=True)) == [True]

    def test_the_hourly_check_brings_crowd_labels_up_to_date_without_training(self, post):
        media = make_media(post, stage=Media.Stage.PUBLISHED)
        RatingConsensus.objects.create(
            media=media, crisis=post.crisis, label="not_relevant", posterior=0.9, probabilities={}, n_ratings=3
        )
        assert services.relevance_retrain_due() == 0  # RELEVANCE_RETRAIN_MIN_NEW_LABELS is 0: never automatic
        assert RelevanceLabel.objects.get(media=media).relevant is False
        assert not ModelVersion.objects.exists()

    def test_a_coordinator_label_wins_over_the_crowds(self, post):
        media = make_media(post, stage=Media.Stage.PUBLISHED)
        RelevanceLabel.objects.create(media=media, relevant=True, source=RelevanceLabel.Source.RESTORE)
        RelevanceLabel.objects.create(media=media, relevant=False, source=RelevanceLabel.Source.CROWD)
        (verdict,) = relevance_verdicts()
        assert (verdict.relevant, verdict.source) == (True, RelevanceLabel.Source.RESTORE)


class TestTraining:
    def test_training_refuses_with_too_few_labels_and_says_which_setting(self, tmp_path):
        crisis = make_crisis()
        label_by_coordinators_and_crowd(labelled_images(crisis, tmp_path, 8))
        with pytest.raises(TooFewRelevanceLabels, match="RELEVANCE_MIN_LABELS"):
            train_tiny()
        with pytest.raises(CommandError, match=r"8 labelled images.*at least 12"):
            call_command("train_relevance", "--random-init", "--no-hub", "--epochs", "1")
        assert not ModelVersion.objects.exists()

    def test_training_refuses_when_one_class_is_too_small(self, tmp_path, settings):
        settings.RELEVANCE_MIN_LABELS = 8
        crisis = make_crisis()
        images = labelled_images(crisis, tmp_path, 14)
        for media, relevant in images:
            if relevant or media.pk == images[1][0].pk:  # every relevant image, one irrelevant image
                RelevanceLabel.objects.create(media=media, relevant=relevant, source=RelevanceLabel.Source.RESTORE)
        with pytest.raises(TooFewRelevanceLabels, match=r"8 labelled images \(\{'relevant': 7, 'not_relevant': 1\}\)"):
            train_tiny()
        assert not ModelVersion.objects.exists()

    def test_training_from_labels_produces_a_relevance_version_that_can_be_activated(self, tmp_path):
        crisis = make_crisis()
        label_by_coordinators_and_crowd(labelled_images(crisis, tmp_path, 20))
        stdout, stderr = io.StringIO(), io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            call_command(
                "train_relevance", "--random-init", "--no-hub", "--epochs", "1", "--batch-size", "8", "--activate",
                stdout=stdout, stderr=stderr,
            )  # fmt: skip
        version = ModelVersion.objects.get()
        assert version.purpose == RELEVANCE and version.is_active
        assert version.is_random_init and "RANDOM weights" in stderr.getvalue()
        assert version.backbone == TINY_BACKBONE and version.class_names == ["relevant", "not_relevant"]
        assert version.label_counts == {"relevant": 10, "not_relevant": 10}
        assert version.consensus_labels == 20 and len(version.data_hash) == 64
        assert set(version.metrics) >= {"precision", "recall", "confusion_matrix"}
        assert RelevanceLabel.objects.filter(source=RelevanceLabel.Source.CROWD).count() == 10  # synced first
        assert model_version_active(crisis_id=crisis.pk, purpose=RELEVANCE) == version

    def test_activating_a_relevance_version_leaves_the_active_difficulty_version_alone(self, tmp_path):
        difficulty = relevance_version(tmp_path, not_relevant_logit=0.0, name="difficulty", activate=False)
        ModelVersion.objects.filter(pk=difficulty.pk).update(purpose=ModelVersion.Purpose.DIFFICULTY)
        services.model_version_activate(version=ModelVersion.objects.get(pk=difficulty.pk))
        relevance = relevance_version(tmp_path, not_relevant_logit=0.0, name="relevance")
        assert set(ModelVersion.objects.filter(is_active=True)) == {
            ModelVersion.objects.get(pk=difficulty.pk),
            relevance,
        }
        assert model_version_active(crisis_id=None).pk == difficulty.pk  # the default purpose stays difficulty


class TestServing:
    def test_without_an_active_model_the_rules_alone_decide(self, post, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=9.0, activate=False)  # trained, never activated
        kept, banner = make_media(post), make_media(post, position=1, size=(1500, 250))
        services.media_filter_relevance(media_id=kept.pk)
        services.media_filter_relevance(media_id=banner.pk)
        decisions = {row.media_id: row for row in MediaRelevance.objects.all()}
        assert not decisions[kept.pk].dropped and decisions[kept.pk].model_version is None
        assert "rules_score" not in decisions[kept.pk].details
        assert decisions[banner.pk].rule == "banner"
        assert not services._classifiers  # no model was even loaded

    def test_an_image_the_model_is_sure_about_is_held_back_with_rule_score_and_version(self, post, tmp_path):
        version = relevance_version(tmp_path, not_relevant_logit=4.0)  # p = 0.982
        media = make_media(post)
        assert services.media_filter_relevance(media_id=media.pk)
        media.refresh_from_db()
        # Never dropped for good on the model's word: held back for a coordinator's review.
        assert media.stage == Media.Stage.PROBABLY_IRRELEVANT
        assert media.reject_reason == "probably irrelevant: classifier"
        decision = MediaRelevance.objects.get(media=media)
        assert decision.dropped and decision.rule == "classifier" and decision.model_version == version
        assert decision.score == pytest.approx(sigmoid(4.0), abs=1e-3)

    def test_a_held_back_image_was_looked_at_again_through_its_crops(self, post, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=4.0)  # every view scores 0.982
        media = make_media(post, size=(400, 300))  # landscape: left, centre and right squares
        services.media_filter_relevance(media_id=media.pk)
        decision = MediaRelevance.objects.get(media=media)
        assert decision.dropped and decision.details["view_scores"] == [pytest.approx(sigmoid(4.0), abs=1e-3)] * 3

    def test_an_image_under_the_threshold_is_kept_with_its_score(
        self, post, tmp_path, recorded_steps, django_capture_on_commit_callbacks
    ):
        version = relevance_version(tmp_path, not_relevant_logit=1.0)  # p = 0.731 < 0.9
        media = make_media(post)
        with django_capture_on_commit_callbacks(execute=True):  # the next step is sent once the move commits
            services.media_filter_relevance(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.RELEVANT
        decision = MediaRelevance.objects.get(media=media)
        assert not decision.dropped and decision.rule == "" and decision.model_version == version
        assert decision.score == pytest.approx(sigmoid(1.0), abs=1e-3)
        assert "view_scores" not in decision.details  # no second look below the threshold
        assert recorded_steps == [(Media.Stage.RELEVANT, media.pk)]
        # The scheduler's relevance term for the image's crowd tasks is p(relevant).
        assert media_relevance_probabilities(media_ids=[media.pk]) == {media.pk: pytest.approx(1 - decision.score)}

    def test_the_rules_still_decide_first_and_the_model_does_not_score_what_they_drop(self, post, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=-9.0)
        banner = make_media(post, size=(1500, 250))
        services.media_filter_relevance(media_id=banner.pk)
        decision = MediaRelevance.objects.get(media=banner)
        assert decision.rule == "banner" and decision.model_version is None

    def test_a_new_active_version_is_loaded_for_the_next_image(self, post, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=4.0, name="sure")
        first = make_media(post)
        services.media_filter_relevance(media_id=first.pk)
        unsure = relevance_version(tmp_path, not_relevant_logit=-4.0, name="unsure")
        second = make_media(post, position=1)
        services.media_filter_relevance(media_id=second.pk)
        assert Media.objects.get(pk=first.pk).stage == Media.Stage.PROBABLY_IRRELEVANT
        assert Media.objects.get(pk=second.pk).stage == Media.Stage.RELEVANT
        assert MediaRelevance.objects.get(media=second).model_version == unsure

    def test_a_broken_model_degrades_to_the_rules_and_says_so(self, post, tmp_path):
        version = relevance_version(tmp_path, not_relevant_logit=4.0)
        (tmp_path / "fixed.pt").unlink()
        media = make_media(post)
        services.media_filter_relevance(media_id=media.pk)
        decision = MediaRelevance.objects.get(media=media)
        assert not decision.dropped and decision.model_version is None
        assert "FileNotFoundError" in decision.details["classifier_error"]
        assert ModelVersion.objects.get(pk=version.pk).is_active  # still active: someone must fix or replace it

    def test_a_restore_after_a_classifier_drop_becomes_a_relevant_training_label(self, post, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=4.0)
        media = make_media(post)
        services.media_filter_relevance(media_id=media.pk)
        assert services.media_restore_relevance(media_id=media.pk)
        label = RelevanceLabel.objects.get(media=media)
        assert (label.relevant, label.source, label.rule) == (True, RelevanceLabel.Source.RESTORE, "classifier")
        (example,) = services.relevance_examples(crisis_id=post.crisis_id)
        assert example.relevant and example.path == media.image.path
        assert media_relevance_probabilities(media_ids=[media.pk]) == {}  # the overruled score is not used


class TestHoldBackThreshold:
    def labelled(self, post, version, scores: list[tuple[float, bool]], *, first_position: int = 0) -> None:
        for n, (score, relevant) in enumerate(scores, start=first_position):
            media = make_media(post, position=n, stage=Media.Stage.RELEVANT)
            MediaRelevance.objects.create(media=media, dropped=False, score=score, model_version=version)
            RelevanceLabel.objects.create(media=media, relevant=relevant, source=RelevanceLabel.Source.CROWD)

    def test_the_crisis_threshold_holds_back_at_most_the_target_share_of_its_relevant_images(
        self, post, tmp_path, settings
    ):
        settings.RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS = 10
        settings.RELEVANCE_HELD_BACK_TARGET = 0.1
        version = relevance_version(tmp_path, not_relevant_logit=4.0)
        relevant = [(0.05 * n, True) for n in range(1, 21)]  # 0.05 .. 1.0
        irrelevant = [(0.99, False), (0.97, False), (0.6, False), (0.2, False)]
        self.labelled(post, version, relevant + irrelevant)
        row = services.relevance_threshold_update(crisis_id=post.crisis_id)
        # 10% of the next relevant images with 20 labelled: (k + 1) / 21 <= 0.1, so only the highest (1.0) of the
        # labelled ones may be held back, not the second (0.95): two of 20 would promise 3 / 21 = 14%.
        assert row.source == RelevanceThreshold.Source.LABELS and row.threshold == pytest.approx(0.95, abs=1e-4)
        assert row.relevant_held_back == pytest.approx(0.05) and row.irrelevant_caught == pytest.approx(0.5)
        assert row.relevant_labels == 20 and row.irrelevant_labels == 4

    def test_with_too_few_labels_the_default_threshold_stands_with_its_measured_rates(self, post, tmp_path, settings):
        settings.RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS = 30
        version = relevance_version(tmp_path, not_relevant_logit=4.0)
        self.labelled(post, version, [(0.95, True), (0.1, True), (0.99, False)])
        row = services.relevance_threshold_update(crisis_id=post.crisis_id)
        assert row.source == RelevanceThreshold.Source.DEFAULT and row.threshold == settings.RELEVANCE_DROP_THRESHOLD
        assert row.relevant_held_back == pytest.approx(0.5) and row.irrelevant_caught == 1.0

    def test_labels_too_few_to_promise_the_target_leave_the_default(self, post, tmp_path, settings):
        settings.RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS = 10
        settings.RELEVANCE_HELD_BACK_TARGET = 0.03
        version = relevance_version(tmp_path, not_relevant_logit=4.0)
        # 32 relevant labels: even a threshold above all of them leaves 1 / 33 > 3% for the next relevant image.
        self.labelled(post, version, [(0.01 * n, True) for n in range(1, 33)])
        row = services.relevance_threshold_update(crisis_id=post.crisis_id)
        assert row.source == RelevanceThreshold.Source.DEFAULT and row.threshold == settings.RELEVANCE_DROP_THRESHOLD
        self.labelled(
            post, version, [(0.5, True)], first_position=32
        )  # the 33rd: 1 / 34 <= 3%, the threshold sits above them all
        row = services.relevance_threshold_update(crisis_id=post.crisis_id)
        assert row.source == RelevanceThreshold.Source.LABELS and row.threshold == pytest.approx(0.5, abs=1e-4)

    def test_the_filter_uses_the_crisis_threshold(self, post, tmp_path):
        version = relevance_version(tmp_path, not_relevant_logit=1.0)  # p = 0.731, under the default 0.9
        RelevanceThreshold.objects.create(crisis=post.crisis, model_version=version, threshold=0.7)
        media = make_media(post)
        services.media_filter_relevance(media_id=media.pk)
        assert Media.objects.get(pk=media.pk).stage == Media.Stage.PROBABLY_IRRELEVANT

    def test_a_restore_from_held_back_is_a_label_and_sets_the_threshold_again(self, post, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=4.0)
        media = make_media(post)
        services.media_filter_relevance(media_id=media.pk)
        assert services.media_restore_relevance(media_id=media.pk)
        assert Media.objects.get(pk=media.pk).stage == Media.Stage.RELEVANT
        assert RelevanceLabel.objects.get(media=media).source == RelevanceLabel.Source.RESTORE
        assert RelevanceThreshold.objects.get(crisis=post.crisis).relevant_labels == 1
        assert not services.media_restore_relevance(media_id=media.pk)  # a second click changes nothing


class TestAdmin:
    def test_coordinators_see_the_purpose_and_activate_a_relevance_version(self, client, people, tmp_path):
        version = relevance_version(tmp_path, not_relevant_logit=0.0, activate=False)
        people["coordinator"].is_staff = True
        people["coordinator"].save()
        client.force_login(people["coordinator"])
        url = reverse("admin:classification_modelversion_changelist")
        assert "Relevance (filters images before the crowd)" in client.get(url).content.decode()
        response = client.post(url, {"action": "activate", "_selected_action": [version.pk]}, follow=True)
        assert "judges the images that reach the relevance filter" in response.content.decode()
        assert model_version_active(crisis_id=None, purpose=RELEVANCE) == version

    def test_training_from_the_filtered_images_page_is_refused_with_too_few_labels(self, client, people):
        post = Post.objects.create(crisis=people["crisis"], source=Post.Source.CSV, source_id="1", text="meme")
        filtered = Media.objects.create(crisis=people["crisis"], post=post, stage=Media.Stage.IRRELEVANT)
        people["coordinator"].is_staff = True
        people["coordinator"].save()
        client.force_login(people["coordinator"])
        url = reverse("admin:classification_filteredmedia_changelist")
        response = client.post(url, {"action": "train_relevance_model", "_selected_action": [filtered.pk]}, follow=True)
        assert "Too few relevance labels" in response.content.decode()
        assert not ModelVersion.objects.exists()


class TestEvalRelevance:
    @staticmethod
    def folder(tmp_path, count: int = 24):
        """Noise photos the rules keep (120 px), half of them "not_disaster", plus one banner."""
        rows = images_generate(tmp_path / "data", count=count, size=120)
        photo(size=(900, 150)).save(tmp_path / "data" / "banner.png")
        with (tmp_path / "data" / "labels.csv").open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["file", "disaster_types"])
            for row in rows:
                writer.writerow([f"{row.path.rsplit('/', 1)[1]}", "not_disaster" if row.label else "flood"])
            writer.writerow(["banner.png", "not_disaster"])
        return tmp_path / "data"

    def test_leave_one_event_out_tests_each_event_on_a_model_trained_without_it(self, tmp_path):
        data = self.folder(tmp_path, count=24)
        with (data / "labels.csv").open() as source:
            rows = list(csv.DictReader(source))
        with (data / "labels.csv").open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=["file", "disaster_types", "event_or_folder"])
            writer.writeheader()
            for n, row in enumerate(rows):
                writer.writerow({**row, "event_or_folder": "storm_a" if n % 2 else "storm_b"})
        stdout = io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            call_command(
                "eval_relevance", str(data), "--leave-one-event-out", "--backbone", TINY_BACKBONE, "--no-hub",
                "--random-init", "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--bootstrap", "20",
                "--no-progress", "--scores-out", str(tmp_path / "scores.csv"), stdout=stdout,
            )  # fmt: skip
        printed = stdout.getvalue()
        assert re.search(r"storm_a +images +12 +crisis threshold: relevant held back", printed)
        assert re.search(r"storm_b +images +13 ", printed) and re.search(r"ALL +images +25 ", printed)
        assert "irrelevant caught" in printed and "whole image only" in printed and "rules only" in printed
        # The saved scores are judged again without training, to the same figures.
        again = io.StringIO()
        call_command("eval_relevance", str(data), "--leave-one-event-out", "--scores-in", str(tmp_path / "scores.csv"),
                     stdout=again)  # fmt: skip
        assert re.findall(r"ALL .*", again.getvalue()) == re.findall(r"ALL .*", printed)

    def test_rules_and_a_given_classifier_are_reported_side_by_side(self, tmp_path):
        relevance_version(tmp_path, not_relevant_logit=4.0, activate=False)  # drops everything the rules keep
        stdout = io.StringIO()
        call_command("eval_relevance", str(self.folder(tmp_path)), "--checkpoint", str(tmp_path / "fixed.pt"),
                     stdout=stdout)  # fmt: skip
        printed = stdout.getvalue()
        assert "images 25  to drop 13  to keep 12" in printed
        assert re.search(r"dropped correctly +1 +13\n", printed)  # rules only, then rules + classifier
        assert re.search(r"dropped wrongly +0 +12\n", printed)
        assert re.search(r"drop recall +0\.077 +1\.000\n", printed)
        assert re.search(r"images/s +\d+\.\d +\d+\.\d\n", printed) and "p >= 0.50" in printed

    def test_train_evaluates_on_the_held_out_part_only(self, tmp_path):
        stdout = io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            call_command(
                "eval_relevance", str(self.folder(tmp_path, count=40)), "--train", "--backbone", TINY_BACKBONE,
                "--no-hub", "--random-init", "--image-size", "32", "--epochs", "1", "--batch-size", "8",
                "--bootstrap", "20", "--no-progress", "--out", str(tmp_path / "out"), stdout=stdout,
            )  # fmt: skip
        printed = stdout.getvalue()
        held_out = int(printed.split("'test': ")[1].split("}")[0])
        assert 8 <= held_out <= 16  # about 30% of 41 images, whole groups
        assert f"images {held_out} " in printed and "held-out 30%" in printed
        assert "rules + classifier (p >= 0.90)" in printed
        assert (tmp_path / "out" / "model.pt").is_file()


class RedShareClassifier(RelevanceClassifier):
    """A stand-in model whose p(not relevant) is the share of pure red pixels in what it is shown: the second look's
    agreement rule on views of known scores."""

    def __init__(self):
        self.shown = []

    def not_relevant_probabilities(self, images, *, batch_size=16, device="cpu"):
        self.shown += [image.size for image in images]
        return [float(np.mean(np.all(np.asarray(image.convert("RGB")) == (255, 0, 0), axis=2))) for image in images]


def half_red(size=(300, 100), red_width=200) -> Image.Image:
    image = Image.new("RGB", size, (0, 160, 0))
    image.paste((255, 0, 0), (0, 0, red_width, size[1]))
    return image


class TestSecondLook:
    def test_an_image_is_held_back_only_if_every_view_of_it_agrees(self):
        model = RedShareClassifier()
        # Whole 0.67 reaches 0.6; of the three squares the right one is green: it keeps the image.
        agreed, whole, views = model.agreed_not_relevant_probability(half_red(), threshold=0.6)
        assert whole == pytest.approx(2 / 3) and views == [1.0, 1.0, 0.0] and agreed == 0.0
        agreed, _, views = model.agreed_not_relevant_probability(half_red(red_width=300), threshold=0.6)
        assert views == [1.0, 1.0, 1.0] and agreed == 1.0

    def test_below_the_threshold_nothing_more_is_scored(self):
        model = RedShareClassifier()
        assert model.agreed_not_relevant_probability(half_red(), threshold=0.7) == (pytest.approx(2 / 3),) * 2 + ([],)
        assert model.shown == [(300, 100)]

    def test_a_square_image_is_its_own_only_view(self):
        model = RedShareClassifier()
        assert model.agreed_not_relevant_probability(half_red((100, 100), 100), threshold=0.5) == (1.0, 1.0, [])
        assert model.shown == [(100, 100)]
