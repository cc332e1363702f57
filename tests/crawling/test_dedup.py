"""Duplicates within a crisis: PHash (imagededup's) of the served copy; exact and near copies form one group."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from crawling import dedup, pipeline, selectors, services
from crawling.models import Media, Post
from tests.conftest import make_crisis
from tests.crawling.fakes import Reply, encode, picture, rotated_jpeg

pytestmark = pytest.mark.django_db

OURS = (Media.Stage.NEW, Media.Stage.FETCHED)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fetched(crisis, tmp_path):
    """Store bytes as a fetched image of ``crisis`` (or another crisis), ready for the duplicate check."""
    counter = iter(range(1, 1000))

    def make(data: bytes, *, in_crisis=None) -> Media:
        n = next(counter)
        path = tmp_path / f"image-{n}.bin"
        path.write_bytes(data)
        target = in_crisis or crisis
        post = Post.objects.create(crisis=target, source=Post.Source.CSV, source_id=f"p{n}")
        media = Media.objects.create(crisis=target, post=post, source_path=str(path))
        assert services.media_fetch(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.FETCHED
        return media

    return make


def check(media: Media) -> Media:
    services.media_dedup(media_id=media.pk)
    media.refresh_from_db()
    return media


def original() -> Image.Image:
    return picture(seed=7, size=(240, 180))


class TestMediaDedup:
    def test_the_first_image_is_unique_and_keeps_its_hash(self, fetched):
        media = check(fetched(encode(original(), "JPEG", quality=95)))
        assert media.stage == Media.Stage.UNIQUE
        assert len(media.phash) == 16 and media.duplicate_of is None

    def test_an_exact_copy_joins_the_first(self, fetched):
        data = encode(original(), "JPEG", quality=95)
        first, copy = check(fetched(data)), check(fetched(data))
        assert (copy.stage, copy.duplicate_of_id) == (Media.Stage.DUPLICATE, first.pk)

    @pytest.mark.parametrize(
        "variant",
        [
            lambda image: encode(image, "JPEG", quality=35),
            lambda image: encode(image.resize((120, 90)), "JPEG", quality=80),
            lambda image: encode(image.resize((480, 360)), "PNG"),
            lambda image: encode(image, "WEBP", quality=50),
        ],
        ids=["recompressed", "halved", "doubled-png", "webp"],
    )
    def test_recompressed_and_resized_copies_are_near_duplicates(self, fetched, variant):
        first = check(fetched(encode(original(), "JPEG", quality=95)))
        copy = check(fetched(variant(original())))
        assert (copy.stage, copy.duplicate_of_id) == (Media.Stage.DUPLICATE, first.pk)

    def test_a_rotated_original_matches_its_upright_copy(self, fetched):
        upright = Image.open(io.BytesIO(rotated_jpeg())).transpose(Image.Transpose.ROTATE_270)
        first = check(fetched(rotated_jpeg()))  # EXIF orientation applied when stored
        copy = check(fetched(encode(upright, "PNG")))
        assert copy.duplicate_of_id == first.pk

    def test_a_different_picture_is_unique(self, fetched):
        check(fetched(encode(original(), "JPEG")))
        other = check(fetched(encode(picture(seed=2, size=(240, 180)), "JPEG")))
        assert other.stage == Media.Stage.UNIQUE

    def test_a_copy_of_a_copy_points_at_the_representative(self, fetched):
        first = check(fetched(encode(original(), "JPEG", quality=95)))
        copy = check(fetched(encode(original(), "JPEG", quality=60)))
        copy_of_copy = check(fetched(encode(original(), "JPEG", quality=60)))  # same bytes as ``copy``
        assert copy.duplicate_of_id == copy_of_copy.duplicate_of_id == first.pk

    def test_copies_in_another_crisis_are_not_duplicates(self, fetched):
        data = encode(original(), "JPEG")
        check(fetched(data))
        elsewhere = check(fetched(data, in_crisis=make_crisis(slug="elsewhere")))
        assert elsewhere.stage == Media.Stage.UNIQUE

    def test_the_hamming_threshold_is_a_setting(self, fetched, settings):
        first = check(fetched(encode(original(), "JPEG", quality=95)))
        cropped = original().crop((20, 15, 240, 180)).resize((240, 180))
        distance = int(dedup.hamming_distances(dedup.phash_bytes(encode(cropped, "PNG")), [first.phash])[0])
        assert distance > 0
        settings.DEDUP_MAX_DISTANCE = distance - 1
        assert check(fetched(encode(cropped, "PNG"))).stage == Media.Stage.UNIQUE

    def test_a_second_delivery_changes_nothing(self, fetched):
        media = fetched(encode(original(), "JPEG"))
        assert services.media_dedup(media_id=media.pk) is True
        assert services.media_dedup(media_id=media.pk) is False

    def test_the_duplicate_group_lists_the_representative_first(self, fetched):
        data = encode(original(), "JPEG")
        first, second, third = check(fetched(data)), check(fetched(data)), check(fetched(data))
        group = list(selectors.media_duplicate_group(media_id=third.pk).values_list("pk", flat=True))
        assert group == [first.pk, second.pk, third.pk]


class TestPipeline:
    def test_a_crawled_image_is_fetched_and_checked_in_one_flow(
        self, server, loopback, crisis, django_capture_on_commit_callbacks, monkeypatch
    ):
        # Only this app's steps: later stages belong to other apps and have their own tests.
        monkeypatch.setattr(pipeline, "_STEP_TASKS", {k: v for k, v in pipeline._STEP_TASKS.items() if k in OURS})
        server.route("/a.jpg", Reply.image(encode(original(), "JPEG")))
        server.route("/b.jpg", Reply.image(encode(original(), "JPEG", quality=40)))
        post = Post.objects.create(crisis=crisis, source=Post.Source.MASTODON, source_id="1")
        with django_capture_on_commit_callbacks(execute=True):
            first = Media.objects.create(crisis=crisis, post=post, position=0, remote_url=server.url("/a.jpg"))
            second = Media.objects.create(crisis=crisis, post=post, position=1, remote_url=server.url("/b.jpg"))
            services.media_nudge(media_id=first.pk)
            services.media_nudge(media_id=second.pk)
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.stage == Media.Stage.UNIQUE
        assert (second.stage, second.duplicate_of_id) == (Media.Stage.DUPLICATE, first.pk)


class TestPhash:
    # Computed by imagededup 0.3.3.post2's PHash().encode_image on the same grey images: our port must not drift,
    # or every stored hash would stop matching new ones.
    @pytest.mark.parametrize(
        ("seed", "expected"), [(1, "e11ee82754e38ef2"), (2, "c3396c3ab1b5ce4a"), (3, "97b5996a686e4ae4")]
    )
    def test_the_hash_is_imagededups(self, seed, expected):
        assert dedup.phash_image(picture(seed=seed, size=(240, 180))) == expected

    def test_hashing_imports_neither_imagededup_nor_torch(self):
        # Their import cost every worker 10-50 s before its first duplicate check.
        script = (
            "import sys; from PIL import Image; from crawling import dedup; "
            "dedup.phash_image(Image.new('RGB', (200, 150), (9, 99, 199))); "
            "print(sorted(name for name in ('imagededup', 'torch', 'torchvision') if name in sys.modules))"
        )
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "[]"


def test_hamming_distances_count_differing_bits():
    assert list(
        dedup.hamming_distances("0000000000000000", ["0000000000000000", "000000000000000f", "ffffffffffffffff"])
    ) == [0, 4, 64]
