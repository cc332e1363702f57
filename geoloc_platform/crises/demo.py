"""A demo crisis made entirely by the platform: drawn street scenes and posts we wrote ourselves.

Nothing here is a third-party image or post. The scenes are drawn with Pillow from a seed: houses,
flood water, street signs with place names, and a few decoys the pipeline should catch (an exact and a
resized duplicate, a banner, a "no image" placeholder).
"""

import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEMO_SLUG = "demo-rio-grande-do-sul-floods"

DEMO_CRISIS = {
    "name": "Demo: Rio Grande do Sul floods",
    "slug": DEMO_SLUG,
    "hazard": "flood",
    "description": (
        "A generated demo crisis. Heavy rain flooded the Guaíba basin; photos of flooded streets are being "
        "posted across Porto Alegre, Canoas and Eldorado do Sul. Every image and post here was generated "
        "by the platform for training and testing."
    ),
    "volunteer_instructions": (
        "Look for street signs, shop names and landmarks.\n"
        "Place the pin where the photographer stood. Say how sure you are: High if you matched the exact "
        "spot in Street View, Medium for the right street or area, Low if you only know the town."
    ),
    "languages": ["pt", "en"],
    "keywords": {"pt": ["enchente", "alagamento", "inundação"], "en": ["flood", "flooding"]},
    "hashtags": ["EnchenteRS", "SOSRioGrandeDoSul"],
    "country_codes": ["BR"],
    "crawl_sources": [],  # generated posts only: the demo never pulls real posts from the social networks
    "affected_area": {
        "type": "Polygon",
        "coordinates": [[[-51.40, -30.20], [-51.00, -30.20], [-51.00, -29.80], [-51.40, -29.80], [-51.40, -30.20]]],
    },
}


@dataclass(frozen=True)
class DemoPost:
    source_id: str
    text: str
    sign: str | None
    lat: float | None = None
    lon: float | None = None


DEMO_POSTS = [
    DemoPost(
        "p01", "Água na altura das portas na Rua dos Andradas, centro de Porto Alegre #EnchenteRS", "R. DOS ANDRADAS"
    ),
    DemoPost(
        "p02",
        "Flooded street next to the Mercado Público in Porto Alegre this morning #SOSRioGrandeDoSul",
        "MERCADO PÚBLICO",
    ),
    DemoPost(
        "p03", "Canoas: bairro Mathias Velho completamente alagado. Precisamos de barcos! #EnchenteRS", "MATHIAS VELHO"
    ),
    DemoPost("p04", "Eldorado do Sul debaixo d'água, vista da BR-290 #EnchenteRS", "BR-290"),
    DemoPost(
        "p05",
        "Avenida Voluntários da Pátria tomada pela água perto da rodoviária, Porto Alegre",
        "AV. VOLUNTÁRIOS DA PÁTRIA",
    ),
    DemoPost("p06", "The water keeps rising. Stay safe everyone #EnchenteRS", None),
    DemoPost("p07", "Bairro Sarandi, zona norte de Porto Alegre, famílias ilhadas #SOSRioGrandeDoSul", "SARANDI"),
    DemoPost("p08", "São Leopoldo: dique rompido, ruas alagadas no centro", "SÃO LEOPOLDO"),
    DemoPost("p09", "Guaíba invadiu a orla, Usina do Gasômetro cercada de água #EnchenteRS", "GASÔMETRO"),
    DemoPost("p10", "Flood water at the Arena do Grêmio, Humaitá, Porto Alegre", "ARENA"),
    DemoPost("p11", "Canoas, Rua Boqueirão alagada, moradores sendo resgatados", "R. BOQUEIRÃO"),
    DemoPost("p12", "Rescue boats on Avenida Farrapos #SOSRioGrandeDoSul", "AV. FARRAPOS"),
    DemoPost("p13", "Minha rua está assim. Orem por nós", None),
    DemoPost("p14", "Ilha da Pintada, Porto Alegre: casas submersas", "ILHA DA PINTADA"),
    DemoPost("p15", "Posting again from a friend: Mercado Público flooded #EnchenteRS", "MERCADO PÚBLICO"),
    DemoPost("p16", "Eldorado do Sul, centro, água no telhado das casas", "ELDORADO DO SUL"),
    DemoPost(
        "p17", "Photo taken at Praça da Alfândega, Porto Alegre, 9am", "PRAÇA DA ALFÂNDEGA", lat=-30.0286, lon=-51.2310
    ),
    DemoPost("p18", "Donate now! Campanha SOS Rio Grande do Sul #EnchenteRS", None),
    DemoPost("p19", "Picture unavailable", None),
    DemoPost("p20", "Avenida Mauá, muro da Mauá segurando a água", "AV. MAUÁ"),
]


def draw_scene(*, seed: int, sign: str | None, size=(640, 480)) -> Image.Image:
    """A flooded street: sky, a row of houses with windows, water with ripples, and a street sign."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top = (rng.randint(90, 160), rng.randint(110, 170), rng.randint(150, 210))
    for y in range(height):  # overcast sky gradient
        shade = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(c * (1 - 0.4 * shade)) for c in top))
    water_line = int(height * rng.uniform(0.55, 0.72))
    x = 0
    while x < width:
        house_width = rng.randint(70, 150)
        house_top = rng.randint(int(height * 0.2), int(height * 0.45))
        color = tuple(rng.randint(120, 230) for _ in range(3))
        draw.rectangle([x, house_top, x + house_width - 6, water_line + 20], fill=color)
        draw.polygon(
            [(x - 4, house_top), (x + house_width // 2, house_top - 30), (x + house_width, house_top)],
            fill=(rng.randint(90, 140), 50, 40),
        )
        for wx in range(x + 10, x + house_width - 20, 28):
            for wy in range(house_top + 12, water_line - 20, 36):
                draw.rectangle([wx, wy, wx + 14, wy + 18], fill=(60, 70, 90))
        x += house_width
    water = (rng.randint(110, 140), rng.randint(95, 115), rng.randint(60, 80))  # muddy flood water
    draw.rectangle([0, water_line, width, height], fill=water)
    for _ in range(60):
        rx, ry = rng.randint(0, width), rng.randint(water_line + 4, height)
        draw.arc([rx, ry, rx + rng.randint(20, 60), ry + 6], 0, 180, fill=tuple(min(255, c + 40) for c in water))
    if sign:
        # Pillow's bundled font lacks accented capitals; signs are drawn in plain ASCII.
        sign = unicodedata.normalize("NFKD", sign).encode("ascii", "ignore").decode()
        font = ImageFont.load_default(size=22)
        left, top_ = rng.randint(20, width // 2), rng.randint(int(height * 0.15), int(height * 0.3))
        box = draw.textbbox((left, top_), sign, font=font)
        draw.rectangle([box[0] - 8, box[1] - 6, box[2] + 8, box[3] + 6], fill=(20, 90, 160), outline="white", width=2)
        draw.text((left, top_), sign, font=font, fill="white")
        draw.rectangle([box[0] + 4, box[3] + 6, box[0] + 10, water_line], fill=(80, 80, 80))  # the pole
    return image


def draw_banner(*, text: str) -> Image.Image:
    image = Image.new("RGB", (1200, 200), (200, 30, 40))
    draw = ImageDraw.Draw(image)
    draw.text((40, 70), text, font=ImageFont.load_default(size=48), fill="white")
    return image


def draw_placeholder() -> Image.Image:
    image = Image.new("RGB", (400, 300), (230, 230, 230))
    draw = ImageDraw.Draw(image)
    draw.text((90, 135), "image not available", font=ImageFont.load_default(size=24), fill=(120, 120, 120))
    return image


def demo_images(post: DemoPost, index: int) -> list[Image.Image]:
    """The pictures attached to a demo post; p15 re-posts p02's picture, resized, as a near duplicate."""
    if post.source_id == "p18":
        return [draw_banner(text="SOS RIO GRANDE DO SUL")]
    if post.source_id == "p19":
        return [draw_placeholder()]
    if post.source_id == "p15":
        original = draw_scene(seed=2, sign=DEMO_POSTS[1].sign)
        return [original.resize((480, 360))]
    return [draw_scene(seed=index + 1, sign=post.sign)]


def write_demo_files(folder: Path) -> dict[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    for index, post in enumerate(DEMO_POSTS):
        paths = []
        for position, picture in enumerate(demo_images(post, index)):
            path = folder / f"{post.source_id}-{position}.jpg"
            picture.save(path, "JPEG", quality=88)
            paths.append(path)
        files[post.source_id] = paths
    return files
