"""Files a coordinator would upload to the admin's import, generated: CSVs, and ZIPs of images with their CSV."""

import csv
import io
import zipfile

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.crawling.fakes import encode, picture

HEADER = ["file", "caption", "lat", "lon", "date", "taken_by"]


def photo(seed: int) -> bytes:
    """A JPEG the relevance rules keep (over 100 px a side, grainy like a photograph, not flat like a poster),
    with shapes of its own so that no two seeds look like duplicates."""
    shapes = np.asarray(picture(seed=seed, size=(320, 240)), dtype=float)
    grain = np.random.default_rng(seed).normal(0, 20, shapes.shape)
    return encode(Image.fromarray(np.clip(shapes + grain, 0, 255).astype("uint8"), "RGB"), "JPEG")


def csv_text(rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def zip_bytes(files: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def upload(name: str, data: bytes | str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data.encode() if isinstance(data, str) else data)


# Five rows: three good photos, one file missing from the ZIP, one file that is not an image.
FLOOD_ROWS = [
    ["photos/street.jpg", "Rua alagada no centro de Porto Alegre", "-30.03", "-51.22", "2024-05-06", "Ana"],
    ["photos/bridge.jpg", "Ponte caiu em Eldorado do Sul", "", "", "2024-05-07T10:30:00Z", "Bruno"],
    ["photos/missing.jpg", "Foto que não veio", "", "", "", "Caio"],
    ["photos/roof.jpg", "Telhados em Canoas", "-29.92", "-51.18", "", "Dora"],
    ["photos/notes.jpg", "Um arquivo que não é imagem", "", "", "", "Eva"],
]


def flood_zip() -> bytes:
    return zip_bytes(
        {
            "floods/posts.csv": csv_text(FLOOD_ROWS),
            "floods/photos/street.jpg": photo(1),
            "floods/photos/bridge.jpg": photo(2),
            "floods/photos/roof.jpg": photo(3),
            "floods/photos/notes.jpg": b"these are notes, not a picture",
            "__MACOSX/floods/._posts.csv": b"\x00\x05\x16\x07",
        }
    )
