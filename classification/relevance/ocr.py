"""Text read from images by RapidOCR (optional: the onnxruntime wheel ships its models, nothing is downloaded)."""

import logging
from dataclasses import dataclass
from functools import lru_cache

logger = logging.getLogger(__name__)

MAX_OCR_SIDE_PX = 960  # larger images are shrunk first: OCR time grows with the pixel count


@dataclass(frozen=True)
class OcrResult:
    text: str
    text_area: float  # fraction of the image covered by text boxes, 0..1
    lines: tuple[tuple[str, float], ...]  # (text, confidence)


@lru_cache(maxsize=1)
def ocr_engine():
    """The process's RapidOCR engine, or None when rapidocr-onnxruntime is not installed."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        logger.warning("RELEVANCE_OCR_ENABLED but rapidocr-onnxruntime is not installed: no OCR")
        return None
    return RapidOCR()


def read_text(image, *, engine=None, min_confidence: float = 0.5) -> OcrResult:
    """OCR of a PIL image: the lines read with enough confidence and the share of the image they cover."""
    import numpy as np

    engine = engine or ocr_engine()
    if engine is None:
        return OcrResult("", 0.0, ())
    image = image.convert("RGB")
    image.thumbnail((MAX_OCR_SIDE_PX, MAX_OCR_SIDE_PX))
    result, _ = engine(np.asarray(image)[:, :, ::-1])  # RapidOCR expects BGR like OpenCV
    lines, area = [], 0.0
    for box, text, confidence in result or []:
        if float(confidence) < min_confidence:
            continue
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        area += (max(xs) - min(xs)) * (max(ys) - min(ys))
        lines.append((text, round(float(confidence), 3)))
    fraction = min(1.0, area / float(image.width * image.height)) if image.width and image.height else 0.0
    return OcrResult("\n".join(text for text, _ in lines), round(fraction, 4), tuple(lines))
