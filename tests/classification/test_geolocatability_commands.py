"""train_cold_start_difficulty, eval_geolocatability and the replay's folder mode on a generated labelled folder,
with the tiny test network as the embedding."""

import csv
import json
from pathlib import Path

import pytest
import torch
from django.core.management import CommandError, call_command

from classification import difficulty_services
from classification.difficulty.embedding import TINY_EMBEDDING_BACKBONE
from classification.difficulty.geolocatability import GeolocatabilityHead
from classification.difficulty.testing import images_generate
from tasks_app.replay import CLASSES, config_load
from tasks_app.replay_folder import images_from_folder

GROUP_PATTERN = r"_(p\d+)\.png$"


@pytest.fixture
def folder(tmp_path):
    """48 generated photos by 12 photographers (the owner at the end of the file name); easy: a darkened left half."""
    root = tmp_path / "labelled"
    rows = images_generate(root / "images", count=48, size=48, seed=4)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "scene"])
        for index, row in enumerate(rows):
            name = f"photo{index:03d}_p{index % 12}.png"
            (root / "images" / name).write_bytes(Path(row.path).read_bytes())
            writer.writerow([name, "easy" if row.label else "difficult", "urban" if index % 3 else "natural"])
    return root


def run(command: str, *args) -> str:
    from io import StringIO

    out = StringIO()
    torch.set_num_threads(1)
    call_command(command, *args, stdout=out)
    return out.getvalue()


FOLDER_OPTIONS = ["--image-folder", "images", "--group-pattern", GROUP_PATTERN, "--backbone", TINY_EMBEDDING_BACKBONE]


def test_training_writes_the_head_with_its_data_split_seed_and_metrics(folder, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    out = run(
        "train_cold_start_difficulty", str(folder), *FOLDER_OPTIONS, "--seed", "3", "--out", str(tmp_path / "h.json")
    )
    head = GeolocatabilityHead.load(tmp_path / "h.json")
    record = head.record
    assert head.kind == "cold_start" and head.backbone == TINY_EMBEDDING_BACKBONE and head.views == 3
    assert record["data"]["images"] == 48 and record["data"]["groups"] == 12 and record["split"]["seed"] == 3
    assert record["split"]["train_groups"] + record["split"]["validation_groups"] == 12  # no photographer on both
    assert record["split"]["train_images"] + record["split"]["validation_images"] == 48
    assert set(record["validation_metrics"]) >= {"accuracy", "roc_auc", "precision_easy_top_20", "log_loss"}
    assert "train_cold_start_difficulty" in record["trained_by"] and "--seed 3" in record["trained_by"]
    assert record["versions"]["torch"] == torch.__version__
    assert "validation part" in out and "Head written" in out
    assert list((settings.VAR_DIR / "difficulty_eval").glob("embeddings-*.npz"))  # cached for the next run


def test_evaluation_measures_the_head_on_its_recorded_validation_part_only(folder, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    head = tmp_path / "h.json"
    run("train_cold_start_difficulty", str(folder), *FOLDER_OPTIONS, "--out", str(head))
    out = run(
        "eval_geolocatability", str(folder), *FOLDER_OPTIONS, "--head", str(head), "--baseline", "scene=urban",
        "--seeds", "1", "--folds", "3", "--learning-curve", "10,20",
    )  # fmt: skip
    assert "cold start, validation part" in out and "rule: easy when scene = urban" in out
    assert "in-crisis learner, grouped 3-fold CV" in out and "learner from   10 ratings" in out
    report = json.loads((settings.VAR_DIR / "difficulty_eval" / "report-labelled.json").read_text())
    validation = GeolocatabilityHead.load(head).record["split"]["validation_images"]
    assert report["results"]["cold_start_validation"]["count"] == validation
    assert report["results"]["learner_cross_validation"]["folds"] == 3


def test_a_group_pattern_that_does_not_match_is_refused_with_the_file_name(folder):
    with pytest.raises(CommandError, match="does not match the file name"):
        run("train_cold_start_difficulty", str(folder), "--image-folder", "images", "--group-pattern", r"_(x\d+)\.jpg$")


def test_an_unknown_baseline_column_is_refused(folder, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    head = tmp_path / "h.json"
    run("train_cold_start_difficulty", str(folder), *FOLDER_OPTIONS, "--out", str(head))
    with pytest.raises(CommandError, match="no column 'weather'"):
        run("eval_geolocatability", str(folder), *FOLDER_OPTIONS, "--head", str(head), "--baseline", "weather=rain")


@pytest.fixture
def cold_start_head(folder, tmp_path, settings):
    """The cold start trained on ``folder`` and active, as the replay's folder mode finds it."""
    head = tmp_path / "h.json"
    settings.VAR_DIR = tmp_path / "var"
    settings.DIFFICULTY_COLD_START = True
    settings.DIFFICULTY_COLD_START_HEAD = head
    settings.DIFFICULTY_CPU_FAST = False
    run("train_cold_start_difficulty", str(folder), *FOLDER_OPTIONS, "--out", str(head))
    difficulty_services._embedders.clear()
    difficulty_services._heads.clear()
    return head


@pytest.mark.django_db
def test_the_replay_scores_a_folder_with_the_cold_start_and_keeps_its_labels_as_the_truth(folder, cold_start_head):
    images, summary = images_from_folder(
        root=str(folder), config=config_load(), seed=1, image_folder="images"
    )  # fmt: skip
    # The head trained on part of this very folder: only the part it never saw is replayed.
    record = GeolocatabilityHead.load(cold_start_head).record["split"]
    assert len(images) == record["validation_images"] < 48
    assert f"{record['train_images']} images of this folder trained the estimator" in summary
    assert f"Scored {len(images)} images of labelled with Cold start h" in summary and "highest ease" in summary
    assert all(0 <= image.predicted_ease <= 1 and CLASSES[image.predicted_class] != "impossible" for image in images)
    assert {CLASSES[image.true_class] for image in images} == {"easy", "difficult"}


@pytest.mark.django_db
def test_the_replay_keeps_every_image_of_a_folder_the_estimator_never_trained_on(folder, tmp_path, cold_start_head):
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    rows = list(csv.DictReader((folder / "labels.csv").read_text().splitlines()))[:10]
    for row in rows:
        (other / "images" / row["file"]).write_bytes((folder / "images" / row["file"]).read_bytes())
    (other / "labels.csv").write_text("file,label\n" + "".join(f"{r['file']},{r['label']}\n" for r in rows))
    images, summary = images_from_folder(root=str(other), config=config_load(), seed=1, image_folder="images")
    assert [CLASSES[image.true_class] for image in images] == [row["label"] for row in rows]
    assert "trained the estimator" not in summary


@pytest.mark.django_db
def test_the_replay_refuses_labels_that_are_not_difficulty_classes(folder, tmp_path):
    (folder / "labels.csv").write_text("file,label\nphoto000_p0.png,sunny\n")
    with pytest.raises(ValueError, match="not difficulty classes"):
        images_from_folder(root=str(folder), config=config_load(), seed=1, image_folder="images")
