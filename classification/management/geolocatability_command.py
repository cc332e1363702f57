"""What the geolocatability commands share: a labelled folder's options, its Lite0 embeddings (cached), and the
package versions recorded beside trained weights."""

import platform
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.core.management.base import CommandError

from classification.difficulty.backbones import LITE0_BACKBONE, WeightsUnavailableError
from classification.difficulty.embedding import TINY_EMBEDDING_BACKBONE, embedder_build
from classification.difficulty.folder_eval import embeddings_cached, labelled_folder_load


def folder_arguments(parser) -> None:
    """The options that describe a labelled folder (shared with eval_geolocatability)."""
    parser.add_argument("folder", help="Folder of images with a labels CSV.")
    parser.add_argument("--csv", help="Labels CSV (default: FOLDER/labels.csv).")
    parser.add_argument("--image-folder", default="", help="Subfolder of FOLDER that the CSV's paths are in.")
    parser.add_argument("--path-column", default="file")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--positive-label", default="easy", help="The label meaning easy to geolocate.")
    parser.add_argument("--group-column", help="CSV column that groups images (a photographer, a duplicate group).")
    parser.add_argument(
        "--group-pattern",
        help=r"Regular expression whose first group, found in the file name, groups images, e.g. '_([^_]+)\.jpg$' "
        "for the owner id at the end of a Flickr file name.",
    )
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (1 is fastest on a busy machine).")
    parser.add_argument(
        "--backbone",
        default=LITE0_BACKBONE,
        choices=[LITE0_BACKBONE, TINY_EMBEDDING_BACKBONE],
        help="The embedding (tests use the tiny test network).",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="Where embeddings are cached (default VAR_DIR/difficulty_eval)."
    )


def folder_from_options(options):
    try:
        return labelled_folder_load(
            options["folder"],
            csv_path=options["csv"],
            path_column=options["path_column"],
            label_column=options["label_column"],
            positive_label=options["positive_label"],
            group_column=options["group_column"],
            group_pattern=options["group_pattern"],
            image_folder=options["image_folder"],
        )
    except (OSError, KeyError, ValueError) as error:
        raise CommandError(f"Cannot read the labelled folder: {error}") from error


def folder_embeddings(folder, options, stdout):
    """Lite0 embeddings of the folder's images (cached), and the embedder that made them."""
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    try:
        embedder = embedder_build(
            options["backbone"],
            cpu_fast=settings.DIFFICULTY_CPU_FAST,
            tolerance=settings.DIFFICULTY_CPU_TOLERANCE,
            cache_path=settings.DIFFICULTY_MODEL_DIR / "cpu_inference.json",
        )
    except WeightsUnavailableError as error:
        raise CommandError(str(error)) from error
    cache_dir = Path(options["cache_dir"]) if options["cache_dir"] else settings.VAR_DIR / "difficulty_eval"

    def progress(done: int, total: int) -> None:
        if done % 96 == 0 or done == total:
            stdout.write(f"  embedded {done}/{total}")

    vectors = embeddings_cached(folder, embedder, cache_dir=cache_dir, progress=progress)
    return embedder, vectors


def package_versions() -> dict:
    import PIL
    import sklearn
    import timm

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
