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
    summary = (
        f"Scored {len(images)} images of {folder.root.name} with {version.name}: accuracy (easy when ease >= 0.5) "
        f"{accuracy:.3f}; truly easy among the 20% with the highest ease {precision_at_top(easy, ease):.3f} "
        f"(all images: {easy.mean():.3f})"
    )
    return images, summary
