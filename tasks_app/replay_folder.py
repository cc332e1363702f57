"""The replay's folder mode: real images scored by the platform's real difficulty estimator, their labels as the
hidden truth, so what easy-first buys is measured with a real model instead of a simulated confusion matrix.

Only where the predictions come from differs from the other modes; the crowd, scheduler and consensus are the
replay's (tasks_app/replay.py). Locations are drawn in the config's area: a folder has no crisis geography.
"""

import random

import numpy as np

from classification.difficulty.geolocatability import precision_at_top
from tasks_app.replay import CLASSES, SimImage


def images_from_folder(
    *, root: str, config: dict, seed: int, labels_csv: str | None = None, image_folder: str = "",
    path_column: str = "file", label_column: str = "label",
) -> tuple[list[SimImage], str]:  # fmt: skip
    """SimImages of a labelled folder (labels among easy / medium / difficult / impossible), scored by the active
    global difficulty version (the cold start when none is active), and a summary of how well it ranks them."""
    from classification.difficulty.folder_eval import labelled_folder_load
    from classification.difficulty_services import folder_estimates

    folder = labelled_folder_load(
        root, csv_path=labels_csv, path_column=path_column, label_column=label_column, image_folder=image_folder
    )
    truths = [value.strip().lower() for value in folder.columns[label_column]]
    unknown = sorted(set(truths) - set(CLASSES))
    if unknown:
        raise ValueError(f"labels {unknown} are not difficulty classes ({', '.join(CLASSES)})")
    version, estimates = folder_estimates(folder=folder)
    kept = trained_on_excluded(folder, version)
    truths, estimates = [truths[i] for i in kept], [estimates[i] for i in kept]
    rng = random.Random(f"folder-images-{seed}")
    area = config["area"]
    images = []
    for index, (truth, (_, label, ease)) in enumerate(zip(truths, estimates, strict=True)):
        lat = rng.uniform(area["south"], area["north"])
        lon = rng.uniform(area["west"], area["east"])
        images.append(SimImage(index, CLASSES.index(truth), lat, lon, CLASSES.index(label), ease))
    easy = np.array([truth == "easy" for truth in truths], dtype=int)
    ease = np.array([image.predicted_ease for image in images])
    accuracy = float(((ease >= 0.5) == easy).mean())
    left_out = len(folder) - len(kept)
    summary = (
        (
            f"{left_out} images of this folder trained the estimator: replaying the {len(kept)} it never saw.\n"
            if left_out
            else ""
        )
        + f"Scored {len(images)} images of {folder.root.name} with {version.name}: accuracy (easy when ease >= 0.5) "
        f"{accuracy:.3f}; truly easy among the 20% with the highest ease {precision_at_top(easy, ease):.3f} "
        f"(all images: {easy.mean():.3f})"
    )
    return images, summary


def trained_on_excluded(folder, version) -> list[int]:
    """Indices of the folder's images the version never trained on: when the folder is the one its head recorded
    (same labels file), only the recorded validation part; otherwise all of them."""
    from classification.difficulty.folder_eval import grouped_split, regrouped

    record = (version.training_settings or {}).get("record", {})
    data, split = record.get("data") or {}, record.get("split") or {}
    if data.get("labels_sha256") != folder.labels_sha256 or "seed" not in split:
        return list(range(len(folder)))
    grouped = regrouped(folder, group_column=data.get("group_column"), group_pattern=data.get("group_pattern"))
    _, validation = grouped_split(grouped, validation_share=split["validation_share"], seed=split["seed"])
    if folder.files_sha256(validation) != split.get("validation_files_sha256"):
        raise ValueError("this folder is the estimator's training folder but its split differs from the recorded one")
    return validation.tolist()
