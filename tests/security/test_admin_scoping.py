"""The admin shows a coordinator nothing of crises they do not coordinate, not even in the places Django fills
from whole tables (list filters, selects, autocomplete), and e-mail addresses only to superusers.

A private crisis with a name found nowhere else is coordinated by ``coordinator``; ``other_coordinator`` runs
``other_crisis``. Every registered admin's change list, add page and change pages are read as the other
coordinator, and neither the private crisis's name nor its id in a filter link may appear.
"""

import re

import pytest
from django.contrib.admin.sites import site as admin_site
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from classification.models import ModelVersion
from geoloc_platform.crises.models import Crisis
from tests.conftest import make_crisis
from tests.security.test_authorization_matrix import _admin_world
from tests.tasks_app.conftest import add_media

pytestmark = pytest.mark.django_db

SECRET_NAME = "Zyxwv Quiet Floods"
SECRET_EMAIL = "alice.unlisted@example.org"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def world(people):
    crisis, other = _admin_world(people)
    Crisis.objects.filter(pk=crisis.pk).update(name=SECRET_NAME, visibility=Crisis.Visibility.PRIVATE)
    for scope in (crisis, other, None):
        ModelVersion.objects.create(
            name=f"difficulty {scope.slug if scope else 'global'}", crisis=scope, backbone="tf_efficientnet_lite0",
            image_size=224,
        )  # fmt: skip
    User.objects.create_user("alice", email=SECRET_EMAIL)
    return {**people, "private": Crisis.objects.get(pk=crisis.pk)}


def admin_pages(user) -> list[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = []
    for model, model_admin in admin_site._registry.items():
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        try:
            pages += [reverse(f"admin:{info}_changelist"), reverse(f"admin:{info}_add")]
        except NoReverseMatch:
            continue
        pages += [reverse(f"admin:{info}_change", args=[row.pk]) for row in model_admin.get_queryset(request)[:3]]
    return pages


def test_no_admin_page_shows_another_coordinators_private_crisis(world):
    private = world["private"]
    client = logged_in(world["other_coordinator"])
    leaks = []
    pages = admin_pages(world["other_coordinator"])
    assert len(pages) > 40, pages
    for url in pages:
        response = client.get(url)
        if response.status_code != 200:
            continue
        html = response.content.decode()
        if SECRET_NAME in html or re.search(rf"crisis__(id__exact|pk__exact|exact)={private.pk}\b", html):
            leaks.append(url)
    assert not leaks, leaks


def test_the_crisis_filter_still_offers_a_coordinator_their_own_crises(world):
    second = make_crisis(slug="second-floods", coordinator=world["coordinator"])
    add_media(second)
    client = logged_in(world["coordinator"])
    html = client.get(reverse("admin:crawling_media_changelist")).content.decode()
    for crisis in (world["private"], second):
        assert crisis.name in html and f"crisis__id__exact={crisis.pk}" in html
    assert world["other_crisis"].name not in html
    superuser = logged_in(world["superuser"]).get(reverse("admin:crawling_media_changelist")).content.decode()
    assert world["other_crisis"].name in superuser and SECRET_NAME in superuser


def test_model_versions_of_a_private_crisis_are_hidden_from_other_coordinators_but_global_ones_are_not(world):
    client = logged_in(world["other_coordinator"])
    response = client.get(reverse("admin:classification_modelversion_changelist"))
    names = {version.name for version in response.context_data["cl"].result_list}
    assert names == {f"difficulty {world['other_crisis'].slug}", "difficulty global"}


class TestEmailAddresses:
    def test_a_coordinator_sees_no_email_address_in_the_user_pages(self, world):
        client = logged_in(world["coordinator"])
        alice = User.objects.get(username="alice")
        for url in (reverse("admin:auth_user_changelist"), reverse("admin:auth_user_change", args=[alice.pk])):
            response = client.get(url)
            assert response.status_code == 200, url
            assert "@example.org" not in response.content.decode(), url

    def test_a_coordinator_cannot_find_a_user_by_email_address(self, world):
        client = logged_in(world["coordinator"])
        assert "alice" not in client.get(reverse("admin:auth_user_changelist"), {"q": "unlisted"}).content.decode()
        autocomplete = client.get(
            "/admin/autocomplete/",
            {"app_label": "crises", "model_name": "crisismembership", "field_name": "user", "term": "unlisted"},
        )
        assert autocomplete.status_code == 200
        assert autocomplete.json()["results"] == []

    def test_a_superuser_sees_and_searches_email_addresses(self, world):
        client = logged_in(world["superuser"])
        assert SECRET_EMAIL in client.get(reverse("admin:auth_user_changelist")).content.decode()
        found = client.get(reverse("admin:auth_user_changelist"), {"q": "unlisted"})
        assert [user.username for user in found.context_data["cl"].result_list] == ["alice"]
