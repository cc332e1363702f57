"""Difficulty classifier training: loss falls, 32 images are memorised, the two stages freeze what they should."""

import pytest
import timm
import torch

from classification.difficulty.data import LabelledImageDataset, transforms_build
from classification.difficulty.testing import TINY_IMAGE_SIZE, images_generate, tiny_backbone
from classification.difficulty.training import (
    FINETUNE_STAGE,
    HEAD_STAGE,
    TrainConfig,
    TrainResult,
    backbone_freeze,
    checkpoint_load,
    checkpoint_save,
    epoch_run,
    is_batch_norm,
    layers_unfreeze,
    parameterised_modules,
    train_two_stage,
    training_curves_plot,
    unfreeze_layers_default,
)


@pytest.fixture(autouse=True)
def _one_thread():
    # Two shared cores: one thread each keeps the suite fast and the numbers reproducible.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def plain_dataset(rows, info) -> LabelledImageDataset:
    transform = transforms_build(image_size=info.image_size, mean=info.mean, std=info.std, augment=False)
    return LabelledImageDataset(rows, transform, cache_size=info.image_size)


def quick_config(**overrides) -> TrainConfig:
    defaults = {"head_epochs": 2, "finetune_epochs": 4, "batch_size": 8, "patience": 0, "progress": False}
    return TrainConfig(**{**defaults, **overrides})


class TestTwoStageTraining:
    def test_the_training_loss_falls(self, tmp_path):
        model, info = tiny_backbone()
        dataset = plain_dataset(images_generate(tmp_path, count=32), info)
        result = train_two_stage(model, dataset, dataset, config=quick_config(finetune_lr=3e-3))
        losses = [epoch.train_loss for epoch in result.history]
        assert len(losses) == 6
        assert losses[-1] < 0.5 * losses[0]
        assert [epoch.stage for epoch in result.history] == [HEAD_STAGE] * 2 + [FINETUNE_STAGE] * 4
        assert result.unfreeze_epoch == 3

    def test_the_model_can_memorise_32_images_with_random_labels(self, tmp_path):
        model, info = tiny_backbone()
        dataset = plain_dataset(images_generate(tmp_path, count=32, learnable=False), info)
        assert 8 <= sum(row.label for row in dataset.rows) <= 24
        config = quick_config(head_epochs=1, finetune_epochs=8, finetune_lr=1e-2, unfreeze_layers=10_000)
        train_two_stage(model, dataset, dataset, config=config)
        loader = torch.utils.data.DataLoader(dataset, batch_size=32)
        loss, accuracy = epoch_run(model, loader, loss_fn=torch.nn.CrossEntropyLoss(), device=torch.device("cpu"))
        assert accuracy == 1.0
        assert loss < 0.05

    def test_the_run_ends_on_the_best_validation_epoch(self, tmp_path):
        model, info = tiny_backbone()
        dataset = plain_dataset(images_generate(tmp_path, count=16), info)
        result = train_two_stage(model, dataset, dataset, config=quick_config(head_epochs=1, finetune_epochs=3))
        loader = torch.utils.data.DataLoader(dataset, batch_size=16)
        loss, _ = epoch_run(model, loader, loss_fn=torch.nn.CrossEntropyLoss(), device=torch.device("cpu"))
        assert result.best_val_loss == min(epoch.val_loss for epoch in result.history)
        assert loss == pytest.approx(result.best_val_loss, rel=1e-4)
        assert not model.training and not any(p.requires_grad for p in model.parameters())

    def test_early_stopping_ends_a_stage_after_patience_epochs_without_improvement(self, tmp_path):
        model, info = tiny_backbone()
        train = plain_dataset(images_generate(tmp_path / "train", count=16), info)
        # A validation set whose labels contradict the training pattern only gets worse as training goes on.
        val_rows = [row.__class__(row.path, 1 - row.label, row.group) for row in train.rows]
        val = plain_dataset(val_rows, info)
        config = quick_config(head_epochs=0, finetune_epochs=10, finetune_lr=1e-2, patience=2, unfreeze_layers=10_000)
        result = train_two_stage(model, train, val, config=config)
        assert result.stopped_early[FINETUNE_STAGE]
        assert len(result.history) < 10


class TestFreezing:
    def test_the_head_stage_trains_only_the_classifier_and_leaves_batch_norm_statistics_alone(self, tmp_path):
        model, info = tiny_backbone()
        frozen_before = {k: v.clone() for k, v in model.state_dict().items() if "classifier" not in k}
        dataset = plain_dataset(images_generate(tmp_path, count=16), info)
        train_two_stage(model, dataset, dataset, config=quick_config(head_epochs=2, finetune_epochs=0))
        after = model.state_dict()
        assert all(torch.equal(value, after[key]) for key, value in frozen_before.items())

    def test_backbone_freeze_leaves_only_the_head_trainable(self):
        model, _ = tiny_backbone()
        assert backbone_freeze(model) == ["classifier"]
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        assert trainable == {"classifier.weight", "classifier.bias"}

    def test_unfreezing_counts_parameterised_modules_back_from_the_output_and_keeps_batch_norm_frozen(self):
        model, _ = tiny_backbone()
        last_five = [name for name, _ in parameterised_modules(model)[-5:]]
        assert last_five == ["blocks.4.0.conv_pwl", "blocks.4.0.bn3", "conv_head", "bn2", "classifier"]
        # The two batch norms count towards the five but stay frozen: the convolutions and the head are unfrozen.
        assert layers_unfreeze(model, 5) == ["blocks.4.0.conv_pwl", "conv_head", "classifier"]
        trainable_modules = {
            name for name, module in model.named_modules() if any(p.requires_grad for p in module.parameters(False))
        }
        assert trainable_modules == {"blocks.4.0.conv_pwl", "conv_head", "classifier"}
        everything = layers_unfreeze(model, 10_000)
        assert not any(
            is_batch_norm(module) and any(p.requires_grad for p in module.parameters())
            for _, module in model.named_modules()
        )
        assert len(everything) == len([m for _, m in parameterised_modules(model) if not is_batch_norm(m)])

    def test_the_default_unfreezes_66_layers_of_b6_and_the_same_share_of_smaller_backbones(self):
        b6 = timm.create_model("tf_efficientnet_b6", pretrained=False, num_classes=2)
        assert len(parameterised_modules(b6)) == 359
        assert unfreeze_layers_default(b6) == 66
        lite0 = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2)
        assert unfreeze_layers_default(lite0) == round(99 * 66 / 359)


class TestCheckpoints:
    def test_a_checkpoint_saves_and_loads_the_same_model_and_metadata(self, tmp_path):
        model, info = tiny_backbone()
        dataset = plain_dataset(images_generate(tmp_path / "images", count=8), info)
        config = quick_config(head_epochs=1, finetune_epochs=1)
        result = train_two_stage(model, dataset, dataset, config=config)
        path = checkpoint_save(
            tmp_path / "ckpt" / "model.pt", model=model, info=info, class_names=("difficult", "easy"), config=config,
            result=result, extra={"data_hash": "abc"},
        )  # fmt: skip
        loaded, checkpoint = checkpoint_load(path)
        batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
        with torch.inference_mode():
            assert torch.equal(model(batch), loaded(batch))
        assert checkpoint.info == info and checkpoint.class_names == ("difficult", "easy")
        assert checkpoint.config["finetune_epochs"] == 1 and checkpoint.extra == {"data_hash": "abc"}
        assert TrainResult.from_dict(checkpoint.result).history == result.history

    def test_a_file_that_is_not_a_checkpoint_is_refused(self, tmp_path):
        torch.save({"something": 1}, tmp_path / "other.pt")
        with pytest.raises(ValueError, match="not a difficulty checkpoint"):
            checkpoint_load(tmp_path / "other.pt")


class TestTrainingCurves:
    def test_curves_are_saved_as_a_png_with_the_unfreeze_point(self, tmp_path):
        model, info = tiny_backbone()
        dataset = plain_dataset(images_generate(tmp_path / "images", count=8), info)
        result = train_two_stage(model, dataset, dataset, config=quick_config(head_epochs=1, finetune_epochs=1))
        path = training_curves_plot(result, tmp_path / "curves" / "curves.png", title="tiny")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert result.unfreeze_epoch == 2
        assert info.image_size == TINY_IMAGE_SIZE
