"""Cheap rules that drop images no volunteer should see, tried in order; the first that fires decides.

Dropping a real disaster photo costs more than showing a meme, so every threshold leans towards keeping:
a rule fires only on a clear signal, and anything unsure goes on to the crowd.
"""

import re
from dataclasses import dataclass, field

from PIL import Image, ImageStat

PLACEHOLDER_PHRASES = re.compile(
    r"image (?:is )?(?:not|no longer) available|no image available|image unavailable|photo (?:not|no longer) "
    r"available|content (?:not|un)available|media (?:not|un)available|this (?:image|photo|media) (?:has been|was) "
    r"removed|image not found|placeholder",
    re.IGNORECASE,
)
PLACEHOLDER_URL = re.compile(
    r"placeholder|no[-_]?image|image[-_]?not[-_]?(?:found|available)|default[-_](?:profile|avatar)|spacer\.gif",
    re.IGNORECASE,
)


# Recorded as the rule when the image classifier (relevance/classifier.py) drops an image the rules kept.
CLASSIFIER_RULE = "classifier"
# Rules whose errors are near zero drop an image for good (stage IRRELEVANT). The others (graphic, mostly_text,
# the classifier) can be wrong about a real disaster image (a flood map, a warning poster, a screenshot of a
# flooded street): they only hold it back as "probably not relevant" for a coordinator to review.
DIRECT_DROP_RULES = frozenset({"placeholder", "tiny", "banner", "blank"})


@dataclass(frozen=True)
class Thresholds:
    min_side_px: int = 100
    max_aspect_ratio: float = 3.0
    max_text_area: float = 0.20
    max_flat_fraction: float = 0.70


@dataclass
class Verdict:
    drop: bool
    rule: str = ""  # placeholder, blank, tiny, banner, mostly_text, graphic; CLASSIFIER_RULE after the classifier
    score: float = 0.0  # rough probability that the image is irrelevant
    details: dict = field(default_factory=dict)
    ocr_text: str = ""


def flat_fraction(image: Image.Image) -> float:
    """Share of pixels in the 8 most frequent colours of a 96 px thumbnail (quantised to 32 levels).

    Photographs spread over many colours; posters, screenshots and memes sit on flat backgrounds.
    """
    thumb = image.convert("RGB")
    thumb.thumbnail((96, 96))
    quantised = thumb.point(lambda v: v & 0xF8)
    colours = quantised.getcolors(maxcolors=96 * 96) or []
    top = sorted((count for count, _ in colours), reverse=True)[:8]
    return sum(top) / float(thumb.width * thumb.height)


def judge(
    image: Image.Image, *, alt_text: str = "", url: str = "", thresholds: Thresholds | None = None, ocr=None
) -> Verdict:
    """Apply the rules to a decoded image. ``ocr(image) -> OcrResult`` is optional (mostly-text rule)."""
    t = thresholds or Thresholds()
    width, height = image.size
    details: dict = {"width": width, "height": height}
    if PLACEHOLDER_PHRASES.search(alt_text or "") or PLACEHOLDER_URL.search(url or ""):
        return Verdict(True, "placeholder", 0.95, details)
    if min(width, height) < t.min_side_px:
        return Verdict(True, "tiny", 0.9, details)
    aspect = max(width, height) / max(1, min(width, height))
    details["aspect_ratio"] = round(aspect, 2)
    if aspect > t.max_aspect_ratio:
        return Verdict(True, "banner", 0.85, details)
    stddev = max(ImageStat.Stat(image.convert("L")).stddev)
    details["stddev"] = round(stddev, 2)
    if stddev < 4.0:
        return Verdict(True, "blank", 0.9, details)
    ocr_text = ""
    if ocr is not None:
        read = ocr(image)
        ocr_text = read.text
        details["text_area"] = read.text_area
        if PLACEHOLDER_PHRASES.search(read.text):
            return Verdict(True, "placeholder", 0.95, details, ocr_text)
        if read.text_area > t.max_text_area:
            return Verdict(True, "mostly_text", 0.8, details, ocr_text)
    flat = flat_fraction(image)
    details["flat_fraction"] = round(flat, 3)
    if flat > t.max_flat_fraction:
        return Verdict(True, "graphic", 0.7, details, ocr_text)
    return Verdict(False, "", round(max(0.0, flat - 0.3), 3), details, ocr_text)
