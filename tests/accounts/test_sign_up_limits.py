"""Sign-up limited per client address and hour (behind trusted proxies too); e-mail confirmation per crisis."""

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from geoloc_platform.crises.selectors import user_can_contribute
from geoloc_platform.crises.services import crisis_transition
from tests.conftest import PASSWORD, make_crisis, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.SIGNUP_PER_ADDRESS_PER_HOUR = 2
    cache.clear()
    yield
    cache.clear()


def sign_up(name: str, **client_options):
    return Client(**client_options).post(
        reverse("accounts:sign_up"),
        {"username": name, "email": f"{name}@example.org", "password1": PASSWORD, "password2": PASSWORD},
    )


def test_an_address_over_its_hourly_sign_ups_is_refused_and_no_account_is_made():
    assert [sign_up(f"ana{i}", REMOTE_ADDR="192.0.2.1").status_code for i in range(3)] == [302, 302, 429]
    assert not User.objects.filter(username="ana2").exists()
    assert sign_up("bia", REMOTE_ADDR="192.0.2.2").status_code == 302  # another address is counted apart


def test_behind_a_proxy_the_limit_follows_the_real_client_not_a_forged_header(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    # The client forges a first entry; the proxy appends the address it really saw (the same for all three).
    codes = [
        sign_up(f"ana{i}", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, 192.0.2.9", **proxy).status_code for i in range(3)
    ]
    assert codes == [302, 302, 429]
    assert sign_up("bia", HTTP_X_FORWARDED_FOR="192.0.2.10", **proxy).status_code == 302


def test_an_invalid_form_does_not_use_up_the_address_allowance():
    for _ in range(3):
        Client(REMOTE_ADDR="192.0.2.1").post(reverse("accounts:sign_up"), {"username": "x", "password1": "short"})
    assert sign_up("ana", REMOTE_ADDR="192.0.2.1").status_code == 302


@pytest.fixture
def confirming_crisis(people):
    draft = make_crisis(slug="confirmed-only", coordinator=people["coordinator"], require_email_confirmation=True)
    return crisis_transition(crisis=draft, action="launch", user=people["coordinator"])


def test_a_crisis_that_requires_confirmation_takes_answers_only_after_the_link_is_followed(
    confirming_crisis, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert sign_up("ana").status_code == 302
    ana = User.objects.get(username="ana")
    assert not user_can_contribute(user=ana, crisis=confirming_crisis)
    assert user_can_contribute(user=people["coordinator"], crisis=confirming_crisis)  # its coordinators may

    (message,) = mail.outbox
    assert message.to == ["ana@example.org"]
    link = re.search(r"http://testserver(/accounts/confirm/\S+/)", message.body).group(1)
    assert Client().get(link).status_code == 200
    assert user_can_contribute(user=ana, crisis=confirming_crisis)


def test_a_forged_or_outdated_link_confirms_nothing(confirming_crisis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up("ana")
    link = re.search(r"http://testserver(/accounts/confirm/\S+/)", mail.outbox[0].body).group(1)
    User.objects.filter(username="ana").update(email="other@example.org")  # the address changed since
    assert Client().get(link).status_code == 400
    assert Client().get(link[:-3] + "xx/").status_code == 400
    assert not user_can_contribute(user=User.objects.get(username="ana"), crisis=confirming_crisis)


def test_the_hub_offers_to_send_the_link_again(confirming_crisis, django_capture_on_commit_callbacks):
    ana = make_user("ana")
    client = Client()
    client.force_login(ana)
    page = client.get(reverse("tasks_app:work", args=[confirming_crisis.slug]))
    assert page.context["needs_email_confirmation"] and not page.context["can_contribute"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("accounts:confirm_email_resend")).status_code == 200
    assert mail.outbox[-1].to == ["ana@example.org"]


def test_anonymous_help_and_required_confirmation_exclude_each_other(people):
    crisis = make_crisis(slug="both", coordinator=people["coordinator"], allow_anonymous=True)
    crisis.require_email_confirmation = True
    with pytest.raises(ValidationError) as error:
        crisis.clean()
    assert "require_email_confirmation" in error.value.message_dict
