"""The permission matrix: each role can do what it should and nothing more."""

import pytest
from django.test import Client
from django.urls import reverse

from geoloc_platform.crises import selectors
from geoloc_platform.crises.models import Crisis

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "volunteer", "responder", "global_responder", "other_coordinator", "coordinator", "superuser"]

# What each role may do on ``crisis`` (active), by visibility. Columns:
# view landing page, contribute, view private map/exports, coordinate (admin change + lifecycle).
MATRIX = {
    "public": {
        "anonymous": (True, False, False, False),
        "volunteer": (True, True, False, False),
        "responder": (True, True, True, False),
        "global_responder": (True, True, True, False),
        "other_coordinator": (True, True, False, False),
        "coordinator": (True, True, True, True),
        "superuser": (True, True, True, True),
    },
    "private": {
        "anonymous": (False, False, False, False),
        "volunteer": (False, False, False, False),
        "responder": (True, True, True, False),
        "global_responder": (False, False, False, False),
        "other_coordinator": (False, False, False, False),
        "coordinator": (True, True, True, True),
        "superuser": (True, True, True, True),
    },
}


def _user(people, role):
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser() if role == "anonymous" else people[role]


def _client(people, role) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(people[role], backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("role", ROLES)
def test_role_rules_match_the_matrix(people, role, visibility):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, visibility=visibility)
    crisis.refresh_from_db()
    user = _user(people, role)
    got = (
        selectors.user_can_view_crisis(user=user, crisis=crisis),
        selectors.user_can_contribute(user=user, crisis=crisis),
        selectors.user_can_view_private_map(user=user, crisis=crisis),
        selectors.user_is_coordinator(user=user, crisis=crisis),
    )
    assert got == MATRIX[visibility][role]


@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("role", ROLES)
def test_landing_page_and_admin_follow_the_matrix(people, role, visibility):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, visibility=visibility)
    client = _client(people, role)
    can_view, _, _, can_coordinate = MATRIX[visibility][role]

    landing = client.get(reverse("crises:detail", args=[crisis.slug]))
    assert landing.status_code == (200 if can_view else 404)

    change = client.get(reverse("admin:crises_crisis_change", args=[crisis.pk]))
    if can_coordinate:
        assert change.status_code == 200
    else:
        assert change.status_code in (302, 403, 404)  # login redirect, or no such crisis for this coordinator

    listed = client.get(reverse("crises:list")).content.decode()
    assert (crisis.name in listed) == can_view


@pytest.mark.parametrize("role", ROLES)
def test_only_its_coordinators_can_launch_a_crisis(people, role):
    crisis = people["crisis"]
    client = _client(people, role)
    response = client.post(
        reverse("admin:crises_crisis_changelist"),
        {"action": "launch_crises", "_selected_action": [crisis.pk]},
    )
    crisis.refresh_from_db()
    launched = crisis.status == Crisis.Status.ACTIVE
    assert launched == MATRIX["public"][role][3], response.status_code


def test_drafts_are_hidden_from_everyone_but_their_coordinators(people):
    crisis = people["crisis"]  # still a draft
    for role in ROLES:
        expected = role in ("coordinator", "superuser")
        assert selectors.user_can_view_crisis(user=_user(people, role), crisis=crisis) == expected, role


def test_nobody_contributes_to_a_paused_crisis(people):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.PAUSED, allow_anonymous=True)
    crisis.refresh_from_db()
    for role in ROLES:
        assert not selectors.user_can_contribute(user=_user(people, role), crisis=crisis), role


def test_anonymous_contribution_is_allowed_per_crisis(people):
    from django.contrib.auth.models import AnonymousUser

    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, allow_anonymous=True)
    crisis.refresh_from_db()
    assert selectors.user_can_contribute(user=AnonymousUser(), crisis=crisis)


def test_coordinator_lists_only_own_crises_in_admin(people):
    client = _client(people, "coordinator")
    page = client.get(reverse("admin:crises_crisis_changelist")).content.decode()
    assert people["crisis"].name in page
    assert people["other_crisis"].name not in page


def test_volunteers_cannot_enter_the_admin(people):
    response = _client(people, "volunteer").get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
