import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_volunteer_signs_up_and_is_logged_in():
    client = Client()
    response = client.post(
        reverse("accounts:sign_up"),
        {"username": "ana", "email": "ana@example.org", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(username="ana")
    assert not user.is_staff and not user.is_superuser
    assert client.get(reverse("crises:list")).context["user"] == user


@pytest.mark.parametrize("password", ["short", "password123", "12345678901234"])
def test_weak_passwords_are_refused_and_no_account_is_created(password):
    response = Client().post(
        reverse("accounts:sign_up"),
        {"username": "ana", "email": "ana@example.org", "password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="ana").exists()


def test_login_is_throttled_after_repeated_failures(settings):
    make_user("ana")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "ana", "password": "wrong-password"})
    locked = client.post(reverse("accounts:login"), {"username": "ana", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_forms_require_csrf_tokens():
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
