"""Volunteer pages: they lease on render, escape everything posted, and show no other volunteer's answer."""

from django.core.cache import cache
from django.test import Client

from crawling.models import Post
from tasks_app import services
from tasks_app.models import Assignment, CrowdTask
from tests.tasks_app.conftest import add_media, queue, with_record


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_rating_page_leases_an_image_and_escapes_the_post_text(crisis, volunteers):
    (image,) = queue(crisis, with_file=True)
    Post.objects.filter(pk=image.post_id).update(text='<script>alert("x")</script> Rua dos Andradas')
    response = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/rate/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert 'data-difficulty="not_relevant"' in html
    assert Assignment.objects.get().task.kind == CrowdTask.Kind.RATING


def test_reloading_a_task_page_resumes_the_same_lease(crisis, volunteers):
    queue(crisis, eases=(0.9, 0.5))
    client = logged_in(volunteers[0])
    client.get(f"/crises/{crisis.slug}/geolocate/")
    client.get(f"/crises/{crisis.slug}/geolocate/")
    assert Assignment.objects.count() == 1


def test_the_geolocation_page_highlights_place_names_and_centres_on_the_text_guess(crisis, volunteers):
    (image,) = add_media(crisis, text="Water in Rua dos Andradas today, says Ana Velho", with_file=True)
    services.media_queue_for_crowd(media_id=image.pk, predicted_ease=0.9)
    from classification.models import PostGeolocation

    PostGeolocation.objects.create(  # what the text geolocation stage stores (the page joins it to the lease)
        post=image.post,
        lat=-30.03,
        lon=-51.23,
        radius_km=0.5,
        is_fallback=False,
        method="gazetteer",
        spans=[
            {"source": "post", "start": 9, "end": 25, "text": "x", "label": "STREET", "lat": None, "lon": None},
            {"source": "ocr", "start": 0, "end": 3},
            # a name whose every reading was refused (a person's, a word's): no place to point the volunteer at
            {"source": "post", "start": 42, "end": 47, "text": "Velho", "label": "PLACE", "lat": None, "lon": None},
        ],
        candidates=[{"name": "<b>Centro</b>", "lat": -30.03, "lon": -51.23}],
    )
    html = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/geolocate/").content.decode()
    assert '<mark class="crowd-place">Rua dos Andradas</mark>' in html
    assert "Ana Velho" in html and '<mark class="crowd-place">Velho' not in html
    assert '"radius_m": 500.0' in html
    assert "<b>Centro</b>" not in html  # json_script escapes < and >


def test_without_a_drawn_area_a_guess_outside_the_crisis_countries_is_said_to_be_doubtful(crisis, volunteers):
    from classification.models import PostGeolocation

    crisis.affected_area = None
    crisis.save(update_fields=["affected_area"])  # countries only: ["BR"]
    nepal, canoas = queue(crisis, eases=(0.9, 0.8), with_file=True)
    for image, (lat, lon, country) in ((nepal, (28.0, 84.0, "NP")), (canoas, (-29.92, -51.18, "BR"))):
        candidate = {"name": "x", "kind": "city", "lat": lat, "lon": lon, "country_code": country}
        PostGeolocation.objects.create(
            post=image.post, lat=lat, lon=lon, radius_km=10, method="gazetteer", candidates=[candidate]
        )
    client = logged_in(volunteers[0])
    first = client.get(f"/crises/{crisis.slug}/geolocate/").content.decode()
    assert 'id="guess-outside-countries"' in first and '"outside_countries": true' in first
    client.post(f"/api/leases/{Assignment.objects.get().pk}/skip/", content_type="application/json")
    second = client.get(f"/crises/{crisis.slug}/geolocate/").content.decode()
    assert 'id="guess-outside-countries"' not in second and '"outside_countries": false' in second


def test_a_fallback_text_location_is_no_guess_and_the_map_shows_the_crisis_area(crisis, volunteers):
    from classification.models import PostGeolocation

    (image,) = queue(crisis, with_file=True)
    PostGeolocation.objects.create(
        post=image.post, lat=-30.0, lon=-51.1, radius_km=30, method="crisis_area", is_fallback=True
    )
    html = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/geolocate/").content.decode()
    assert '"text_guess": null' in html


def test_the_geolocation_page_works_without_any_text_guess(crisis, volunteers):
    queue(crisis, with_file=True)
    response = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/geolocate/")
    assert response.status_code == 200
    assert '"text_guess": null' in response.content.decode()


def test_a_volunteer_with_nothing_left_is_told_so_and_pointed_to_the_map(crisis, volunteers):
    html = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/geolocate/").content.decode()
    assert "Nothing left for you right now" in html
    assert f'href="/crises/{crisis.slug}/map/"' in html  # a public crisis: its map is everyone's


def test_task_pages_send_anonymous_visitors_to_log_in(crisis):
    response = Client().get(f"/crises/{crisis.slug}/rate/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_work_page_shows_the_present_leaderboard_and_my_progress(crisis, volunteers):
    queue(crisis)
    client = logged_in(volunteers[0])
    html = client.get(f"/crises/{crisis.slug}/work/").content.decode()
    assert '<p class="crowd-small" id="leaderboard-empty">' in html
    lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind="rating")
    services.answer_submit(volunteer=volunteers[0], lease_id=lease.pk, kind="rating", difficulty="easy")
    cache.clear()  # as 5 s later: the first request's turn to recompute has passed
    html = client.get(f"/crises/{crisis.slug}/work/").content.decode()
    assert f"<li><span>{volunteers[0].username}</span>" in html
    assert 'id="leaderboard-empty" hidden' in html
    assert 'id="progress-ratings">1<' in html
    assert "tasks_app/leaderboard.js" in html and 'id="leaderboard-config"' in html


def test_the_rating_page_speaks_portuguese_french_and_spanish(crisis, volunteers):
    queue(crisis, with_file=True)
    client = logged_in(volunteers[0])
    expected = {
        "pt": "Quão difícil é descobrir onde esta foto foi tirada?",
        "fr": "À quel point est-il difficile de trouver où cette photo a été prise ?",
        "es": "¿Qué tan difícil es encontrar dónde se tomó esta foto?",
    }
    for language, question in expected.items():
        html = client.get(f"/crises/{crisis.slug}/rate/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert question in html, language


class TestNoRecordPage:
    """A volunteer without a record who opens the checks is told how far they are, and what to do."""

    def test_a_newcomer_reads_how_many_answers_were_found_right_so_far(self, crisis, volunteers):
        with_record(volunteers[0], correct=2)
        response = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/verify/")
        assert response.status_code == 403
        assert "So far 2 of your answers were checked and found right." in response.content.decode()

    def test_enough_right_answers_but_too_many_wrong_says_the_share_needed(self, crisis, volunteers):
        with_record(volunteers[0], correct=6, checked=10)
        html = logged_in(volunteers[0]).get(f"/crises/{crisis.slug}/verify/").content.decode()
        assert "Your answers checked so far: 6 right of 10. At least 80% of them must be right." in html

    def test_a_guest_is_told_that_guest_answers_build_no_record(self, crisis):
        from django.test import Client

        from geoloc_platform.crises.models import Crisis

        Crisis.objects.filter(pk=crisis.pk).update(allow_anonymous=True)
        queue(crisis, eases=(0.9,))
        client = Client()
        assert client.get(f"/crises/{crisis.slug}/geolocate/").status_code == 200  # a guest session now
        html = client.get(f"/crises/{crisis.slug}/verify/").content.decode()
        assert "Answers given as a guest build no record" in html and "So far" not in html


class TestGuests:
    def test_a_crisis_that_takes_anonymous_help_gives_a_visitor_a_guest_session_and_a_task(self, crisis, settings):
        from django.contrib.auth.models import User
        from django.test import Client

        from geoloc_platform.crises.models import Crisis

        Crisis.objects.filter(pk=crisis.pk).update(allow_anonymous=True)
        queue(crisis, eases=(0.9,))
        client = Client()
        response = client.get(f"/crises/{crisis.slug}/geolocate/")
        assert response.status_code == 200
        guest = User.objects.get(username__startswith="guest-")
        assert not guest.has_usable_password() and not guest.is_staff
        assert int(client.session["_auth_user_id"]) == guest.pk
        assert client.get(f"/crises/{crisis.slug}/geolocate/").status_code == 200  # the same guest resumes
        assert User.objects.filter(username__startswith="guest-").count() == 1

    def test_without_anonymous_help_a_visitor_is_sent_to_log_in_and_no_account_is_made(self, crisis):
        from django.contrib.auth.models import User
        from django.test import Client

        response = Client().get(f"/crises/{crisis.slug}/rate/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert not User.objects.filter(username__startswith="guest-").exists()

    def test_guest_accounts_per_address_are_capped(self, crisis, settings):
        from django.core.cache import cache
        from django.test import Client

        from geoloc_platform.crises.models import Crisis

        cache.clear()
        settings.GUEST_ACCOUNTS_PER_ADDRESS_PER_HOUR = 2
        Crisis.objects.filter(pk=crisis.pk).update(allow_anonymous=True)
        codes = [Client().get(f"/crises/{crisis.slug}/rate/").status_code for _ in range(3)]
        assert codes[:2] != [429, 429] and codes[2] == 429
