"""Bluesky: app.bsky.feed.searchPosts with an app-password session, cursor paging, every image embed shape."""

import threading
from datetime import datetime

import requests
from django.conf import settings

from crawling.models import Post
from crawling.sources.base import (
    BaseCrawler,
    NormalisedMedia,
    NormalisedPost,
    Page,
    SourceError,
    Stream,
    crisis_terms,
    epoch_to_datetime,
    iso_z,
    parse_iso,
    to_int,
)
from geoloc_platform.crises.models import Crisis

# Sessions are shared by every crawl in this process: createSession once, then refresh on ExpiredToken.
_SESSIONS: dict[tuple[str, str], dict] = {}
_SESSIONS_LOCK = threading.Lock()

IMAGES_VIEW = "app.bsky.embed.images#view"
GALLERY_VIEW = "app.bsky.embed.gallery#view"
RECORD_WITH_MEDIA_VIEW = "app.bsky.embed.recordWithMedia#view"
CDN = "https://cdn.bsky.app/img/feed_fullsize/plain"


class BlueskyCrawler(BaseCrawler):
    source = Post.Source.BLUESKY
    page_size = 100  # the API's maximum

    @classmethod
    def is_enabled(cls) -> bool:
        return bool(settings.BLUESKY_IDENTIFIER and settings.BLUESKY_APP_PASSWORD)

    @property
    def service(self) -> str:
        return settings.BLUESKY_SERVICE_URL.rstrip("/")

    def streams(self, crisis: Crisis) -> list[Stream]:
        return [
            Stream(key=f"{language}:{term}" if language else term, params={"q": term, "lang": language})
            for language, term in crisis_terms(crisis)
        ]

    # Session ---------------------------------------------------------------------------------------

    def _session_key(self) -> tuple[str, str]:
        return self.service, settings.BLUESKY_IDENTIFIER

    def _access_token(self) -> str:
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(self._session_key())
            if session is None:
                session = self._xrpc_post(
                    "com.atproto.server.createSession",
                    json={"identifier": settings.BLUESKY_IDENTIFIER, "password": settings.BLUESKY_APP_PASSWORD},
                )
                _SESSIONS[self._session_key()] = session
            return session["accessJwt"]

    def _refresh(self, expired_access: str) -> None:
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(self._session_key())
            if session is None or session.get("accessJwt") != expired_access:
                return  # another crawl refreshed it already
            try:
                _SESSIONS[self._session_key()] = self._xrpc_post(
                    "com.atproto.server.refreshSession", token=session["refreshJwt"]
                )
            except SourceError:
                del _SESSIONS[self._session_key()]  # the refresh token expired too: log in again next time

    def _xrpc_post(self, method: str, *, json=None, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self.session.post(
                f"{self.service}/xrpc/{method}", json=json, headers=headers, timeout=settings.CRAWL_HTTP_TIMEOUT
            )
        except requests.RequestException as error:
            raise SourceError(f"bluesky: {method}: {type(error).__name__}") from error
        body = self._json(response)
        if not isinstance(body, dict) or not body.get("accessJwt"):
            raise SourceError(f"bluesky: {method} gave no session")
        return body

    # Pages -----------------------------------------------------------------------------------------

    def page_fetch(
        self, *, stream: Stream, cursor: str | None, since: str | None, crisis: Crisis, max_results: int | None = None
    ) -> Page:
        params = {
            "q": stream.params["q"],
            "sort": "latest",
            "limit": min(self.page_size, max_results or self.page_size),
        }
        if stream.params.get("lang"):
            params["lang"] = stream.params["lang"]
        starts = [iso_z(t) for t in (crisis.collection_starts_at,) if t] + ([since] if since else [])
        if starts:
            params["since"] = max(starts)
        if crisis.collection_ends_at:
            params["until"] = iso_z(crisis.collection_ends_at)
        if cursor:
            params["cursor"] = cursor
        url = f"{self.service}/xrpc/app.bsky.feed.searchPosts"
        for attempt in range(2):
            token = self._access_token()
            try:
                response = self.session.get(
                    url,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=settings.CRAWL_HTTP_TIMEOUT,
                )
            except requests.RequestException as error:
                raise SourceError(f"bluesky: searchPosts: {type(error).__name__}") from error
            if attempt == 0 and _is_expired(response):
                self._refresh(token)
                continue
            break
        body = self._json(response)
        if not isinstance(body, dict) or not isinstance(body.get("posts", []), list):
            raise SourceError("bluesky: malformed searchPosts response")
        posts = body.get("posts") or []
        marks = [m for m in (parse_iso(p.get("indexedAt")) for p in posts if isinstance(p, dict)) if m]
        newest = iso_z(max(marks)) if marks else None
        next_cursor = body.get("cursor") if posts else None
        reset = self.rate_reset(response) if response.headers.get("RateLimit-Remaining") == "0" else None
        return Page(items=posts, next_cursor=next_cursor or None, newest_mark=newest, rate_reset_at=reset)

    def rate_reset(self, response: requests.Response) -> datetime | None:
        return epoch_to_datetime(response.headers.get("RateLimit-Reset")) or super().rate_reset(response)

    # Items -----------------------------------------------------------------------------------------

    def normalise(self, raw: dict) -> NormalisedPost | None:
        record = raw.get("record") or {}
        author = raw.get("author") or {}
        media = _view_images(raw.get("embed")) or _record_images(record.get("embed"), author.get("did", ""))
        if not media:
            return None
        uri = raw["uri"]
        handle = author.get("handle") or author.get("did") or ""
        tags = [
            feature.get("tag")
            for facet in record.get("facets") or []
            for feature in facet.get("features") or []
            if feature.get("$type") == "app.bsky.richtext.facet#tag" and feature.get("tag")
        ] + [tag for tag in record.get("tags") or [] if isinstance(tag, str)]
        return NormalisedPost(
            source_id=uri,
            url=f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}" if handle else "",
            author_handle=handle,
            text=record.get("text") or "",
            language=((record.get("langs") or [""])[0] or "")[:10],
            posted_at=parse_iso(record.get("createdAt")) or parse_iso(raw.get("indexedAt")),
            hashtags=list(dict.fromkeys(tags)),
            raw=raw,
            media=media,
        )


def _is_expired(response: requests.Response) -> bool:
    if response.status_code not in (400, 401):
        return False
    try:
        return response.json().get("error") in ("ExpiredToken", "InvalidToken")
    except (ValueError, AttributeError):
        return False


def _aspect(item: dict) -> tuple[int | None, int | None]:
    ratio = item.get("aspectRatio") or {}
    return to_int(ratio.get("width")), to_int(ratio.get("height"))


def _view_images(embed: dict | None) -> list[NormalisedMedia]:
    """Images of a post view's embed: images#view, gallery#view (``thumbnail``), or either inside recordWithMedia."""
    if not isinstance(embed, dict):
        return []
    kind = embed.get("$type", "")
    if kind == RECORD_WITH_MEDIA_VIEW:
        return _view_images(embed.get("media"))
    items = embed.get("images") if kind == IMAGES_VIEW else embed.get("items") if kind == GALLERY_VIEW else None
    media = []
    for item in items or []:
        url = item.get("fullsize") or item.get("thumbnail") or item.get("thumb")
        if url:
            width, height = _aspect(item)
            media.append(
                NormalisedMedia(
                    remote_url=url, alt_text=item.get("alt") or "", declared_width=width, declared_height=height
                )
            )
    return media


def _record_images(embed: dict | None, did: str) -> list[NormalisedMedia]:
    """Fallback when the view is missing: blob refs of the record, served by the CDN under the author's DID."""
    if not isinstance(embed, dict) or not did:
        return []
    kind = embed.get("$type", "")
    if kind == "app.bsky.embed.recordWithMedia":
        return _record_images(embed.get("media"), did)
    items = (
        embed.get("images")
        if kind == "app.bsky.embed.images"
        else (embed.get("items") if kind == "app.bsky.embed.gallery" else None)
    )
    media = []
    for item in items or []:
        link = ((item.get("image") or {}).get("ref") or {}).get("$link")
        if link:
            width, height = _aspect(item)
            media.append(
                NormalisedMedia(
                    remote_url=f"{CDN}/{did}/{link}@jpeg",
                    alt_text=item.get("alt") or "",
                    declared_width=width,
                    declared_height=height,
                )
            )
    return media
