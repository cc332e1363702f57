"""Difficulty classifier inference: batched forward passes, idempotent scores, scoring from a checkpoint."""

import json

import pytest
import torch

from classification.difficulty.inference import DifficultyClassifier, images_score
from classification.difficulty.testing import images_generate, tiny_backbone
from classification.difficulty.training import checkpoint_save

NAMES = ("difficult", "easy")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def paths(tmp_path):
    return [row.path for row in images_generate(tmp_path, count=10, size=36)]


class TestImagesScore:
    def test_images_are_scored_in_batches_of_the_batch_size(self, paths):
        model, info = tiny_backbone()
        batch_sizes = []
        model.register_forward_hook(lambda module, inputs, output: batch_sizes.append(inputs[0].shape[0]))
        result = images_score(model, paths, info=info, class_names=NAMES, batch_size=4)
        assert batch_sizes == [4, 4, 2]
        assert result.batches == 3 and len(result.scores) == 10
        assert [score.path for score in result.scores] == paths

    def test_scoring_twice_gives_the_same_probabilities_and_restores_the_model_mode(self, paths):
        model, info = tiny_backbone()
        model.train()
        first = images_score(model, paths, info=info, class_names=NAMES, batch_size=3)
        second = images_score(model, paths, info=info, class_names=NAMES, batch_size=3)
        assert first.to_dict() == second.to_dict()
        assert model.training
        assert first.probabilities().shape == (10, 2)
        assert all(abs(sum(score.probabilities) - 1) < 1e-5 for score in first.scores)
        assert all(score.label == NAMES[max(range(2), key=score.probabilities.__getitem__)] for score in first.scores)

    def test_the_batch_size_does_not_change_the_scores(self, paths):
        model, info = tiny_backbone()
        one = images_score(model, paths, info=info, class_names=NAMES, batch_size=1).probabilities()
        many = images_score(model, paths, info=info, class_names=NAMES, batch_size=10).probabilities()
        assert one == pytest.approx(many, abs=1e-5)

    def test_a_batch_size_below_one_is_refused(self, paths):
        model, info = tiny_backbone()
        with pytest.raises(ValueError, match="batch_size"):
            images_score(model, paths, info=info, class_names=NAMES, batch_size=0)


class TestDifficultyClassifier:
    def test_a_checkpoint_scores_like_the_model_it_was_saved_from(self, paths, tmp_path):
        model, info = tiny_backbone()
        path = checkpoint_save(tmp_path / "model.pt", model=model, info=info, class_names=NAMES)
        classifier = DifficultyClassifier.from_checkpoint(path, device="cpu")
        expected = images_score(model, paths, info=info, class_names=NAMES, batch_size=5)
        scored = classifier.score(paths, batch_size=5, device="cpu")
        assert scored.to_dict() == expected.to_dict()
        assert json.loads(json.dumps(scored.to_dict()))["class_names"] == list(NAMES)
