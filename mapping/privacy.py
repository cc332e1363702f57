"""Privacy helpers: snapping public points to a grid, and finding and blurring faces and licence plates.

Detection uses OpenCV's Haar cascades (the XML files under ``mapping/cascades/``, copied from the
opencv-python-headless 4.x wheel). OpenCV 5, which this environment has (rapidocr pulls opencv-python 5), dropped
``cv2.CascadeClassifier``; so where it is missing the same cascades run in ``HaarCascade`` below, a NumPy
Viola-Jones evaluator that follows ``cv::CascadeClassifier::detectMultiScale`` (image pyramid, variance-normalised
stumps, ``groupRectangles``). Pure functions: no database.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

METRES_PER_DEGREE = 111_320.0
CASCADES = Path(__file__).resolve().parent / "cascades"
FACE_CASCADE = CASCADES / "haarcascade_frontalface_default.xml"
PLATE_CASCADE = CASCADES / "haarcascade_license_plate_rus_16stages.xml"
DETECT_MAX_SIDE = 800  # detection runs on a copy no larger than this; boxes are scaled back


def grid_snap(lat: float, lon: float, grid_m: float) -> tuple[float, float]:
    """The centre of the grid cell holding (lat, lon); cells are ``grid_m`` high and about as wide."""
    step_lat = grid_m / METRES_PER_DEGREE
    centre_lat = (math.floor(lat / step_lat) + 0.5) * step_lat
    centre_lat = max(-90.0, min(90.0, centre_lat))
    step_lon = grid_m / (METRES_PER_DEGREE * max(math.cos(math.radians(centre_lat)), 0.01))
    centre_lon = (math.floor(lon / step_lon) + 0.5) * step_lon
    centre_lon = max(-180.0, min(180.0, centre_lon))
    return centre_lat, centre_lon


def coarse_radius(radius_m: float | None, grid_m: float) -> float:
    """A snapped point is anywhere in its cell: at least half the cell's diagonal."""
    return max(radius_m or 0.0, grid_m * math.sqrt(2) / 2)


# --- Haar cascades ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stage:
    threshold: float
    feature: np.ndarray  # index into the cascade's features, per stump
    node_threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray


class HaarCascade:
    """A boosted cascade of Haar stumps read from OpenCV's XML (new and old formats, upright features only)."""

    def __init__(self, *, width: int, height: int, stages: list[_Stage], rects: list[list[tuple]]):
        self.width, self.height = width, height
        self.stages = stages
        self.rects = rects  # per feature: [(x, y, w, h, weight), ...]

    @classmethod
    def from_xml(cls, path: Path) -> HaarCascade:
        root = ET.parse(path).getroot()  # noqa: S314 - a packaged file
        cascade = root[0]
        if cascade.find("stageType") is not None:
            return cls._from_new_format(cascade)
        return cls._from_old_format(cascade)

    @classmethod
    def _from_new_format(cls, cascade) -> HaarCascade:
        rects = []
        for feature in cascade.find("features"):
            rects.append([_rect(r.text) for r in feature.find("rects")])
            tilted = feature.find("tilted")
            if tilted is not None and tilted.text.strip() == "1":
                raise ValueError("tilted Haar features are not supported")
        stages = []
        for stage in cascade.find("stages"):
            nodes, leaves = [], []
            for weak in stage.find("weakClassifiers"):
                left, right, index, threshold = weak.find("internalNodes").text.split()
                if int(left) != 0 or int(right) != -1:
                    raise ValueError("only stump cascades are supported")
                nodes.append((int(index), float(threshold)))
                leaves.append([float(v) for v in weak.find("leafValues").text.split()])
            stages.append(
                _Stage(
                    threshold=float(stage.find("stageThreshold").text),
                    feature=np.array([n[0] for n in nodes]),
                    node_threshold=np.array([n[1] for n in nodes]),
                    left=np.array([v[0] for v in leaves]),
                    right=np.array([v[1] for v in leaves]),
                )
            )
        return cls(
            width=int(cascade.find("width").text), height=int(cascade.find("height").text), stages=stages, rects=rects
        )

    @classmethod
    def _from_old_format(cls, cascade) -> HaarCascade:
        width, height = (int(v) for v in cascade.find("size").text.split())
        rects, stages = [], []
        for stage in cascade.find("stages"):
            indices, thresholds, lefts, rights = [], [], [], []
            for tree in stage.find("trees"):
                if len(tree) != 1 or tree[0].find("left_val") is None or tree[0].find("right_val") is None:
                    raise ValueError("only stump cascades are supported")
                node = tree[0]
                feature = node.find("feature")
                if feature.find("tilted").text.strip() == "1":
                    raise ValueError("tilted Haar features are not supported")
                indices.append(len(rects))
                rects.append([_rect(r.text) for r in feature.find("rects")])
                thresholds.append(float(node.find("threshold").text))
                lefts.append(float(node.find("left_val").text))
                rights.append(float(node.find("right_val").text))
            stages.append(
                _Stage(
                    threshold=float(stage.find("stage_threshold").text),
                    feature=np.array(indices),
                    node_threshold=np.array(thresholds),
                    left=np.array(lefts),
                    right=np.array(rights),
                )
            )
        return cls(width=width, height=height, stages=stages, rects=rects)

    def detect(
        self, gray: np.ndarray, *, scale_factor: float = 1.1, min_neighbors: int = 3, min_size: int = 0
    ) -> list[tuple[int, int, int, int]]:
        """(x, y, w, h) boxes, as ``detectMultiScale`` finds them on an 8-bit grey image."""
        image = Image.fromarray(gray)
        found: list[tuple[int, int, int, int]] = []
        factor = 1.0
        while True:
            win_w, win_h = round(self.width * factor), round(self.height * factor)
            scaled_w, scaled_h = round(gray.shape[1] / factor), round(gray.shape[0] / factor)
            if scaled_w < self.width or scaled_h < self.height:
                break
            if win_w >= min_size and win_h >= min_size:
                scaled = image if factor == 1.0 else image.resize((scaled_w, scaled_h), Image.Resampling.BILINEAR)
                step = 1 if factor > 2 else 2
                for x, y in self._scan(np.asarray(scaled, dtype=np.float64), step=step):
                    found.append((round(x * factor), round(y * factor), win_w, win_h))
            factor *= scale_factor
        return group_rectangles(found, min_neighbors=min_neighbors)

    def _scan(self, pixels: np.ndarray, *, step: int) -> list[tuple[int, int]]:
        rows, cols = pixels.shape
        stride = cols + 1
        integral = np.zeros((rows + 1, cols + 1))
        integral[1:, 1:] = pixels.cumsum(0).cumsum(1)
        squares = np.zeros((rows + 1, cols + 1))
        squares[1:, 1:] = (pixels * pixels).cumsum(0).cumsum(1)
        flat, flat_sq = integral.ravel(), squares.ravel()
        ys, xs = np.meshgrid(
            np.arange(0, rows - self.height + 1, step), np.arange(0, cols - self.width + 1, step), indexing="ij"
        )
        base = (ys * stride + xs).ravel()

        def box(table, at, x, y, w, h):
            top_left = at + y * stride + x
            return (
                table[top_left + h * stride + w] - table[top_left + w] - table[top_left + h * stride] + table[top_left]
            )

        # Variance normalisation over the window less a one-pixel border, as OpenCV's HaarEvaluator does.
        area = (self.width - 2) * (self.height - 2)
        total = box(flat, base, 1, 1, self.width - 2, self.height - 2)
        total_sq = box(flat_sq, base, 1, 1, self.width - 2, self.height - 2)
        spread = area * total_sq - total * total
        norm = 1.0 / np.where(spread > 0, np.sqrt(np.maximum(spread, 0)), 1.0)
        alive = np.arange(base.size)
        for stage in self.stages:
            if alive.size == 0:
                break
            at = base[alive]
            score = np.zeros(alive.size)
            for feature, threshold, left, right in zip(
                stage.feature, stage.node_threshold, stage.left, stage.right, strict=True
            ):
                value = np.zeros(alive.size)
                for x, y, w, h, weight in self.rects[feature]:
                    value += weight * box(flat, at, x, y, w, h)
                score += np.where(value * norm[alive] < threshold, left, right)
            alive = alive[score >= stage.threshold]
        positions = base[alive]
        return [(int(p % stride), int(p // stride)) for p in positions]


def _rect(text: str) -> tuple[int, int, int, int, float]:
    x, y, w, h, weight = text.split()
    return int(x), int(y), int(w), int(h), float(weight)


def group_rectangles(
    boxes: list[tuple[int, int, int, int]], *, min_neighbors: int, eps: float = 0.2
) -> list[tuple[int, int, int, int]]:
    """OpenCV's ``groupRectangles``: cluster similar boxes, keep clusters of more than ``min_neighbors``."""
    if min_neighbors <= 0 or not boxes:
        return list(boxes)
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for j in range(i):
            x2, y2, w2, h2 = boxes[j]
            delta = eps * (min(w1, w2) + min(h1, h2)) * 0.5
            if (
                abs(x1 - x2) <= delta
                and abs(y1 - y2) <= delta
                and abs(x1 + w1 - x2 - w2) <= delta
                and abs(y1 + h1 - y2 - h2) <= delta
            ):
                parent[find(i)] = find(j)
    clusters: dict[int, list[tuple[int, int, int, int]]] = {}
    for i, found in enumerate(boxes):
        clusters.setdefault(find(i), []).append(found)
    grouped = []
    for members in clusters.values():
        if len(members) <= min_neighbors:
            continue
        n = len(members)
        grouped.append(tuple(round(sum(m[k] for m in members) / n) for k in range(4)))
    return grouped


@cache
def _numpy_cascade(path: Path) -> HaarCascade:
    return HaarCascade.from_xml(path)


def detector_name() -> str:
    import cv2

    return "opencv-haar" if hasattr(cv2, "CascadeClassifier") else "numpy-haar"


def _detect(path: Path, gray: np.ndarray, *, min_neighbors: int, min_size: int) -> list[tuple[int, int, int, int]]:
    import cv2

    if hasattr(cv2, "CascadeClassifier"):  # OpenCV 4: the native implementation of the same cascades
        classifier = cv2.CascadeClassifier(str(path))
        found = classifier.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(min_size, min_size)
        )
        return [tuple(int(v) for v in box) for box in found]
    return _numpy_cascade(path).detect(gray, min_neighbors=min_neighbors, min_size=min_size)


@dataclass(frozen=True)
class Detections:
    faces: list[tuple[int, int, int, int]]
    plates: list[tuple[int, int, int, int]]


def sensitive_regions(image: Image.Image) -> Detections:
    """Faces and licence plates in ``image``, as boxes in its own pixels."""
    scale = min(1.0, DETECT_MAX_SIDE / max(image.size))
    small = image.convert("L")
    if scale < 1.0:
        small = small.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    gray = np.asarray(small, dtype=np.uint8)
    # Privacy before precision: fewer neighbours than OpenCV's default 3 blurs a little more than needed.
    faces = _detect(FACE_CASCADE, gray, min_neighbors=2, min_size=20)
    plates = _detect(PLATE_CASCADE, gray, min_neighbors=2, min_size=0)

    def back(boxes):
        return [tuple(round(v / scale) for v in found) for found in boxes]

    return Detections(faces=back(faces), plates=back(plates))


def blur_regions(image: Image.Image, boxes: list[tuple[int, int, int, int]], *, pad: float = 0.2) -> Image.Image:
    """A copy of ``image`` with each box (grown by ``pad``) blurred beyond recognition."""
    out = image.convert("RGB")
    for x, y, w, h in boxes:
        grow_w, grow_h = int(w * pad), int(h * pad)
        area = (max(0, x - grow_w), max(0, y - grow_h), min(out.width, x + w + grow_w), min(out.height, y + h + grow_h))
        if area[2] <= area[0] or area[3] <= area[1]:
            continue
        region = out.crop(area)
        # Pixelate first (destroys detail a blur could leak), then blur the blocks' edges.
        block = max(1, min(region.size) // 8)
        region = region.resize((max(1, region.width // block), max(1, region.height // block)), Image.Resampling.BOX)
        region = region.resize((area[2] - area[0], area[3] - area[1]), Image.Resampling.NEAREST)
        out.paste(region.filter(ImageFilter.GaussianBlur(radius=max(2, block // 2))), area[:2])
    return out
