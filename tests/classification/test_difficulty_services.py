"""The difficulty classifier in the pipeline: model versions, batched scoring, training from consensus labels."""

import warnings

import pytest
import torch
from django.core.files.base import ContentFile

from classification import services
from classification.difficulty.backbones import WeightsUnavailableError
from classification.difficulty.testing import TINY_BACKBONE, TINY_IMAGE_SIZE, images_generate
from classification.difficulty_selectors import held_back
from classification.models import DifficultyPrediction, ModelVersion
from consensus.models import RatingConsensus
from crawling.models import Media, Post
from tasks_app.models import CrowdTask
from tests.conftest import make_crisis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    torch.set_num_threads(1)
    settings.DIFFICULTY_MODEL_DIR = tmp_path / "models"
    settings.DIFFICULTY_BACKBONE = TINY_BACKBONE
    settings.DIFFICULTY_IMAGE_SIZE = TINY_IMAGE_SIZE
    settings.DIFFICULTY_BATCH_SIZE = 8
    settings.DIFFICULTY_DEVICE = "cpu"
    services._classifiers.clear()


def images_at_stage(crisis, tmp_path, count: int, stage=Media.Stage.TEXT_GEOLOCATED) -> list[Media]:
    rows = images_generate(tmp_path / "generated", count=count)
    images = []
    for index, row in enumerate(rows):
        source_id = f"{tmp_path.name}-{index}"
        post = Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id=source_id, text="Flood")
        media = Media.objects.create(crisis=crisis, post=post, stage=stage)
        with open(row.path, "rb") as handle:
            media.image.save(f"m{index}.png", ContentFile(handle.read()))
        images.append(media)
    return images


def train_tiny(crisis, tmp_path, *, random_init=True) -> ModelVersion:
    images = images_at_stage(crisis, tmp_path, 20, stage=Media.Stage.PUBLISHED)
    for index, media in enumerate(images):
        label = "easy" if index % 2 else "difficult"
        RatingConsensus.objects.create(
            media=media, crisis=crisis, label=label, posterior=0.9, probabilities={}, n_ratings=5
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return services.difficulty_train(
            crisis_id=crisis.pk,
            random_init=random_init,
            hub=False,
            head_epochs=1,
            finetune_epochs=1,
            batch_size=8,
            progress=False,
        )


class TestTrainingFromConsensus:
    def test_training_records_an_inactive_version_with_its_figures(self, tmp_path):
        crisis = make_crisis()
        version = train_tiny(crisis, tmp_path)
        assert not version.is_active and version.is_random_init
        # Held-back images judge promotions: no version trains on them.
        trained = RatingConsensus.objects.filter(crisis=crisis).exclude(
            media_id__in=[m for m in Media.objects.values_list("pk", flat=True) if held_back(media_id=m)]
        )
        assert version.label_counts == {
            "difficult": trained.filter(label="difficult").count(),
            "easy": trained.filter(label="easy").count(),
        }
        assert set(version.metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix"}
        assert len(version.data_hash) == 64 and version.curves.name.endswith(".png")
        assert version.consensus_labels == 20

    def test_missing_weights_stop_training_with_the_clear_message(self, tmp_path):
        crisis = make_crisis()
        with pytest.raises(WeightsUnavailableError, match="--random-init"):
            train_tiny(crisis, tmp_path, random_init=False)
        assert not ModelVersion.objects.exists()


class TestScoring:
    def test_without_a_model_images_move_on_unscored_and_reach_the_crowd(
        self, tmp_path, django_capture_on_commit_callbacks
    ):
        crisis = make_crisis()
        images = images_at_stage(crisis, tmp_path, 3)
        with django_capture_on_commit_callbacks(execute=True):  # the next step, QUEUED, is sent on commit
            assert services.media_score_difficulty(media_id=images[0].pk) == 3  # one call, the whole batch
        for media in images:
            media.refresh_from_db()
            assert media.stage == Media.Stage.QUEUED
            assert media.difficulty_prediction.model_version is None
        assert CrowdTask.objects.filter(media__in=images).count() == 6  # rating + geolocation each

    def test_the_active_version_scores_a_batch_once(self, tmp_path):
        crisis = make_crisis()
        version = train_tiny(crisis, tmp_path / "train")
        services.model_version_activate(version=version)
        images = images_at_stage(crisis, tmp_path / "score", 3)
        assert services.media_score_difficulty(media_id=images[1].pk) == 3
        assert services.media_score_difficulty(media_id=images[2].pk) == 0  # a late message changes nothing
        prediction = DifficultyPrediction.objects.get(media=images[0])
        assert prediction.model_version == version
        assert set(prediction.probabilities) == {"difficult", "easy"}
        assert prediction.ease == pytest.approx(prediction.probabilities["easy"])
        task = CrowdTask.objects.get(media=images[0], kind="geolocation")
        assert task.predicted_ease == pytest.approx(prediction.ease)

    def test_one_version_is_active_per_scope_and_activation_rescored_the_queue(
        self, tmp_path, django_capture_on_commit_callbacks
    ):
        crisis = make_crisis()
        first = train_tiny(crisis, tmp_path / "a")
        second = ModelVersion.objects.get(pk=first.pk)
        second.pk = None
        second.name = "copy"
        second.save()
        services.model_version_activate(version=first)
        queued = images_at_stage(crisis, tmp_path / "q", 2, stage=Media.Stage.QUEUED)
        with django_capture_on_commit_callbacks(execute=True):  # re-scoring is sent once activation commits
            assert services.model_version_activate(version=second) == 2
        assert list(ModelVersion.objects.filter(is_active=True)) == [second]
        assert DifficultyPrediction.objects.filter(media__in=queued, model_version=second).count() == 2
