"""A query compiled once per process gives what the ORM gives, with each call's own arguments."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crawling.models import Post
from geoloc_platform.prepared import PreparedQuery
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
