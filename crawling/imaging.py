"""Decode untrusted image bytes safely: sniff the format, cap the pixels, apply EXIF orientation,
keep EXIF GPS and time as evidence, and re-encode a copy without any metadata for volunteers."""

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

# Magic numbers, checked before Pillow sees the bytes: the Content-Type header is never trusted.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)

Image.MAX_IMAGE_PIXELS = getattr(settings, "IMAGE_MAX_PIXELS", 40_000_000)


class ImageRejected(Exception):
    """The bytes are not an image we accept. ``reason`` is stored on the image."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    format: str
    content_type: str
    width: int
    height: int
    sha256: str
    clean_bytes: bytes  # re-encoded, oriented, no metadata
    clean_extension: str
    exif_lat: float | None
    exif_lon: float | None
    exif_taken_at: datetime | None


def sniff_format(data: bytes) -> str | None:
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes) -> DecodedImage:
    """Decode and clean ``data`` or raise ImageRejected with a short reason code and detail."""
    sniffed = sniff_format(data)
    # Read at each call, so the limit follows the settings (Pillow keeps it in a module global).
    Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS
    if sniffed is None:
        raise ImageRejected("not_an_image: unrecognised file signature")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[sniffed]) as image:
                image.load()
                exif = image.getexif()
                lat, lon = _exif_gps(exif)
                taken_at = _exif_time(exif)
                oriented = ImageOps.exif_transpose(image)
                clean, extension = _reencode(oriented, sniffed)
                width, height = oriented.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(f"decompression_bomb: {error}") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageRejected(f"undecodable: {error}") from error
    return DecodedImage(
        format=sniffed,
        content_type=ALLOWED_FORMATS[sniffed],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        clean_bytes=clean,
        clean_extension=extension,
        exif_lat=lat,
        exif_lon=lon,
        exif_taken_at=taken_at,
    )


def _reencode(image: Image.Image, source_format: str) -> tuple[bytes, str]:
    """Animated GIFs keep their first frame; everything is saved without EXIF, ICC kept off too."""
    out = io.BytesIO()
    if source_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue(), "jpg"
    frame = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    frame.save(
        out, "PNG" if source_format != "WEBP" else "WEBP", **({"quality": 90} if source_format == "WEBP" else {})
    )
    return out.getvalue(), "webp" if source_format == "WEBP" else "png"


_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769


def _exif_gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    gps = exif.get_ifd(_GPS_IFD)
    try:
        lat = _dms_to_degrees(gps[2], gps[1])
        lon = _dms_to_degrees(gps[4], gps[3])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _dms_to_degrees(dms, ref) -> float:
    degrees, minutes, seconds = (float(v) for v in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if str(ref).strip().upper() in ("S", "W") else value


def _exif_time(exif: Image.Exif) -> datetime | None:
    raw = exif.get_ifd(_EXIF_IFD).get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, else DateTime
    try:
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
