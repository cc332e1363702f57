"""Services against the database: blurred copies, dashboard snapshots, retention purge, privacy policy."""

from datetime import timedelta

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.utils import timezone

from crawling.models import Media, Post
from geoloc_platform.crises.models import Crisis, CrisisStatusChange
from mapping import services
from mapping.models import BlurredImage, DashboardSnapshot
from tests.conftest import jpeg_bytes
from tests.mapping.conftest import make_point
from tests.mapping.test_privacy import cartoon_face


def test_media_blur_blurs_the_face_once_and_keeps_the_served_copy(active_crises):
    import io

    media = make_point(active_crises["crisis"])
    out = io.BytesIO()
    cartoon_face().save(out, "JPEG", quality=95)
    media.image.save("face.jpg", ContentFile(out.getvalue()), save=True)
    first = services.media_blur(media_id=media.pk)
    assert first.faces == 1 and first.detector in ("numpy-haar", "opencv-haar")
    assert services.media_blur(media_id=media.pk).pk == first.pk  # a second run changes nothing
    assert BlurredImage.objects.count() == 1
    media.refresh_from_db()
    assert media.image  # the EXIF-free copy is untouched


def test_public_images_blur_covers_public_points_only(active_crises):
    public = make_point(active_crises["crisis"], with_image=True)
    Crisis.objects.filter(pk=active_crises["other_crisis"].pk).update(visibility=Crisis.Visibility.PRIVATE)
    make_point(active_crises["other_crisis"], with_image=True)
    assert services.public_images_blur() == 1
    assert list(BlurredImage.objects.values_list("media_id", flat=True)) == [public.pk]


def test_dashboard_snapshot_counts_the_funnel_and_groups_by_predicted_difficulty(active_crises):
    crisis = active_crises["crisis"]
    make_point(crisis, precision="high")
    make_point(crisis, precision="low")
    post = Post.objects.create(crisis=crisis, source="mastodon", source_id="x")
    Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.IRRELEVANT)
    snapshot = services.dashboard_snapshot_refresh(crisis_id=crisis.pk)
    funnel = {step["step"]: step["count"] for step in snapshot.data["funnel"]}
    assert funnel == {
        "posts": 3, "images": 3, "unique": 3, "relevant": 2, "queued": 2, "geolocated": 2, "reviewed": 0,
    }  # fmt: skip
    unscored = snapshot.data["by_difficulty"]["unscored"]
    assert sorted(p[0] for p in unscored["points"]) == [0, 2]
    assert unscored["share_high_precision"] == 0.5
    assert len(snapshot.data["throughput"]["hours"]) == 49
    services.dashboard_snapshot_refresh(crisis_id=crisis.pk)
    assert DashboardSnapshot.objects.filter(crisis=crisis).count() == 1


class TestDashboardFreshness:
    def test_the_statistics_are_recomputed_once_older_than_their_max_age(self, active_crises, settings):
        settings.MAP_DASHBOARD_MAX_AGE_SECONDS = 5
        crisis = active_crises["crisis"]
        first = services.dashboard_snapshot_fresh(crisis=crisis)
        make_point(crisis)
        assert services.dashboard_snapshot_fresh(crisis=crisis).computed_at == first.computed_at  # young enough
        DashboardSnapshot.objects.filter(pk=first.pk).update(computed_at=timezone.now() - timedelta(seconds=6))
        fresh = services.dashboard_snapshot_fresh(crisis=crisis)
        assert timezone.now() - fresh.computed_at < timedelta(seconds=5)
        assert {s["step"]: s["count"] for s in fresh.data["funnel"]}["geolocated"] == 1

    def test_while_one_request_recomputes_the_others_get_the_snapshot_it_replaces(self, active_crises, settings):
        from django.core.cache import cache

        crisis = active_crises["crisis"]
        stale = services.dashboard_snapshot_refresh(crisis_id=crisis.pk)
        DashboardSnapshot.objects.filter(pk=stale.pk).update(computed_at=timezone.now() - timedelta(seconds=60))
        cache.set(f"dashboard-refresh:{crisis.pk}", 1, timeout=30)  # another request is recomputing
        try:
            served = services.dashboard_snapshot_fresh(crisis=crisis)
        finally:
            cache.delete(f"dashboard-refresh:{crisis.pk}")
        assert timezone.now() - served.computed_at >= timedelta(seconds=60)


@pytest.fixture
def closed_crisis(active_crises):
    crisis = active_crises["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.CLOSED)
    CrisisStatusChange.objects.create(crisis=crisis, from_status="active", to_status="closed")
    CrisisStatusChange.objects.filter(crisis=crisis).update(changed_at=timezone.now() - timedelta(days=400))
    return crisis


def test_retention_purge_removes_posts_and_originals_but_keeps_locations_and_images(
    closed_crisis, django_capture_on_commit_callbacks
):
    media = make_point(closed_crisis, text="my address is...", author="@alice", with_image=True)
    media.original.save("orig.jpg", ContentFile(jpeg_bytes()), save=True)
    original_path = media.original.path
    Media.objects.filter(pk=media.pk).update(exif_lat=1.0, exif_lon=2.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retention_purge_due() == 1
    media.refresh_from_db()
    post = media.post
    post.refresh_from_db()
    assert (post.text, post.author_handle, post.raw) == ("", "", {})
    assert not media.original and media.exif_lat is None
    assert media.image and media.location_consensus.lat is not None
    import os

    assert not os.path.exists(original_path)
    assert services.retention_purge_due() == 0  # done once


def test_retention_waits_for_the_retention_period(closed_crisis, settings):
    settings.MAP_RETENTION_DAYS = 10_000
    make_point(closed_crisis)
    assert services.retention_purge_due() == 0


def test_an_open_crisis_is_never_purged(active_crises):
    assert services.crisis_retention_purge(crisis_id=active_crises["crisis"].pk) == {"purged": False}


def test_a_volunteer_image_url_names_its_lease_and_cannot_be_altered(active_crises):
    media = make_point(active_crises["crisis"], with_image=True)
    url = services.volunteer_image_url(media=media, lease_id=7, volunteer_id=3)
    token = url.removeprefix("/map/media/lease/").removesuffix("/")
    assert services.lease_image_token_read(token=token) == (7, media.pk, 3)
    assert media.image.name not in url  # no file name handed out
    another_lease = signing.dumps([8, media.pk, 3], salt=services.LEASE_IMAGE_SALT).rsplit(":", 1)[0]
    signature = token.rsplit(":", 1)[1]
    assert services.lease_image_token_read(token=f"{another_lease}:{signature}") is None
    assert services.lease_image_token_read(token="not-a-token") is None


def test_an_image_never_stored_is_shown_from_its_post(active_crises):
    media = make_point(active_crises["crisis"])
    media.remote_url = "https://files.example/photo.jpg"
    assert services.volunteer_image_url(media=media, lease_id=1, volunteer_id=1) == media.remote_url
