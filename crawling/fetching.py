"""Download untrusted image URLs safely: http(s) only, public addresses only (checked again after every
redirect, and the connection goes to the very address that was checked), a byte limit and a total deadline."""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings

USER_AGENT = "geoloc-platform/1.0 (crowdsourced disaster image geolocation)"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class FetchRefused(Exception):
    """The URL was not downloaded. ``reason`` is ``code: detail``; ``transient`` says a later try may succeed."""

    def __init__(self, code: str, detail: str = "", *, transient: bool = False):
        self.code = code
        self.reason = f"{code}: {detail}" if detail else code
        self.transient = transient
        super().__init__(self.reason)


@dataclass(frozen=True)
class FetchedBody:
    url: str  # after redirects
    data: bytes
    declared_type: str  # the Content-Type header, kept for the record, never trusted


# IPv6 ranges that carry an IPv4 address or reach through a translator or tunnel. Python's ``is_global`` says
# True for several of them, so an attacker's DNS could point at 64:ff9b::a9fe:a9fe (the metadata service behind a
# NAT64 gateway) or ::a00:1 and pass. The well-known NAT64 prefix is the one a DNS64 network hands out for every
# IPv4-only host, so it is judged by the IPv4 address inside it; the others are never needed to fetch an image.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_REFUSED_V6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215): the embedding is the network's own
    ipaddress.IPv6Network("2002::/16"),  # 6to4 (deprecated, RFC 7526)
    ipaddress.IPv6Network("2001::/32"),  # Teredo
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291), :: and ::1 included
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated, RFC 3879)
)
_REFUSED_V4 = (ipaddress.IPv4Network("192.88.99.0/24"),)  # the 6to4 relay anycast (deprecated, RFC 7526)


def address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Only globally routable unicast addresses; loopback too when ALLOW_LOOPBACK_FETCH is on (tests only).

    ``is_global`` is False for private, link-local (169.254.169.254, the cloud metadata service), shared
    (100.64/10), reserved, documentation and unspecified ranges. IPv4-mapped and NAT64 addresses are judged as the
    IPv4 address they carry; 6to4, Teredo, IPv4-compatible, local NAT64 and site-local addresses are refused.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64_WELL_KNOWN:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip == ipaddress.IPv6Address("::1"):
            pass  # loopback, judged below
        elif any(ip in network for network in _REFUSED_V6):
            return False
    if ip.is_loopback:
        return bool(getattr(settings, "ALLOW_LOOPBACK_FETCH", False))
    if isinstance(ip, ipaddress.IPv4Address) and any(ip in network for network in _REFUSED_V4):
        return False
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    """All addresses of ``host`` (a literal IP resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _dial_address(ip: str) -> str:
    """The address to connect to for a checked ``ip``: itself. Tests route a pretend-public address to loopback."""
    return ip


def _checked_target(url: str) -> tuple[str, str, int, str]:
    """Validate ``url`` and resolve its host once. Returns (scheme, host, port, checked ip)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise FetchRefused("bad_url", str(error)) from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused("bad_scheme", f"only http and https are fetched, not {scheme or 'none'!r}")
    if not parts.hostname:
        raise FetchRefused("bad_url", "no host")
    if parts.username or parts.password:
        raise FetchRefused("bad_url", "credentials in the URL")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = _resolve(parts.hostname, port)
    except (OSError, UnicodeError) as error:
        raise FetchRefused("dns_failure", f"{parts.hostname}: {error}", transient=True) from error
    if not addresses:
        raise FetchRefused("dns_failure", f"{parts.hostname}: no address", transient=True)
    # Every address must pass: a host with one public and one private address is refused outright.
    for address in addresses:
        if not address_allowed(ipaddress.ip_address(address.split("%")[0])):
            raise FetchRefused("blocked_address", f"{parts.hostname} resolves to {address}")
    return scheme, parts.hostname, port, addresses[0]


def _pool(scheme: str, host: str, ip: str, port: int, *, connect_timeout: float, read_timeout: float):
    """A connection pool dialling the checked IP, while the Host header, SNI and certificate use the host name."""
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    headers = {"Host": host if port in (80, 443) else f"{host}:{port}"}
    dial = _dial_address(ip)
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            dial,
            port,
            timeout=timeout,
            retries=False,
            headers=headers,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    return urllib3.HTTPConnectionPool(dial, port, timeout=timeout, retries=False, headers=headers)


def fetch_url(url: str, *, max_bytes: int | None = None) -> FetchedBody:
    """Download ``url`` or raise FetchRefused. Never raises anything else for network trouble."""
    max_bytes = max_bytes or settings.IMAGE_MAX_BYTES
    connect_timeout = settings.FETCH_CONNECT_TIMEOUT
    read_timeout = settings.FETCH_READ_TIMEOUT
    deadline = time.monotonic() + settings.FETCH_TOTAL_TIMEOUT
    seen: set[str] = set()
    for _hop in range(settings.FETCH_MAX_REDIRECTS + 1):
        if url in seen:
            raise FetchRefused("redirect_loop", url[:200])
        seen.add(url)
        scheme, host, port, ip = _checked_target(url)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        pool = _pool(scheme, host, ip, port, connect_timeout=connect_timeout, read_timeout=read_timeout)
        try:
            response = pool.urlopen(
                "GET",
                path,
                headers={**pool.headers, "User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"},
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
        except urllib3.exceptions.TimeoutError as error:
            raise FetchRefused("timeout", f"{host}: {error}") from error
        except urllib3.exceptions.HTTPError as error:
            raise FetchRefused("connection_error", f"{host}: {type(error).__name__}", transient=True) from error
        try:
            if response.status in _REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchRefused("bad_redirect", f"HTTP {response.status} without Location")
                url = urljoin(url, location)
                continue
            return FetchedBody(url=url, data=_read_body(response, max_bytes, deadline), declared_type=_ctype(response))
        finally:
            response.release_conn()
            pool.close()
    raise FetchRefused("too_many_redirects", f"more than {settings.FETCH_MAX_REDIRECTS}")


def _ctype(response) -> str:
    return (response.headers.get("Content-Type") or "")[:100]


def _read_body(response, max_bytes: int, deadline: float) -> bytes:
    if response.status == 429 or response.status >= 500:
        raise FetchRefused(f"http_{response.status}", "the host may recover", transient=True)
    if response.status != 200:
        raise FetchRefused(f"http_{response.status}")
    encoding = (response.headers.get("Content-Encoding") or "identity").lower()
    if encoding != "identity":
        # We asked for identity; a compressed body could inflate past any limit, so it is not decoded.
        raise FetchRefused("encoded_body", encoding[:50])
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused("too_large", f"declares {declared} bytes, limit {max_bytes}")
    chunks: list[bytes] = []
    received = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise FetchRefused("timeout", f"body not complete within {settings.FETCH_TOTAL_TIMEOUT}s")
            # read1 returns what has arrived: a slow drip cannot hold one read open past the read timeout.
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise FetchRefused("too_large", f"over {max_bytes} bytes")
            chunks.append(chunk)
    except urllib3.exceptions.TimeoutError as error:
        raise FetchRefused("timeout", "read timed out") from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise FetchRefused("connection_error", type(error).__name__, transient=True) from error
    return b"".join(chunks)
