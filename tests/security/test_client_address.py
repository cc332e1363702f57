"""Every limit keyed on an address reads ``client_address``: API throttles, login lockouts, guest accounts.

Requests arrive from REMOTE_ADDR 10.0.0.2, the reverse proxy when ``TRUSTED_PROXY_COUNT`` is 1, or the client
itself when it is 0. A client may send any ``X-Forwarded-For`` it likes; only the entry the trusted proxy appends
counts.
"""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from geoloc_platform.client_address import client_address
from geoloc_platform.crises.models import Crisis
from tests.conftest import PASSWORD
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
WRONG_PASSWORD = "not-the-password"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # throttle, lockout and guest counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def export_rate(monkeypatch):
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "map_export": "2/hour", "anon": "1000/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


@pytest.fixture
def public_export(people):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    make_point(crisis)
    return reverse("mapping:api-export", args=[crisis.slug, "csv"])


def from_address(remote_addr: str, forwarded_for: str | None = None) -> Client:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client(**extra)


class TestApiThrottles:
    def test_a_spoofed_forwarded_for_does_not_buy_more_exports_without_a_proxy(
        self, settings, export_rate, public_export
    ):
        settings.TRUSTED_PROXY_COUNT = 0
        codes = [from_address("198.51.100.7", f"203.0.113.{n}").get(public_export).status_code for n in range(1, 5)]
        assert codes == [200, 200, 429, 429]

    def test_behind_one_proxy_only_the_entry_the_proxy_appended_counts(self, settings, export_rate, public_export):
        settings.TRUSTED_PROXY_COUNT = 1
        spoofed = [
            from_address(PROXY, f"203.0.113.{n}, 198.51.100.7").get(public_export).status_code for n in range(1, 5)
        ]
        assert spoofed == [200, 200, 429, 429]
        # Another person behind the same proxy has a bucket of their own.
        assert from_address(PROXY, "198.51.100.8").get(public_export).status_code == 200

    @pytest.mark.parametrize(
        ("proxies", "remote_addr", "forwarded_for"),
        [
            (0, "198.51.100.7", None),
            (0, "198.51.100.7", "203.0.113.1"),
            (1, PROXY, None),
            (1, PROXY, "198.51.100.7"),
            (1, PROXY, "203.0.113.1, 198.51.100.7"),
            (2, PROXY, "203.0.113.1, 198.51.100.7, 10.0.0.9"),
            (2, PROXY, "198.51.100.7"),
        ],
    )
    def test_drf_throttles_named_by_a_view_agree_with_client_address(
        self, settings, monkeypatch, proxies, remote_addr, forwarded_for
    ):
        from rest_framework.throttling import UserRateThrottle

        from geoloc_platform import throttling

        settings.TRUSTED_PROXY_COUNT = proxies
        monkeypatch.setattr(api_settings, "NUM_PROXIES", proxies)  # the setting reads TRUSTED_PROXY_COUNT once
        extra = {"REMOTE_ADDR": remote_addr, **({"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {})}
        request = RequestFactory().get("/", **extra)
        expected = client_address(request)
        assert throttling.AnonRateThrottle().get_ident(request) == expected
        assert UserRateThrottle().get_ident(request) == expected

    def test_the_settings_make_drf_trust_exactly_the_configured_proxies(self):
        from django.conf import settings

        assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.TRUSTED_PROXY_COUNT
        assert all(name.startswith("geoloc_platform.") for name in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"])


class TestLoginLockouts:
    def login(self, client: Client, username: str, password: str = WRONG_PASSWORD) -> int:
        return client.post(reverse("accounts:login"), {"username": username, "password": password}).status_code

    def test_the_username_lockout_keys_on_the_client_behind_the_proxy_not_on_the_proxy(self, people, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        settings.AXES_FAILURE_LIMIT = 3
        attacker = from_address(PROXY, "203.0.113.50")
        assert [self.login(attacker, "volunteer") for _ in range(3)][:2] == [200, 200]
        assert self.login(attacker, "volunteer", PASSWORD) == 429
        # The real volunteer, behind the same proxy, still signs in.
        assert self.login(from_address(PROXY, "198.51.100.20"), "volunteer", PASSWORD) == 302

    def test_a_forged_forwarded_for_does_not_escape_a_username_lockout(self, people, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        settings.AXES_FAILURE_LIMIT = 3
        for n in range(3):
            self.login(from_address(PROXY, f"192.0.2.{n}, 203.0.113.50"), "volunteer")
        assert self.login(from_address(PROXY, "192.0.2.99, 203.0.113.50"), "volunteer", PASSWORD) == 429

    def test_password_spraying_across_usernames_locks_the_address(self, people, settings):
        settings.LOGIN_FAILURES_PER_ADDRESS = 4
        sprayer = from_address("203.0.113.60")
        usernames = ["volunteer", "responder", "coordinator", "other_coordinator"]
        assert [self.login(sprayer, name) for name in usernames] == [200, 200, 200, 200]
        # One guess each: no username reached axes' limit, yet the address is out, even with a right password.
        assert self.login(sprayer, "global_responder", PASSWORD) == 429
        assert "_auth_user_id" not in sprayer.session
        # Others are not.
        assert self.login(from_address("198.51.100.21"), "global_responder", PASSWORD) == 302

    def test_a_successful_login_of_the_sprayer_own_account_does_not_reset_the_address_count(self, people, settings):
        settings.LOGIN_FAILURES_PER_ADDRESS = 4
        own = User.objects.create_user("sprayer", password=PASSWORD)
        sprayer = from_address("203.0.113.61")
        for name in ("volunteer", "responder"):
            self.login(sprayer, name)
        assert self.login(Client(REMOTE_ADDR="203.0.113.61"), own.username, PASSWORD) == 302
        for name in ("coordinator", "other_coordinator"):
            self.login(sprayer, name)
        assert self.login(sprayer, "global_responder", PASSWORD) == 429


class TestGuestAccounts:
    def test_guest_accounts_are_counted_per_client_behind_the_proxy(self, people, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        settings.GUEST_ACCOUNTS_PER_ADDRESS_PER_HOUR = 1
        crisis = people["crisis"]
        Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, allow_anonymous=True)
        queue(crisis, eases=(0.9,))
        url = f"/crises/{crisis.slug}/rate/"
        assert from_address(PROXY, "198.51.100.30").get(url).status_code == 200
        assert from_address(PROXY, "203.0.113.1, 198.51.100.30").get(url).status_code == 429  # spoofing: no help
        assert from_address(PROXY, "198.51.100.31").get(url).status_code == 200  # a neighbour is not blocked
