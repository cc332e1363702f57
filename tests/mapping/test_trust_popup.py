"""The map's popup says who verified a point: counts and the best track record, never who the volunteers are."""

import pytest
from django.test import Client

from consensus.models import LocationConsensus
from tests.mapping.conftest import make_point

pytestmark = pytest.mark.django_db


def test_a_point_carries_who_verified_it_as_numbers_and_no_volunteer_ids(people):
    crisis, coordinator = people["crisis"], people["coordinator"]
    crisis.status = "active"
    crisis.save(update_fields=["status"])
    media = make_point(crisis)
    evidence = {
        "volunteers": 3,
        "with_record": 1,
        "best_record": 40,
        "best_record_gold": 38,
        "checks": 1,
        "streetview": True,
        "reviewed_by": "",
        "trusted_by": [people["volunteer"].pk],
    }
    LocationConsensus.objects.filter(media=media).update(trusted=True, evidence=evidence)
    client = Client()
    client.force_login(coordinator)
    (feature,) = client.get("/api/map/features/", {"crisis": crisis.slug}).json()["features"]
    assert feature["properties"]["trusted"] is True
    assert feature["properties"]["verified_by"] == {
        "volunteers": 3,
        "with_record": 1,
        "best_record": 40,
        "best_record_gold": 38,
        "checks": 1,
        "streetview": True,
        "reviewed_by": "",
    }
    assert "trusted_by" not in str(feature)


def test_the_map_page_has_the_words_of_the_popup_line(people):
    strings = Client().get("/map/").context["config"]["strings"]["trust"]
    assert "{record}" in strings["one"] and "{n}" in strings["one"]
