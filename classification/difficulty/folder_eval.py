"""A labelled folder of images for the geolocatability estimators: labels, groups, a grouped split and cached
embeddings. Used by ``train_cold_start_difficulty``, ``eval_geolocatability`` and the replay's folder mode."""

import csv
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from classification.difficulty.embedding import ImageEmbedder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledFolder:
    """Images of a folder with a binary label (1: ``positive_label``, e.g. easy) and a group each."""

    root: Path
    files: list[str]  # paths relative to root, in CSV order
    labels: np.ndarray
    groups: list[str]
    columns: dict[str, list[str]] = field(default_factory=dict)  # every CSV column, for baselines and truth
    labels_sha256: str = ""
    positive_label: str = "easy"

    def __len__(self) -> int:
        return len(self.files)

    def paths(self, indices=None) -> list[Path]:
        chosen = range(len(self.files)) if indices is None else indices
        return [self.root / self.files[i] for i in chosen]

    def files_sha256(self, indices) -> str:
        """Identifies a subset (e.g. a validation part) by its sorted file names."""
        return hashlib.sha256("\n".join(sorted(self.files[i] for i in indices)).encode()).hexdigest()


def labelled_folder_load(
    root: str | Path,
    *,
    csv_path: str | Path | None = None,
    path_column: str = "file",
    label_column: str = "label",
    positive_label: str = "easy",
    group_column: str | None = None,
    group_pattern: str | None = None,
    image_folder: str = "",
) -> LabelledFolder:
    """Read ``labels.csv`` (default: in ``root``). Images are ``root/image_folder/<path>``. A row's group is the
    ``group_column`` value, else the first capture group of ``group_pattern`` in its file name (e.g. the
    photographer's id in a Flickr file name), else the file itself. Rows whose file is missing are left out,
    with a count in the log."""
    root = Path(root)
    csv_path = Path(csv_path) if csv_path else root / "labels.csv"
    text = csv_path.read_text()
    pattern = re.compile(group_pattern) if group_pattern else None
    files, labels, groups, missing = [], [], [], 0
    columns: dict[str, list[str]] = {}
    for record in csv.DictReader(text.splitlines()):
        relative = str(Path(image_folder) / record[path_column]) if image_folder else record[path_column]
        if not (root / relative).is_file():
            missing += 1
            continue
        groups.append(_group(record, relative, column=group_column, pattern=pattern))
        files.append(relative)
        labels.append(int(record[label_column].strip() == positive_label))
        for key, value in record.items():
            columns.setdefault(key, []).append(value)
    if missing:
        logger.warning("%s: %s rows name a file that is not there; left out", csv_path, missing)
    if not files:
        raise ValueError(f"{csv_path} names no image found under {root}")
    return LabelledFolder(
        root=root,
        files=files,
        labels=np.asarray(labels, dtype=np.int64),
        groups=groups,
        columns=columns,
        labels_sha256=hashlib.sha256(text.encode()).hexdigest(),
        positive_label=positive_label,
    )


def _group(record: dict, relative: str, *, column: str | None, pattern: re.Pattern | None) -> str:
    if column:
        return record[column]
    if pattern is not None:
        match = pattern.search(Path(relative).name)
        if match is None:
            raise ValueError(f"--group-pattern {pattern.pattern!r} does not match the file name {relative!r}")
        return match.group(1) if match.groups() else match.group(0)
    return relative


def regrouped(folder: LabelledFolder, *, group_column: str | None, group_pattern: str | None) -> LabelledFolder:
    """The same folder grouped another way (e.g. as a head's record says it was grouped when trained)."""
    pattern = re.compile(group_pattern) if group_pattern else None
    records = [dict(zip(folder.columns, row, strict=True)) for row in zip(*folder.columns.values(), strict=True)]
    groups = [
        _group(record, relative, column=group_column, pattern=pattern)
        for record, relative in zip(records, folder.files, strict=True)
    ]
    return replace(folder, groups=groups)


def grouped_split(folder: LabelledFolder, *, validation_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: whole groups on one side, both classes balanced across sides, seeded."""
    from sklearn.model_selection import StratifiedGroupKFold

    parts = max(2, round(1 / validation_share))
    splitter = StratifiedGroupKFold(n_splits=parts, shuffle=True, random_state=seed)
    train, validation = next(splitter.split(np.zeros(len(folder)), folder.labels, np.asarray(folder.groups)))
    return np.sort(train), np.sort(validation)


def embeddings_cached(
    folder: LabelledFolder,
    embedder: ImageEmbedder,
    *,
    cache_dir: Path | None,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embeddings of every image of the folder, from ``cache_dir`` when an identical run cached them (keyed by the
    backbone, its weights, the views and every file's bytes)."""
    digest = hashlib.sha256(f"{embedder.backbone}|{embedder.info.weights}|{embedder.views}".encode())
    for path in folder.paths():
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    cache = cache_dir / f"embeddings-{digest.hexdigest()[:20]}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        return np.load(cache)["vectors"]
    paths = folder.paths()
    rows = []
    for start in range(0, len(paths), batch_size):
        rows.append(embedder.embed(paths[start : start + batch_size], batch_size=batch_size * embedder.views).vectors)
        if progress is not None:
            progress(min(start + batch_size, len(paths)), len(paths))
    vectors = np.concatenate(rows)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, vectors=vectors)
    return vectors
