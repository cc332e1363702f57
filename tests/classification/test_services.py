"""Services against the database: the relevance step, restores as labels, text geolocation once per post."""

import io

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classification import services
from classification.geolocation.loader import geolocator_reset
from classification.models import MediaRelevance, PostGeolocation, RelevanceLabel
from crawling import pipeline
from crawling.models import Media, Post
from tests.classification.geo_fixtures import HARVEY_AREA, gazetteer  # noqa: F401
from tests.classification.test_relevance_rules import photo, poster
from tests.conftest import make_crisis

pytestmark = pytest.mark.django_db(transaction=True)


def png(image) -> ContentFile:
    out = io.BytesIO()
    image.save(out, "PNG")
    return ContentFile(out.getvalue(), name="image.png")


@pytest.fixture
def recorded_steps(monkeypatch):
    sent = []
    monkeypatch.setattr(pipeline, "send_step", lambda *, stage, media_id: sent.append((stage, media_id)) or True)
    return sent


def make_media(post, *, stage=Media.Stage.UNIQUE, size=(400, 300), position=0, alt_text=""):
    media = Media.objects.create(crisis=post.crisis, post=post, position=position, stage=stage, alt_text=alt_text)
    media.image.save(f"m{position}.png", png(photo(size=size)), save=True)
    media.width, media.height = size
    media.save(update_fields=["width", "height"])
    return media


@pytest.fixture
def post(db):
    crisis = make_crisis()
    return Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id="1", text="Rua alagada em Canoas")


class TestMediaFilterRelevance:
    def test_a_photo_is_kept_and_the_decision_stored(self, post, recorded_steps):
        media = make_media(post)
        assert services.media_filter_relevance(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.RELEVANT
        assert not MediaRelevance.objects.get(media=media).dropped
        assert recorded_steps == [(Media.Stage.RELEVANT, media.pk)]

    def test_a_banner_is_filtered_not_deleted(self, post, recorded_steps):
        media = make_media(post, size=(1500, 250))
        services.media_filter_relevance(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.IRRELEVANT and media.reject_reason == "irrelevant: banner"
        assert MediaRelevance.objects.get(media=media).rule == "banner"

    def test_a_poster_is_held_back_for_review_not_dropped(self, post, recorded_steps):
        # The graphic rule can be wrong about a flood map or a warning poster: it only holds the image back.
        media = Media.objects.create(crisis=post.crisis, post=post, stage=Media.Stage.UNIQUE)
        media.image.save("poster.png", png(poster()), save=True)
        services.media_filter_relevance(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.PROBABLY_IRRELEVANT and media.reject_reason == "probably irrelevant: graphic"
        assert services.media_restore_relevance(media_id=media.pk)
        assert Media.objects.get(pk=media.pk).stage == Media.Stage.RELEVANT
        assert RelevanceLabel.objects.get(media=media).rule == "graphic"

    def test_second_delivery_changes_nothing(self, post, recorded_steps):
        media = make_media(post)
        services.media_filter_relevance(media_id=media.pk)
        changed_at = Media.objects.get(pk=media.pk).stage_changed_at
        assert not services.media_filter_relevance(media_id=media.pk)
        assert Media.objects.get(pk=media.pk).stage_changed_at == changed_at
        assert len(recorded_steps) == 1

    def test_only_unique_images_are_judged(self, post, recorded_steps):
        media = make_media(post, stage=Media.Stage.FETCHED)
        assert not services.media_filter_relevance(media_id=media.pk)
        assert not MediaRelevance.objects.exists()


class TestRestore:
    def test_restore_moves_the_image_on_and_records_a_label(self, post, recorded_steps, django_user_model):
        coordinator = django_user_model.objects.create_user("coordinator")
        media = make_media(post, size=(1500, 250))
        services.media_filter_relevance(media_id=media.pk)
        assert services.media_restore_relevance(media_id=media.pk, user=coordinator)
        media.refresh_from_db()
        assert media.stage == Media.Stage.RELEVANT and media.reject_reason == ""
        label = RelevanceLabel.objects.get(media=media)
        assert (label.relevant, label.source, label.rule) == (True, "restore", "banner")
        assert label.labelled_by == coordinator

    def test_restoring_twice_records_one_label(self, post, recorded_steps):
        media = make_media(post, size=(1500, 250))
        services.media_filter_relevance(media_id=media.pk)
        services.media_restore_relevance(media_id=media.pk)
        assert not services.media_restore_relevance(media_id=media.pk)
        assert RelevanceLabel.objects.count() == 1


@pytest.mark.usefixtures("gazetteer")
class TestPostGeolocateText:
    def test_a_post_is_located_once_and_all_its_images_move_on(self, post, recorded_steps):
        first = make_media(post, stage=Media.Stage.RELEVANT)
        second = make_media(post, stage=Media.Stage.RELEVANT, position=1)
        location = services.post_geolocate_text(post_id=post.pk)
        assert location.method == "gazetteer" and not location.is_fallback
        assert location.candidates[0]["name"] == "Canoas"
        assert [(s["text"], s["start"], s["end"]) for s in location.spans] == [("Canoas", 15, 21)]
        assert set(Media.objects.values_list("stage", flat=True)) == {Media.Stage.TEXT_GEOLOCATED}
        assert {m for _, m in recorded_steps} == {first.pk, second.pk}

    def test_the_crisis_context_counts_the_crisis_posts_located_at_a_town_only(self, post):
        for n, (radius, fallback) in enumerate([(10.0, False)] * 3 + [(300.0, False), (10.0, True)]):
            other = Post.objects.create(crisis=post.crisis, source=Post.Source.CSV, source_id=f"o{n}", text="x")
            PostGeolocation.objects.create(
                post=other, lat=8.6, lon=-82.9, radius_km=radius, method="gazetteer", is_fallback=fallback
            )
        context = services.crisis_context(crisis=post.crisis)
        assert context.located.total == 3 and context.located.cells

    def test_the_crisis_context_is_reused_until_the_crisis_changes_or_it_is_old(self, post, settings):
        def locate_another(n):
            other = Post.objects.create(crisis=post.crisis, source=Post.Source.CSV, source_id=f"o{n}", text="x")
            PostGeolocation.objects.create(post=other, lat=8.6, lon=-82.9, radius_km=10.0, method="gazetteer")

        first = services.crisis_context(crisis=post.crisis)
        locate_another(1)
        with CaptureQueriesContext(connection) as queries:
            assert services.crisis_context(crisis=post.crisis) is first
        assert not queries.captured_queries

        post.crisis.country_codes = ["BR", "UY"]
        edited = services.crisis_context(crisis=post.crisis)
        assert edited is not first and edited.countries == {"BR", "UY"} and edited.located.total == 1

        geolocator_reset()  # a rebuilt gazetteer: the process loads a new locator
        assert services.crisis_context(crisis=post.crisis) is not edited

        locate_another(2)
        settings.GEOLOC_CRISIS_CONTEXT_SECONDS = 0
        assert services.crisis_context(crisis=post.crisis).located.total == 2

    def test_second_run_reuses_the_stored_location(self, post, recorded_steps):
        location = services.post_geolocate_text(post_id=post.pk)
        again = services.post_geolocate_text(post_id=post.pk)
        assert again.pk == location.pk and PostGeolocation.objects.count() == 1

    def test_alt_text_is_read_with_its_source(self, recorded_steps):
        crisis = make_crisis(
            slug="harvey",
            name="Hurricane Harvey",
            country_codes=["US"],
            affected_area=HARVEY_AREA,
            hashtags=["HurricaneHarvey"],
        )
        post = Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id="2", text="#HurricaneHarvey")
        media = make_media(post, stage=Media.Stage.RELEVANT, alt_text="Flooded street in Rockport")
        location = services.post_geolocate_text(post_id=post.pk)
        assert location.candidates[0]["name"] == "Rockport"
        assert location.spans == [
            {
                "source": "alt",
                "ref": media.pk,
                "start": 18,
                "end": 26,
                "text": "Rockport",
                "label": "PLACE",
                "lat": 28.0206,
                "lon": -97.0544,
                "place": "Rockport",
                "kind": "city",
                "chosen": True,
            }
        ]

    def test_storm_only_post_falls_back_to_the_crisis_area_flagged(self, recorded_steps):
        crisis = make_crisis(
            slug="harvey",
            name="Hurricane Harvey",
            country_codes=["US"],
            affected_area=HARVEY_AREA,
            hashtags=["HurricaneHarvey"],
        )
        post = Post.objects.create(
            crisis=crisis, source=Post.Source.CSV, source_id="3", text="Harvey is coming, stay safe #HurricaneHarvey"
        )
        location = services.post_geolocate_text(post_id=post.pk)
        assert location.is_fallback and location.method == PostGeolocation.Method.CRISIS_AREA
        assert location.provenance["reason"] == "no place recognised"

    def test_native_coordinates_win_and_the_text_point_is_kept(self, post, recorded_steps):
        Post.objects.filter(pk=post.pk).update(geo_lat=-30.05, geo_lon=-51.2, geo_accuracy_m=50)
        location = services.post_geolocate_text(post_id=post.pk)
        assert (location.method, location.lat, location.radius_km) == ("native", -30.05, 0.05)
        assert location.provenance["text_point"][3] == "gazetteer"

    def test_media_step_reuses_the_post_location(self, post, recorded_steps):
        services.post_geolocate_text(post_id=post.pk)
        late = make_media(post, stage=Media.Stage.RELEVANT, position=2)
        assert services.media_geolocate_text(media_id=late.pk)
        assert Media.objects.get(pk=late.pk).stage == Media.Stage.TEXT_GEOLOCATED
