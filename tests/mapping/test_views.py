"""Pages: the map, the crisis map redirect, the dashboard, and who may fetch which image."""

from django.test import Client

from geoloc_platform.crises.models import Crisis
from mapping.models import BlurredImage
from tests.mapping.conftest import make_point


def logged_in(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_map_page_renders_without_any_cdn(active_crises):
    response = Client().get("/map/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "leaflet.markercluster.js" in html and 'id="map-config"' in html
    assert "unpkg" not in html and "cdnjs" not in html and "jsdelivr" not in html


def test_the_map_page_lists_private_crises_only_to_their_members(active_crises):
    Crisis.objects.filter(pk=active_crises["crisis"].pk).update(visibility=Crisis.Visibility.PRIVATE)
    slug = active_crises["crisis"].slug
    assert slug not in Client().get("/map/").content.decode()
    assert slug in logged_in(active_crises["responder"]).get("/map/").content.decode()


def test_crisis_map_redirects_to_the_filtered_map(active_crises):
    response = Client().get(f"/crises/{active_crises['crisis'].slug}/map/")
    assert response.status_code == 302 and response["Location"].endswith("/map/?crisis=porto-alegre-floods")


def test_the_dashboard_is_for_the_crisis_coordinators(active_crises):
    url = f"/crises/{active_crises['crisis'].slug}/dashboard/"
    assert logged_in(active_crises["responder"]).get(url).status_code == 404
    assert logged_in(active_crises["coordinator"]).get(url).status_code == 200


def test_the_public_gets_a_blurred_image_and_responders_the_served_copy(active_crises):
    media = make_point(active_crises["crisis"], with_image=True)
    url = f"/map/media/{media.pk}/image/"
    public = Client().get(url)
    assert public.status_code == 200 and BlurredImage.objects.filter(media=media).exists()
    responder = logged_in(active_crises["responder"]).get(url)
    assert responder.status_code == 200
    assert b"".join(responder.streaming_content) == media.image.open("rb").read()


def test_images_of_private_crises_are_hidden_from_outsiders(active_crises):
    Crisis.objects.filter(pk=active_crises["crisis"].pk).update(visibility=Crisis.Visibility.PRIVATE)
    media = make_point(active_crises["crisis"], with_image=True)
    url = f"/map/media/{media.pk}/image/"
    assert Client().get(url).status_code == 404
    assert logged_in(active_crises["volunteer"]).get(url).status_code == 404
    assert logged_in(active_crises["responder"]).get(url).status_code == 200
