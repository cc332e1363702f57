"""Perceptual hashes (imagededup's PHash) and Hamming distances for finding duplicate images in a crisis."""

import io
from collections.abc import Iterable

import numpy as np
from PIL import Image
from scipy.fftpack import dct

# PHash looks at a 32x32 grey thumbnail. Decoding at a reduced scale (JPEG draft mode) gives the same
# hash for a fraction of the decode time: the bench compares this against Pillow's full decode.
_DRAFT_SIZE = (128, 128)
_PHASH_SIDE = 32  # the thumbnail the DCT runs on
_PHASH_KEPT = 8  # the top-left 8x8 low frequencies make the 64 bits


def phash_image(image: Image.Image) -> str:
    """The PHash of an opened image, as 16 hex digits."""
    if image.format == "JPEG":
        image.draft("L", _DRAFT_SIZE)
    grey = image.convert("L")
    if min(grey.size) > 2 * _DRAFT_SIZE[0]:
        grey = grey.reduce(max(1, min(grey.size) // _DRAFT_SIZE[0]))
    return phash_grey(grey)


def phash_grey(grey: Image.Image) -> str:
    """imagededup's PHash, step for step (the tests hold it to imagededup's hashes): importing imagededup itself
    pulls in torch and torchvision, which cost every worker process 10 s idle and 40-50 s on a loaded machine
    before its first duplicate check."""
    thumbnail = np.asarray(grey.resize((_PHASH_SIDE, _PHASH_SIDE), Image.LANCZOS).convert("L")).astype("uint8")
    coefficients = dct(dct(thumbnail, axis=0), axis=1)[:_PHASH_KEPT, :_PHASH_KEPT]
    bits = coefficients >= np.median(coefficients.flatten()[1:])  # the median leaves out the DC term
    return "".join(f"{byte:02x}" for byte in np.packbits(bits))


def phash_bytes(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return phash_image(image)


def phash_file(path) -> str:
    with Image.open(path) as image:
        return phash_image(image)


def hamming_distances(phash: str, others: Iterable[str]) -> np.ndarray:
    """Hamming distance from ``phash`` to each of ``others``: one vectorised XOR and popcount."""
    candidates = np.fromiter((int(other, 16) for other in others), dtype=np.uint64)
    return np.bitwise_count(candidates ^ np.uint64(int(phash, 16)))
