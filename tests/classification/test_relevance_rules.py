"""The relevance rules on generated images: each rule fires on its clear case, photographs are kept."""

import numpy as np
from PIL import Image, ImageDraw

from classification.relevance.ocr import OcrResult
from classification.relevance.rules import judge


def photo(size=(400, 300), seed=1) -> Image.Image:
    """Smooth gradients plus noise: many colours, like a photograph."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(0, 200, w)[None, :, None] + np.linspace(0, 50, h)[:, None, None]
    pixels = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype("uint8")
    return Image.fromarray(pixels, "RGB")


def poster(size=(400, 400)) -> Image.Image:
    """A flat background with a few blocks of colour, like a meme or an announcement."""
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 380, 120), fill=(200, 30, 30))
    draw.text((40, 200), "DONATE NOW", fill=(0, 0, 0))
    return image


class TestRules:
    def test_a_photograph_is_kept(self):
        verdict = judge(photo())
        assert not verdict.drop and verdict.rule == ""

    def test_placeholder_alt_text_is_dropped(self):
        assert judge(photo(), alt_text="Image not available").rule == "placeholder"

    def test_placeholder_url_is_dropped(self):
        assert judge(photo(), url="https://cdn.example/img/no-image.png").rule == "placeholder"

    def test_tiny_images_are_dropped(self):
        assert judge(photo(size=(80, 60))).rule == "tiny"

    def test_banners_are_dropped(self):
        verdict = judge(photo(size=(1200, 200)))
        assert verdict.rule == "banner" and verdict.details["aspect_ratio"] == 6.0

    def test_blank_images_are_dropped(self):
        assert judge(Image.new("RGB", (300, 300), (12, 12, 12))).rule == "blank"

    def test_flat_graphics_are_dropped(self):
        assert judge(poster()).rule == "graphic"

    def test_mostly_text_images_are_dropped_by_ocr_area(self):
        def ocr(image):
            return OcrResult("BREAKING NEWS\nFLOOD WARNING", 0.45, (("BREAKING NEWS", 0.9),))

        verdict = judge(photo(), ocr=ocr)
        assert verdict.rule == "mostly_text" and verdict.ocr_text.startswith("BREAKING")

    def test_a_photo_with_a_street_sign_is_kept_and_its_text_returned(self):
        verdict = judge(photo(), ocr=lambda image: OcrResult("Rua Voluntários da Pátria", 0.03, ()))
        assert not verdict.drop and verdict.ocr_text == "Rua Voluntários da Pátria"
