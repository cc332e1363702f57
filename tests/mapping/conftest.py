"""Builders for mapping tests: posts with an image and a consensus location, written straight to the database."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from consensus.models import LocationConsensus
from crawling.models import Media, Post
from tests.conftest import jpeg_bytes

_counter = {"n": 0}


def make_point(
    crisis,
    *,
    lat: float = -30.03,
    lon: float = -51.22,
    radius: float = 120.0,
    precision: str = "high",
    text: str = "Flooded street",
    author: str = "@someone",
    url: str = "https://mastodon.example/@someone/1",
    hashtags=("flood",),
    age: timedelta = timedelta(0),
    status: str = LocationConsensus.Status.DONE,
    review: str = LocationConsensus.Review.AUTOMATIC,
    stage: str = Media.Stage.PUBLISHED,
    with_image: bool = False,
) -> Media:
    _counter["n"] += 1
    n = _counter["n"]
    now = timezone.now()
    post = Post.objects.create(
        crisis=crisis,
        source=Post.Source.MASTODON,
        source_id=f"p{n}",
        url=url,
        author_handle=author,
        text=text,
        posted_at=now - age,
        hashtags=list(hashtags),
    )
    media = Media.objects.create(crisis=crisis, post=post, stage=stage)
    if with_image:
        media.image.save(f"m{n}.jpg", ContentFile(jpeg_bytes()), save=True)
    LocationConsensus.objects.create(
        media=media,
        crisis=crisis,
        status=status,
        reason="test",
        lat=lat,
        lon=lon,
        radius_68_m=radius,
        radius_95_m=radius * 2,
        precision=precision,
        n_answers=3,
        review=review,
    )
    if age:
        LocationConsensus.objects.filter(media=media).update(updated_at=now - age, computed_at=now - age)
    return media


@pytest.fixture
def active_crises(people):
    """Both crises launched (active), so the map shows them."""
    from geoloc_platform.crises.models import Crisis

    Crisis.objects.filter(pk__in=[people["crisis"].pk, people["other_crisis"].pk]).update(status=Crisis.Status.ACTIVE)
    people["crisis"].refresh_from_db()
    people["other_crisis"].refresh_from_db()
    return people
