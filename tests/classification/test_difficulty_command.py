"""eval_difficulty_folder: trains and evaluates on a generated folder and writes its report (tiny backbone)."""

import io
import json

import pytest
import torch
from django.core.management import CommandError, call_command

from classification.difficulty.testing import images_generate


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_options(out) -> list[str]:
    return ["--backbone", "test_efficientnet", "--no-hub", "--random-init", "--image-size", "32", "--epochs", "1",
            "--batch-size", "8", "--bootstrap", "50", "--no-progress", "--out", str(out)]  # fmt: skip


class TestEvalDifficultyFolder:
    def test_a_folder_of_class_subfolders_is_trained_evaluated_and_reported(self, tmp_path):
        for index, name in enumerate(("difficult", "easy")):
            images_generate(tmp_path / "data" / name, count=20, size=32, seed=index)
        out, stdout = tmp_path / "out", io.StringIO()
        with pytest.warns(UserWarning, match="RANDOM INITIALISATION"):
            call_command("eval_difficulty_folder", str(tmp_path / "data"), *tiny_options(out), stdout=stdout)
        printed = stdout.getvalue()
        assert "split by duplicate group" in printed and "roc_auc" in printed and "confusion matrix" in printed
        report = json.loads((out / "report.json").read_text())
        assert report["backbone"]["weights"] == "random-init"
        assert report["data"]["label_counts"] == {"difficult": 20, "easy": 20}
        assert sum(report["split"]["sizes"].values()) == 40
        assert report["metrics"]["count"] == report["split"]["sizes"]["test"]
        assert (out / "model.pt").is_file() and (out / "curves.png").is_file()

    def test_missing_weights_stop_the_command_with_the_clear_message(self, tmp_path):
        images_generate(tmp_path / "data" / "a", count=2, size=8)
        images_generate(tmp_path / "data" / "b", count=2, size=8)
        with pytest.raises(CommandError, match=r"does not exist.*--random-init"):
            call_command(
                "eval_difficulty_folder", str(tmp_path / "data"), "--backbone", "test_efficientnet",
                "--weights", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "out"),
            )  # fmt: skip
