"""Crisis setup in the admin without JSON: lists as words, the area drawn on a map, sources ticked per crisis."""

import json
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from geoloc_platform.crises.models import Crisis
from tests.conftest import SQUARE_AREA

pytestmark = pytest.mark.django_db


class FormValues(HTMLParser):
    """What a browser would submit for the page's main form, as it is rendered (checked boxes, selected options)."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._option: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        name = attributes.get("name")
        if tag == "input" and name and attributes.get("type") not in ("submit", "button", "file"):
            if attributes.get("type") in ("checkbox", "radio") and "checked" not in attributes:
                return
            self.values.setdefault(name, []).append(attributes.get("value") or "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in attributes:
                self.values.setdefault(self._select, []).append(attributes.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.values[self._textarea][0] = self.values[self._textarea][0].removeprefix("\n")
            self._textarea = None


def form_values(html: str) -> dict[str, list[str]]:
    parser = FormValues()
    parser.feed(html)
    return {name: values for name, values in parser.values.items() if name != "csrfmiddlewaretoken"}


@pytest.fixture
def coordinator_client(client, people):
    client.force_login(people["coordinator"])
    return client


def new_crisis_data(client, **changes) -> dict:
    values = form_values(client.get(reverse("admin:crises_crisis_add")).content.decode())
    values.update(
        {
            "name": ["Lisbon floods"],
            "slug": ["lisbon-floods"],
            "hazard": ["flood"],
            "languages": ["PT, en"],
            "country_codes": ["pt, es"],
            "hashtags": ["#CheiasLisboa, LisbonFloods"],
            "keywords": ["pt: cheia, inundação\nen: flood"],
            "crawl_sources": ["mastodon", "flickr"],
            "affected_area": [json.dumps(SQUARE_AREA)],
        }
    )
    values.update({name: value if isinstance(value, list) else [value] for name, value in changes.items()})
    return values


class TestCrisisSetupForm:
    def test_the_form_has_tag_inputs_a_drawing_map_and_source_boxes_and_no_inline_script(self, coordinator_client):
        page = coordinator_client.get(reverse("admin:crises_crisis_add")).content.decode()
        assert page.count("data-tag-input") == 3
        assert 'class="crisis-area-map"' in page
        assert "leaflet/draw/leaflet.draw.js" in page and "crises/affected_area.js" in page
        assert 'name="crawl_sources" value="flickr"' in page
        assert "<script>" not in page and "<script nonce" not in page
        assert "cdn" not in page.lower()

    def test_lists_typed_as_words_are_stored_as_lists_in_their_standard_case(self, coordinator_client):
        response = coordinator_client.post(reverse("admin:crises_crisis_add"), new_crisis_data(coordinator_client))
        assert response.status_code == 302, response.content.decode()[:3000]
        crisis = Crisis.objects.get(slug="lisbon-floods")
        assert crisis.languages == ["pt", "en"]
        assert crisis.country_codes == ["PT", "ES"]
        assert crisis.hashtags == ["CheiasLisboa", "LisbonFloods"]
        assert crisis.keywords == {"pt": ["cheia", "inundação"], "en": ["flood"]}
        assert crisis.crawl_sources == ["mastodon", "flickr"]
        assert crisis.affected_area == SQUARE_AREA

    @pytest.mark.parametrize(
        ("field", "typed", "error"),
        [
            ("languages", "pt, english", "“english” is not an ISO 639-1 language code"),
            ("languages", "pt, xx", "“xx” is not an ISO 639-1 language code"),
            ("country_codes", "BR, ZZ", "“ZZ” is not an ISO 3166-1 alpha-2 country code"),
            ("hashtags", "RS floods", "“RS floods” has a space"),
            ("hashtags", "RS-floods", "“RS-floods” is not a hashtag"),
            ("keywords", "flood, cheia", "Line 1: start with a language code and a colon"),
            ("keywords", "pt: cheia\nportuguese: cheia", "Line 2: “portuguese” is not an ISO 639-1 language code"),
            ("affected_area", json.dumps({"type": "Point", "coordinates": [0, 0]}), "Draw a bounding box or a polygon"),
        ],
    )
    def test_a_wrong_item_is_named_in_a_clear_error_and_nothing_is_saved(self, coordinator_client, field, typed, error):
        response = coordinator_client.post(
            reverse("admin:crises_crisis_add"), new_crisis_data(coordinator_client, **{field: typed})
        )
        assert response.status_code == 200
        assert error in response.content.decode()
        assert not Crisis.objects.filter(slug="lisbon-floods").exists()

    def test_a_crisis_can_be_crawled_on_no_platform_at_all(self, coordinator_client):
        data = new_crisis_data(coordinator_client)
        del data["crawl_sources"]
        coordinator_client.post(reverse("admin:crises_crisis_add"), data)
        assert Crisis.objects.get(slug="lisbon-floods").crawl_sources == []

    def test_the_change_form_shows_the_lists_as_words_and_saves_them_back_unchanged(self, coordinator_client, people):
        crisis = people["crisis"]
        Crisis.objects.filter(pk=crisis.pk).update(
            hashtags=["RSFloods"], keywords={"pt": ["enchente", "alagamento"]}, crawl_sources=["bluesky"]
        )
        url = reverse("admin:crises_crisis_change", args=[crisis.pk])
        page = coordinator_client.get(url).content.decode()
        assert 'value="pt, en"' in page and 'value="BR"' in page and 'value="RSFloods"' in page
        assert "pt: enchente, alagamento" in page
        values = form_values(page)
        assert values["crawl_sources"] == ["bluesky"]
        response = coordinator_client.post(url, values)
        assert response.status_code == 302, response.content.decode()[:3000]
        saved = Crisis.objects.get(pk=crisis.pk)
        assert (saved.languages, saved.country_codes, saved.hashtags) == (["pt", "en"], ["BR"], ["RSFloods"])
        assert saved.keywords == {"pt": ["enchente", "alagamento"]}
        assert saved.crawl_sources == ["bluesky"]
        assert saved.affected_area == SQUARE_AREA

    def test_another_crisis_s_coordinator_cannot_change_it(self, client, people):
        client.force_login(people["other_coordinator"])
        crisis = people["crisis"]
        url = reverse("admin:crises_crisis_change", args=[crisis.pk])
        assert client.get(url).status_code in (302, 403, 404)
        response = client.post(url, {"name": "Taken over", "hashtags": "Mine"})
        assert response.status_code in (302, 403, 404)
        assert Crisis.objects.get(pk=crisis.pk).name == crisis.name

    def test_sources_without_credentials_here_are_marked_as_such(self, coordinator_client, settings):
        settings.FLICKR_API_KEY = ""
        settings.MASTODON_INSTANCES = ["https://social.example"]
        page = coordinator_client.get(reverse("admin:crises_crisis_add")).content.decode()
        assert "Flickr (not configured on this server: no credentials)" in page
        assert "Mastodon (not configured" not in page


def test_a_new_crisis_is_crawled_on_every_platform_unless_unticked(coordinator_client):
    page = coordinator_client.get(reverse("admin:crises_crisis_add")).content.decode()
    assert form_values(page)["crawl_sources"] == ["mastodon", "bluesky", "x", "flickr"]
