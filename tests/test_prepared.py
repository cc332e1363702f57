"""A query compiled once per process gives what the ORM gives, with each call's own arguments."""

from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from crawling.models import Media, Post
from geoloc_platform.crises.models import Crisis
from geoloc_platform.prepared import PreparedQuery, PreparedUpdate
from tests.conftest import make_crisis

pytestmark = pytest.mark.django_db


def test_each_call_runs_the_compiled_sql_with_its_own_arguments(db):
    crisis = make_crisis()
    now = timezone.now()
    old = Post.objects.create(crisis=crisis, source="demo", source_id="old", posted_at=now - timedelta(hours=3))
    new = Post.objects.create(crisis=crisis, source="demo", source_id="new", posted_at=now, geo_lat=-30.0)
    newest_after = PreparedQuery(
        lambda crisis_id, after, source_id: (
            Post.objects.filter(crisis_id=crisis_id, posted_at__gt=after, source="demo")
            .exclude(source_id=source_id)
            .order_by("-posted_at")
            .values_list("pk", "geo_lat")[:1]
        ),
        int,
        type(now),
        str,
    )
    assert newest_after.first(crisis.pk, now - timedelta(hours=4), "none") == (new.pk, -30.0)
    assert newest_after.first(crisis.pk, now - timedelta(hours=4), "new") == (old.pk, None)
    assert newest_after.first(crisis.pk, now - timedelta(hours=1), "new") is None
    assert newest_after.first(crisis.pk + 1, now - timedelta(hours=4), "none") is None


def test_an_argument_the_sql_does_not_use_is_refused():
    unused = PreparedQuery(lambda crisis_id: Post.objects.filter(source="demo").values_list("pk")[:1], int)
    with pytest.raises(ValueError, match="must reach the SQL"):
        unused.first(1)


def test_an_instance_is_the_one_the_orm_gives_with_its_related_objects_and_converted_fields(db):
    crisis = make_crisis()
    post = Post.objects.create(crisis=crisis, source="demo", source_id="p", posted_at=timezone.now(), geo_lat=-30.0)
    media = Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.QUEUED, alt_text="a street")
    with_post = PreparedQuery(
        lambda media_id: (
            Media.objects.select_related("post", "crisis").defer("crisis__description").filter(pk=media_id)[:1]
        ),
        int,
    )
    expected = Media.objects.select_related("post", "crisis").get(pk=media.pk)
    got = with_post.instance(media.pk)
    assert got == expected and got.alt_text == "a street" and got.stage == Media.Stage.QUEUED
    assert got.post.posted_at == expected.post.posted_at and got.post.geo_lat == -30.0
    # JSON and geometry columns come back converted, as from the ORM; a deferred column is read on access.
    assert got.crisis.country_codes == ["BR"] and got.crisis.affected_area == expected.crisis.affected_area
    assert got.crisis.get_deferred_fields() == {"description"} and got.crisis.description == expected.crisis.description
    assert with_post.instance(media.pk + 1000) is None


def test_a_locking_instance_query_is_refused_outside_a_transaction(transactional_db):
    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has no SELECT ... FOR UPDATE: the ORM runs such a query anywhere")
    crisis = make_crisis()
    locked = PreparedQuery(lambda crisis_id: Crisis.objects.select_for_update().filter(pk=crisis_id)[:1], int)
    with transaction.atomic():
        assert locked.instance(crisis.pk) == crisis
    with pytest.raises(TransactionManagementError):
        locked.instance(crisis.pk)


def test_an_update_changes_the_rows_its_arguments_pick_and_says_how_many(db):
    crisis = make_crisis()
    now = timezone.now()
    posts = [Post.objects.create(crisis=crisis, source="demo", source_id=f"p{n}", posted_at=now) for n in range(3)]
    media = [Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.QUEUED) for post in posts]
    advance = PreparedUpdate(
        lambda media_id, stage, to_stage, at: (
            Media.objects.filter(pk=media_id, stage=stage),
            {"stage": to_stage, "stage_changed_at": at},
        ),
        int,
        str,
        str,
        datetime,
    )
    later = now + timedelta(minutes=5)
    assert advance.run(media[0].pk, Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK, later) == 1
    assert advance.run(media[0].pk, Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK, later) == 0  # moved already
    media[0].refresh_from_db()
    assert (media[0].stage, media[0].stage_changed_at) == (Media.Stage.IN_CROWD_WORK, later)
    assert set(Media.objects.filter(pk__in=[m.pk for m in media[1:]]).values_list("stage", flat=True)) == {"queued"}


def test_an_update_that_needs_a_join_is_refused(db):
    joined = PreparedUpdate(
        lambda slug: (Media.objects.filter(crisis__slug=slug), {"stage": Media.Stage.QUEUED}),
        str,
    )
    with pytest.raises(ValueError, match="one table"):
        joined.run("porto-alegre-floods")
