"""Crowd-work fixtures: an active crisis with queued images, and volunteers."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from crawling.models import Media, Post
from geoloc_platform.crises.services import crisis_transition
from tasks_app import services
from tests.conftest import jpeg_bytes, make_crisis, make_user


def add_media(crisis, *, count: int = 1, stage: str = Media.Stage.FETCHED, with_file: bool = False, **post_fields):
    """``count`` images of distinct posts in ``crisis``, in ``stage``."""
    start = Post.objects.filter(crisis=crisis).count()
    media = []
    for index in range(start, start + count):
        post = Post.objects.create(
            crisis=crisis,
            source=Post.Source.DEMO,
            source_id=f"post-{index}",
            text=post_fields.get("text", f"Flooded street number {index} #EnchenteRS"),
            posted_at=post_fields.get("posted_at", timezone.now() - timedelta(hours=1)),
            geo_lat=post_fields.get("geo_lat"),
            geo_lon=post_fields.get("geo_lon"),
            geo_accuracy_m=post_fields.get("geo_accuracy_m"),
        )
        item = Media.objects.create(crisis=crisis, post=post, stage=stage)
        if with_file:
            item.image.save(f"media/test-{crisis.pk}-{index}.jpg", ContentFile(jpeg_bytes(size=(320, 240))), save=True)
            item.width, item.height = 320, 240
            item.save(update_fields=["width", "height"])
        media.append(item)
    return media


def queue(crisis, *, eases=(None,), labels=None, kinds=("rating", "geolocation"), with_file=False):
    """One queued image per ease, tasks created as the classifier would. Returns the images in order."""
    media = add_media(crisis, count=len(eases), stage=Media.Stage.DIFFICULTY_SCORED, with_file=with_file)
    for index, (item, ease) in enumerate(zip(media, eases, strict=True)):
        label = labels[index] if labels else ""
        services.crowd_tasks_create_for_media(media=item, predicted_ease=ease, predicted_label=label, kinds=kinds)
        Media.objects.filter(pk=item.pk).update(stage=Media.Stage.QUEUED)
    return media


@pytest.fixture
def crisis(people):
    """Fixed redundancy, no record required: the lease mechanics need several slots per image (the trust rules,
    the defaults, are tested in tests/tasks_app/test_trust.py and tests/consensus/test_trust.py)."""
    active = make_crisis(
        slug="canoas-floods",
        coordinator=people["coordinator"],
        geolocation_redundancy=3,
        rating_redundancy=5,
        redundancy_policy="fixed",
        publish_requires_record=False,
    )
    return crisis_transition(crisis=active, action="launch", user=people["coordinator"])


@pytest.fixture
def volunteers(db):
    return [make_user(f"vol{i}") for i in range(8)]


def with_record(user, *, correct: int = 10, checked: int | None = None, gold: int | None = None):
    """Give a volunteer a track record from an earlier crisis, as the consensus app records it."""
    from consensus.models import VolunteerSkill
    from consensus.selectors import volunteer_record
    from geoloc_platform.crises.models import Crisis

    past = Crisis.objects.filter(slug="past-crisis").first() or make_crisis(slug="past-crisis")
    checked = correct if checked is None else checked
    gold = correct if gold is None else gold
    VolunteerSkill.objects.update_or_create(
        volunteer=user,
        crisis=past,
        defaults={
            "n_gold_checked": gold,
            "n_gold_correct": gold,
            "n_confirmed": correct - gold,
            "n_contradicted": checked - correct,
            "skill": 0.6,
        },
    )
    # The profile's record is the sum over crises, written when a skill is recomputed.
    services.volunteer_skill_set(user_id=user.pk, skill=0.6, record=volunteer_record(volunteer_id=user.pk))
    return user


STREET_VIEW = {"map_moved": True, "map_zoomed": True, "place_searched": False, "streetview_opened": True}


def pin_the_next_image(crisis, volunteer, lat: float) -> int:
    """A high-precision pin with a Street View view on the next geolocation the volunteer is given: its image."""
    lease = services.lease_grant(crisis=crisis, volunteer=volunteer, kind="geolocation")
    services.answer_submit(
        volunteer=volunteer,
        lease_id=lease.pk,
        kind="geolocation",
        lat=lat,
        lon=-51.2177,
        precision="high",
        pano_lat=lat,
        pano_lon=-51.2177,
        pano_heading=90.0,
        pano_pitch=0.0,
        interaction=STREET_VIEW,
    )
    return lease.task.media_id
