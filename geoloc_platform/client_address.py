"""The real client address of a request, behind a configured number of trusted reverse proxies.

One function for every limit keyed on an address (API throttles, login lockouts, guest and sign-up limits), so
a client can never choose its own identity by sending ``X-Forwarded-For``: the header is read only when
``TRUSTED_PROXY_COUNT`` proxies that append to it stand in front of Django, and then only the entry the nearest
trusted proxy wrote is believed.
"""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address of the client as seen by the outermost trusted proxy; ``REMOTE_ADDR`` without proxies."""
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote_addr
    # Each trusted proxy appends the address it saw: the last `proxies` entries are theirs, and the one the
    # outermost proxy wrote is the client. Anything to its left was sent by the client and proves nothing.
    return forwarded[-min(proxies, len(forwarded))]
