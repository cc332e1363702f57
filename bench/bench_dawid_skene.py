"""Dawid-Skene beside crowd-kit: python bench/bench_dawid_skene.py [--quick] [--data DIR] [--sizes N ...]."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consensus.aggregation import dawid_skene, encode_answers, item_warnings, majority_vote

N_CLASSES = 4  # Easy < Medium < Difficult < Impossible
RATINGS_PER_ITEM = 5


def simulate(*, n_ratings: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ratings like a crisis's: 5 per image, a few prolific volunteers and many occasional ones.

    Volunteers are drawn with Zipf-like weights; each has an accuracy in [0.4, 0.9] and makes mostly
    neighbouring-class mistakes (Medium for Easy, not Impossible).
    """
    rng = np.random.default_rng(seed)
    n_items = n_ratings // RATINGS_PER_ITEM
    n_workers = max(50, n_ratings // 250)
    truth = rng.choice(N_CLASSES, n_items, p=[0.35, 0.3, 0.2, 0.15])
    accuracy = rng.uniform(0.4, 0.9, n_workers)
    gap = np.abs(np.arange(N_CLASSES)[:, None] - np.arange(N_CLASSES)[None, :])
    error_shape = np.where(gap == 0, 0.0, 1.0 / np.maximum(gap, 1) ** 2)
    error_shape /= error_shape.sum(axis=1, keepdims=True)
    confusion = (1 - accuracy)[:, None, None] * error_shape[None]
    confusion[:, np.arange(N_CLASSES), np.arange(N_CLASSES)] = accuracy[:, None]
    popularity = 1.0 / (np.arange(n_workers) + 10.0) ** 1.1
    items = np.repeat(np.arange(n_items), RATINGS_PER_ITEM)
    workers = rng.choice(n_workers, len(items), p=popularity / popularity.sum())
    cumulative = confusion[workers, truth[items]].cumsum(axis=1)
    labels = (rng.random(len(items))[:, None] > cumulative).sum(axis=1)
    return items, workers, np.minimum(labels, N_CLASSES - 1), truth


def crowdkit_fit(items: np.ndarray, workers: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float, int]:
    from crowdkit.aggregation import DawidSkene

    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit 1.4 uses pandas arguments that pandas 3 deprecates
        model = DawidSkene(n_iter=100).fit(frame)
    seconds = time.perf_counter() - started
    return model.labels_.sort_index().to_numpy(), seconds, len(model.loss_history_)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    for line in lines:
        cells = [cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))]
        print("  ".join(cells))


def bench_sizes(sizes: list[int], crowdkit_max: int, seed: int) -> None:
    print("Speed on generated ratings: 4 classes, 5 ratings per image; crowd-kit DawidSkene(n_iter=100)")
    headers = ["ratings", "iters ours/ck", "ours ms/it", "ck ms/it", "ck/ours", "ours s", "ck s", "ck/ours"]
    headers += ["acc ours", "acc ck", "acc MV"]
    rows, skipped = [], []
    for n_ratings in sizes:
        items, workers, labels, truth = simulate(n_ratings=n_ratings, seed=seed)
        started = time.perf_counter()
        ours = dawid_skene(item_idx=items, worker_idx=workers, label=labels, n_classes=N_CLASSES)
        ours_total = time.perf_counter() - started
        ours_iter = float(np.mean(ours.iteration_seconds))
        mv = majority_vote(item_idx=items, label=labels, n_classes=N_CLASSES)
        iters = f"{ours.n_iter}{'' if ours.converged else '!'}"
        ck_cells = ["skipped", "", "", "skipped", "", "", ""]
        if n_ratings <= crowdkit_max:
            ck_labels, ck_total, ck_iters = crowdkit_fit(items, workers, labels)
            ck_iter = ck_total / ck_iters
            iters += f"/{ck_iters}"
            ck_cells = [
                f"{ck_iter * 1e3:.1f}",
                f"{ck_iter / ours_iter:.1f}x",
                f"{ours_total:.2f}",
                f"{ck_total:.2f}",
                f"{ck_total / ours_total:.1f}x",
                f"{(ours.labels == truth).mean():.4f}",
                f"{(ck_labels == truth).mean():.4f}",
            ]
        else:
            skipped.append(n_ratings)
            ck_cells[2], ck_cells[5] = f"{ours_total:.2f}", f"{(ours.labels == truth).mean():.4f}"
        rows.append(
            [
                f"{n_ratings:,}",
                iters,
                f"{ours_iter * 1e3:.1f}",
                *ck_cells,
                f"{(mv.labels == truth).mean():.4f}",
            ]
        )
    print_table(headers, rows)
    print("ms/it: mean EM iteration (crowd-kit's includes its ELBO); s: to convergence, setup included;")
    print("'!': ours hit max_iter before tol.")
    if skipped:
        sizes_text = ", ".join(f"{n:,}" for n in skipped)
        print(f"crowd-kit skipped at {sizes_text} ratings (above --crowdkit-max {crowdkit_max:,}): at 5M it")
        print("needs over a minute and about 1.5 GB; raise --crowdkit-max to include it.")


def load_public(folder: Path) -> tuple[pd.DataFrame, pd.Series] | None:
    """Answers (task, worker, label) and gold (by task) from answer.csv/truth.csv or a *.standardized.tsv."""
    if (folder / "answer.csv").exists() and (folder / "truth.csv").exists():
        answers = pd.read_csv(folder / "answer.csv").rename(columns={"question": "task", "answer": "label"})
        gold = pd.read_csv(folder / "truth.csv").set_index("question")["truth"]
        return answers[["task", "worker", "label"]], gold
    tables = sorted(folder.glob("*.standardized.tsv"))
    if tables:
        raw = pd.read_csv(tables[0], sep="\t")
        answers = raw.rename(columns={"!amt_worker_ids": "worker", "orig_id": "task", "response": "label"})
        gold = raw.groupby("orig_id")["gold"].first()
        return answers[["task", "worker", "label"]], gold
    return None


def bench_public(data: Path) -> None:
    from crowdkit.aggregation import DawidSkene, MajorityVote

    print(f"\nAccuracy on public datasets with gold ({data})")
    if not data.is_dir():
        print(f"skipped: {data} not found (pass --data with the path to the shared consensus data)")
        return
    headers = ["dataset", "answers", "items", "K", "MV ours", "MV ck", "DS ours", "DS ours ck-set", "DS ck"]
    headers += ["ours-ck pts", "warned"]
    rows = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        loaded = load_public(folder)
        if loaded is None:
            print(f"{folder.name}: skipped, no answer.csv/truth.csv or *.standardized.tsv")
            continue
        answers, gold = loaded
        encoded = encode_answers(items=answers["task"], workers=answers["worker"], labels=answers["label"])
        arrays = {"item_idx": encoded.item_idx, "worker_idx": encoded.worker_idx, "label": encoded.label}
        k = encoded.n_classes
        classes = np.array(encoded.classes)
        has_gold = np.isin(encoded.items, gold.index)
        truth = gold.reindex(encoded.items[has_gold]).to_numpy()
        mv = majority_vote(item_idx=encoded.item_idx, label=encoded.label, n_classes=k)
        ours = dawid_skene(**arrays, n_classes=k)
        ours_ck = dawid_skene(**arrays, n_classes=k, smoothing=0.0, min_answers=0, tol=1e-6, max_iter=100)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ck_ds = DawidSkene(n_iter=100).fit_predict(answers).reindex(encoded.items).to_numpy()
            ck_mv = MajorityVote().fit_predict(answers).reindex(encoded.items).to_numpy()
        accuracy = {
            name: float((values[has_gold] == truth).mean())
            for name, values in {
                "MV ours": classes[mv.labels],
                "MV ck": ck_mv,
                "DS ours": classes[ours.labels],
                "DS ours ck-set": classes[ours_ck.labels],
                "DS ck": ck_ds,
            }.items()
        }
        warned = item_warnings(ds=ours, mv=mv).any
        rows.append(
            [folder.name, f"{len(answers):,}", f"{encoded.n_items:,}", str(k)]
            + [f"{value:.4f}" for value in accuracy.values()]
            + [f"{100 * (accuracy['DS ours'] - accuracy['DS ck']):+.2f}", f"{warned.mean():.1%}"]
        )
    print_table(headers, rows)
    print("DS ours: defaults (smoothing 1, pooling below 5 answers, tol 1e-3); ck-set: smoothing 0, no pooling.")
    print("warned: top two posteriors within 0.1, MV tie, or DS != MV.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 500_000, 5_000_000])
    parser.add_argument("--quick", action="store_true", help="small sizes only (10k, 50k)")
    parser.add_argument("--crowdkit-max", type=int, default=500_000, help="skip crowd-kit above this many ratings")
    parser.add_argument(
        "--data", type=Path, default=None, help="folder of public datasets, e.g. ../shared/data/consensus"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bench_sizes([10_000, 50_000] if args.quick else args.sizes, args.crowdkit_max, args.seed)
    if args.data is not None:
        bench_public(args.data)


if __name__ == "__main__":
    main()
