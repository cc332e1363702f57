"""Labelled image rows, difficulty class mapping, grouped 70/20/10 splits, train-only augmentation, class weights."""

import csv
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}

# Volunteer ratings (consensus classes) and what is never trained on.
EASY, MEDIUM, DIFFICULT, IMPOSSIBLE, NOT_RELEVANT = "easy", "medium", "difficult", "impossible", "not_relevant"


class ClassMapping(StrEnum):
    """How the four difficulty ratings become training classes."""

    # The paper's: Medium dropped, Difficult and Impossible merged; "easy" is the positive class.
    EASY_VS_DIFFICULT = "easy_vs_difficult"
    EASY_MEDIUM_VS_DIFFICULT = "easy_medium_vs_difficult"


# Index 1 is the positive class (the paper's focus is finding the Easy images), index 0 the rest.
DIFFICULTY_CLASS_NAMES = ("difficult", "easy")
_MAPPINGS = {
    ClassMapping.EASY_VS_DIFFICULT: {EASY: "easy", DIFFICULT: "difficult", IMPOSSIBLE: "difficult"},
    ClassMapping.EASY_MEDIUM_VS_DIFFICULT: {
        EASY: "easy",
        MEDIUM: "easy",
        DIFFICULT: "difficult",
        IMPOSSIBLE: "difficult",
    },
}


@dataclass(frozen=True)
class LabelledImage:
    """One training row: an image file, its class index and its duplicate group (a split never divides a group)."""

    path: str
    label: int
    group: str


@dataclass(frozen=True)
class DifficultyRating:
    """One image's consensus rating, as the consensus stage produces it."""

    path: str
    rating: str  # easy / medium / difficult / impossible / not_relevant
    group: str
    warned: bool = False  # the consensus flagged a near tie between its top two classes


@dataclass(frozen=True)
class LabelledSet:
    """Rows plus the class names their labels index, and what was left out on the way."""

    rows: tuple[LabelledImage, ...]
    class_names: tuple[str, ...]
    excluded: dict[str, int] = field(default_factory=dict)

    def label_counts(self) -> dict[str, int]:
        counts = Counter(row.label for row in self.rows)
        return {name: counts.get(index, 0) for index, name in enumerate(self.class_names)}

    def data_hash(self) -> str:
        """SHA-256 over the sorted (path, label, group) rows: identifies the training data of a model version."""
        digest = hashlib.sha256()
        for row in sorted(self.rows, key=lambda r: r.path):
            digest.update(f"{row.path}\t{self.class_names[row.label]}\t{row.group}\n".encode())
        return digest.hexdigest()

    def to_dict(self) -> dict:
        return {
            "class_names": list(self.class_names),
            "label_counts": self.label_counts(),
            "excluded": dict(self.excluded),
            "data_hash": self.data_hash(),
        }


def rating_class(rating: str, *, mapping: ClassMapping = ClassMapping.EASY_VS_DIFFICULT) -> str | None:
    """The training class ("easy" or "difficult") of a consensus rating under ``mapping``; None when the mapping
    leaves it out (Medium under the paper's mapping, "not relevant" always)."""
    return _MAPPINGS[ClassMapping(mapping)].get(rating.strip().lower().replace(" ", "_"))


def difficulty_set(
    ratings: Iterable[DifficultyRating],
    *,
    mapping: ClassMapping = ClassMapping.EASY_VS_DIFFICULT,
    exclude_warned: bool = False,
) -> LabelledSet:
    """Training rows from consensus ratings: "not relevant" always out, Medium out under the paper's mapping."""
    classes = _MAPPINGS[ClassMapping(mapping)]
    rows, excluded = [], Counter()
    for rating in ratings:
        key = rating.rating.strip().lower().replace(" ", "_")
        if exclude_warned and rating.warned:
            excluded["warned"] += 1
        elif key not in classes:
            excluded[key or "unlabelled"] += 1
        else:
            rows.append(LabelledImage(rating.path, DIFFICULTY_CLASS_NAMES.index(classes[key]), rating.group))
    return LabelledSet(tuple(rows), DIFFICULTY_CLASS_NAMES, dict(excluded))


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def labelled_folder_read(
    root: str | Path,
    *,
    csv_path: str | Path | None = None,
    path_column: str = "path",
    label_column: str = "label",
    group_column: str = "group",
    label_map: dict[str, str] | None = None,
    positive_label: str | None = None,
) -> LabelledSet:
    """Rows from a CSV of path,label[,group] (paths relative to ``root``) or from one subfolder per class.

    ``label_map`` renames labels (e.g. fire -> disaster); rows whose label is empty are left out. Without a group
    column the group is the file's SHA-256, so exact duplicates (retweets) share a group. Class names are sorted,
    except that ``positive_label`` goes last (index 1 in a binary task: the class precision/recall/AUC are about).
    """
    root = Path(root)
    label_map = label_map or {}
    triples, excluded = [], Counter()
    if csv_path is not None:
        with open(csv_path, newline="") as handle:
            for record in csv.DictReader(handle):
                label = label_map.get(record[label_column].strip(), record[label_column].strip())
                if not label:
                    excluded["unlabelled"] += 1
                    continue
                path = root / record[path_column]
                if not path.is_file():
                    excluded["missing_file"] += 1
                    continue
                triples.append((path, label, (record.get(group_column) or "").strip()))
    else:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            label = label_map.get(folder.name, folder.name)
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    triples.append((path, label, ""))
    names = sorted({label for _, label, _ in triples})
    if positive_label is not None:
        if positive_label not in names:
            raise ValueError(f"Positive label {positive_label!r} is not among the labels {names}")
        names = [n for n in names if n != positive_label] + [positive_label]
    rows = tuple(
        LabelledImage(str(path), names.index(label), group or file_sha256(path)) for path, label, group in triples
    )
    return LabelledSet(rows, tuple(names), dict(excluded))


@dataclass(frozen=True)
class SplitFractions:
    train: float = 0.7
    val: float = 0.2
    test: float = 0.1


@dataclass(frozen=True)
class Split:
    train: tuple[LabelledImage, ...]
    val: tuple[LabelledImage, ...]
    test: tuple[LabelledImage, ...]
    seed: int

    def to_dict(self) -> dict:
        return {"seed": self.seed, "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)}}


def split_by_group(
    rows: Sequence[LabelledImage], *, fractions: SplitFractions = SplitFractions(), seed: int = 13
) -> Split:
    """Seeded train/val/test split of whole duplicate groups, stratified by each group's majority label.

    Groups are shuffled within each label stratum and dealt to the split furthest below its target share of
    images, so sizes land near 70/20/10 without any group appearing on two sides.
    """
    by_group: dict[str, list[LabelledImage]] = defaultdict(list)
    for row in rows:
        by_group[row.group].append(row)
    strata: dict[int, list[str]] = defaultdict(list)
    for group, members in sorted(by_group.items()):
        strata[Counter(m.label for m in members).most_common(1)[0][0]].append(group)
    targets = (fractions.train, fractions.val, fractions.test)
    parts: tuple[list[LabelledImage], ...] = ([], [], [])
    rng = random.Random(seed)
    for label in sorted(strata):
        groups = strata[label]
        rng.shuffle(groups)
        stratum_total = sum(len(by_group[g]) for g in groups)
        filled = [0, 0, 0]
        for group in groups:
            # Furthest below target share wins; ties go to the earlier split (train, then val).
            deficits = [targets[i] * stratum_total - filled[i] for i in range(3)]
            chosen = max(range(3), key=lambda i: (deficits[i], -i))
            filled[chosen] += len(by_group[group])
            parts[chosen].extend(by_group[group])
    return Split(tuple(parts[0]), tuple(parts[1]), tuple(parts[2]), seed)


def transforms_build(
    *,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    augment: bool,
    rotation_degrees: float = 15.0,
) -> transforms.Compose:
    """Resize to a square (no crop: geolocation clues sit at the edges too), then tensor and normalise.

    ``augment`` adds the paper's random rotation and horizontal flip; only the training split may set it.
    """
    steps: list = [transforms.Resize((image_size, image_size), antialias=True)]
    if augment:
        steps += [transforms.RandomHorizontalFlip(), transforms.RandomRotation(rotation_degrees)]
    steps += [transforms.ToTensor(), transforms.Normalize(list(mean), list(std))]
    return transforms.Compose(steps)


def image_open(path: str | Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


class LabelledImageDataset(Dataset):
    """(image tensor, label) pairs. ``cache_size`` keeps decoded images resized to that square in memory."""

    def __init__(
        self, rows: Sequence[LabelledImage], transform: transforms.Compose, *, cache_size: int | None = None
    ) -> None:
        self.rows = tuple(rows)
        self.transform = transform
        self.cache_size = cache_size
        self._cache: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        row = self.rows[index]
        image = self._cache.get(index)
        if image is None:
            image = image_open(row.path)
            if self.cache_size:
                # Decoding multi-megapixel JPEGs every epoch dominates CPU training; the resize is the transform's
                # first step anyway, so caching its result changes nothing downstream.
                image = image.resize((self.cache_size, self.cache_size), Image.Resampling.BILINEAR)
                self._cache[index] = image
        return self.transform(image), row.label


def datasets_build(
    split: Split,
    *,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    rotation_degrees: float = 15.0,
    cache: bool = True,
) -> tuple[LabelledImageDataset, LabelledImageDataset, LabelledImageDataset]:
    """Train (augmented), validation and test datasets from an existing split: augmentation comes after splitting."""
    plain = transforms_build(image_size=image_size, mean=mean, std=std, augment=False)
    augmented = transforms_build(
        image_size=image_size, mean=mean, std=std, augment=True, rotation_degrees=rotation_degrees
    )
    cache_size = image_size if cache else None
    return (
        LabelledImageDataset(split.train, augmented, cache_size=cache_size),
        LabelledImageDataset(split.val, plain, cache_size=cache_size),
        LabelledImageDataset(split.test, plain, cache_size=cache_size),
    )


def class_weights(labels: Sequence[int], *, num_classes: int, imbalance_ratio: float = 1.5) -> torch.Tensor | None:
    """Inverse-frequency weights (mean 1 over classes) when the largest class outnumbers the smallest by more than
    ``imbalance_ratio``; None when the classes are balanced enough for a plain loss."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    present = counts[counts > 0]
    if len(present) < 2 or present.max() / present.min() <= imbalance_ratio:
        return None
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
