"""Password spraying: failed logins counted per client address across usernames, with a lockout of their own.

django-axes locks a username tried from one address (``LOGIN_FAILURE_LIMIT``). One address trying one password
against many usernames never trips that, so every failure also counts against the address alone, up to
``LOGIN_FAILURES_PER_ADDRESS`` per ``LOGIN_COOLOFF_MINUTES``. The count is kept apart from axes on purpose: axes
forgets an address's failures on any successful login from it, which would let a sprayer with an account of
their own reset the count between guesses. The address is ``client_address`` (trusted proxies only).
"""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from geoloc_platform.client_address import client_address


def _key(address: str) -> str:
    return f"login-failures:address:{address}"


def address_login_failures(*, address: str) -> int:
    return int(cache.get(_key(address), 0))


def address_login_failure_record(*, address: str) -> int:
    """Count one failed login from ``address``; the window starts at its first failure."""
    key = _key(address)
    cache.add(key, 0, timeout=int(settings.AXES_COOLOFF_TIME.total_seconds()))
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=int(settings.AXES_COOLOFF_TIME.total_seconds()))
        return 1


def address_locked_out(*, address: str) -> bool:
    return address_login_failures(address=address) >= settings.LOGIN_FAILURES_PER_ADDRESS


def login_failed_count_address(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """Receiver of ``user_login_failed``."""
    if request is not None:
        address_login_failure_record(address=client_address(request))


class AddressLockoutBackend:
    """First authentication backend: refuses every login from an address over its failure limit, before any
    password is checked. AxesMiddleware answers with the same lockout page (429) as a username lockout."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if request is not None and address_locked_out(address=client_address(request)):
            request.axes_locked_out = True
            raise PermissionDenied("Too many failed logins from this address.")
        return None  # no get_user: it never logs anyone in, and force_login skips it
