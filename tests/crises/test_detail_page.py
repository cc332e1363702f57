"""The crisis page says what it knows: empty sections left out, the countries named where no area is drawn."""

import pytest
from django.test import Client
from django.urls import reverse

from geoloc_platform.crises.models import Crisis
from tests.conftest import make_crisis

pytestmark = pytest.mark.django_db


def page_of(crisis) -> str:
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    response = Client().get(reverse("crises:detail", args=[crisis.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_drawn_area_is_mapped_and_given_sections_are_shown():
    html = page_of(make_crisis(description="Rain for a week.", volunteer_instructions="Look for signs."))
    assert 'id="area"' in html and "Rain for a week." in html and "Look for signs." in html


def test_without_a_drawn_area_the_page_names_the_crisis_countries_and_leaves_out_empty_sections():
    crisis = make_crisis(description="", volunteer_instructions="")
    Crisis.objects.filter(pk=crisis.pk).update(affected_area=None, country_codes=["US", "MX"])
    html = page_of(crisis)
    assert 'id="area"' not in html  # no empty world map
    assert "Not drawn: the crisis's countries, United States, Mexico." in html
    assert "<h2>About</h2>" not in html and "Instructions for volunteers" not in html


def test_without_an_area_or_countries_the_page_says_so():
    crisis = make_crisis()
    Crisis.objects.filter(pk=crisis.pk).update(affected_area=None, country_codes=[])
    assert "Not drawn yet." in page_of(crisis)
