"""DRF throttles keyed on ``client_address``: a client cannot pick its rate-limit identity with X-Forwarded-For.

DRF's own ``get_ident`` trusts the header unless ``NUM_PROXIES`` is set; these classes ask the one function every
address-keyed limit uses. Authenticated requests are keyed on the user as before.
"""

from rest_framework import throttling

from geoloc_platform.client_address import client_address


class ClientAddressIdentMixin:
    def get_ident(self, request) -> str:
        return client_address(request)


class AnonRateThrottle(ClientAddressIdentMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientAddressIdentMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientAddressIdentMixin, throttling.ScopedRateThrottle):
    pass
