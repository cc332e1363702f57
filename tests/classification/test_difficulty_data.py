"""Difficulty classifier data: class mapping, grouped splits, train-only augmentation, class weights, folders."""

import shutil

import pytest
import torch

from classification.difficulty.data import (
    ClassMapping,
    DifficultyRating,
    LabelledImage,
    SplitFractions,
    class_weights,
    datasets_build,
    difficulty_set,
    labelled_folder_read,
    split_by_group,
)
from classification.difficulty.testing import images_generate


def ratings(*pairs: tuple[str, bool]) -> list[DifficultyRating]:
    return [DifficultyRating(f"{i}.jpg", rating, f"g{i}", warned) for i, (rating, warned) in enumerate(pairs)]


def grouped_rows(count: int = 200, groups: int = 60) -> list[LabelledImage]:
    # Uneven group sizes (1 to several members), two labels.
    return [LabelledImage(f"{i}.jpg", (i % groups) % 2, f"g{(i * 7) % groups}") for i in range(count)]


class TestClassMapping:
    def test_paper_mapping_drops_medium_and_merges_impossible_into_difficult(self):
        labelled = difficulty_set(
            ratings(("easy", False), ("medium", False), ("difficult", False), ("impossible", False))
        )
        assert labelled.class_names == ("difficult", "easy")
        assert [(r.path, labelled.class_names[r.label]) for r in labelled.rows] == [
            ("0.jpg", "easy"),
            ("2.jpg", "difficult"),
            ("3.jpg", "difficult"),
        ]
        assert labelled.excluded == {"medium": 1}

    def test_alternative_mapping_counts_medium_as_easy(self):
        labelled = difficulty_set(
            ratings(("easy", False), ("Medium", False), ("impossible", False)),
            mapping=ClassMapping.EASY_MEDIUM_VS_DIFFICULT,
        )
        assert labelled.label_counts() == {"difficult": 1, "easy": 2}

    def test_not_relevant_is_always_excluded_and_warned_items_only_on_request(self):
        items = ratings(("not relevant", False), ("easy", True), ("difficult", False))
        assert len(difficulty_set(items).rows) == 2
        strict = difficulty_set(items, exclude_warned=True)
        assert [r.path for r in strict.rows] == ["2.jpg"]
        assert strict.excluded == {"not_relevant": 1, "warned": 1}

    def test_data_hash_ignores_row_order_and_changes_with_labels(self):
        items = ratings(("easy", False), ("difficult", False))
        assert difficulty_set(items).data_hash() == difficulty_set(items[::-1]).data_hash()
        assert (
            difficulty_set(items).data_hash() != difficulty_set(ratings(("easy", False), ("easy", False))).data_hash()
        )


class TestSplitByGroup:
    @pytest.mark.parametrize("seed", range(10))
    def test_no_duplicate_group_is_on_two_sides(self, seed):
        split = split_by_group(grouped_rows(), seed=seed)
        sides = [{r.group for r in part} for part in (split.train, split.val, split.test)]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert len(split.train) + len(split.val) + len(split.test) == 200

    def test_sizes_are_near_70_20_10_and_each_split_holds_both_classes(self):
        rows = [LabelledImage(f"{i}.jpg", i % 2, f"g{i}") for i in range(300)]
        split = split_by_group(rows, fractions=SplitFractions(), seed=3)
        assert (len(split.train), len(split.val), len(split.test)) == (210, 60, 30)
        assert all({r.label for r in part} == {0, 1} for part in (split.train, split.val, split.test))

    def test_the_same_seed_gives_the_same_split_and_another_seed_a_different_one(self):
        rows = grouped_rows()
        assert split_by_group(rows, seed=5) == split_by_group(rows, seed=5)
        assert split_by_group(rows, seed=5).test != split_by_group(rows, seed=6).test


class TestAugmentation:
    def test_only_the_training_split_is_augmented(self, tmp_path):
        rows = images_generate(tmp_path, count=30, size=24)
        split = split_by_group(rows, seed=1)
        train, val, test = datasets_build(split, image_size=24, mean=(0.5,) * 3, std=(0.5,) * 3)
        torch.manual_seed(0)
        train_views = [train[0][0] for _ in range(6)]
        assert any(not torch.equal(train_views[0], view) for view in train_views[1:])
        for dataset in (val, test):
            assert torch.equal(dataset[0][0], dataset[0][0])
        # The augmentation is built after the split: none of the evaluation rows is in the training dataset.
        assert not {r.path for r in train.rows} & {r.path for r in val.rows + test.rows}


class TestClassWeights:
    def test_balanced_classes_get_no_weights(self):
        assert class_weights([0, 1, 0, 1, 1], num_classes=2) is None

    def test_unbalanced_classes_weigh_the_rare_class_more(self):
        weights = class_weights([0] * 30 + [1] * 10, num_classes=2)
        assert weights.tolist() == pytest.approx([40 / 60, 40 / 20])


class TestLabelledFolder:
    def test_csv_rows_map_labels_and_group_exact_duplicates_by_content(self, tmp_path):
        rows = images_generate(tmp_path / "images", count=3, size=8)
        shutil.copy(rows[0].path, tmp_path / "images" / "copy.png")
        (tmp_path / "labels.csv").write_text(
            "file,kind\nimages/image_0000.png,fire\nimages/copy.png,fire\nimages/image_0001.png,not_disaster\n"
            "images/image_0002.png,\n"
        )
        labelled = labelled_folder_read(
            tmp_path,
            csv_path=tmp_path / "labels.csv",
            path_column="file",
            label_column="kind",
            label_map={"fire": "disaster"},
            positive_label="disaster",
        )
        assert labelled.class_names == ("not_disaster", "disaster")
        assert [labelled.class_names[r.label] for r in labelled.rows] == ["disaster", "disaster", "not_disaster"]
        assert labelled.rows[0].group == labelled.rows[1].group != labelled.rows[2].group
        assert labelled.excluded == {"unlabelled": 1}

    def test_subfolders_name_the_classes(self, tmp_path):
        images_generate(tmp_path / "easy", count=2, size=8)
        images_generate(tmp_path / "difficult", count=3, size=8, seed=1)
        labelled = labelled_folder_read(tmp_path)
        assert labelled.label_counts() == {"difficult": 3, "easy": 2}
