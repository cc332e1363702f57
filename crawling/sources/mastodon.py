"""Mastodon: public hashtag timelines per instance (no auth), images only, paged through the Link header."""

from urllib.parse import parse_qs, quote, urlsplit

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
    html_to_text,
    id_newer,
    parse_iso,
    to_int,
)
from geoloc_platform.crises.models import Crisis


class MastodonCrawler(BaseCrawler):
    source = Post.Source.MASTODON
    page_size = 40  # the API's maximum

    @classmethod
    def is_enabled(cls) -> bool:
        return bool(settings.MASTODON_INSTANCES)

    def streams(self, crisis: Crisis) -> list[Stream]:
        tags = [tag.strip("# ") for tag in crisis.hashtags or [] if isinstance(tag, str) and tag.strip("# ")]
        if not tags:
            return []
        # One request per instance covers every hashtag: the first in the path, the others as any[].
        return [
            Stream(key=urlsplit(instance).netloc or instance, params={"instance": instance.rstrip("/"), "tags": tags})
            for instance in settings.MASTODON_INSTANCES
        ]

    def page_fetch(
        self, *, stream: Stream, cursor: str | None, since: str | None, crisis: Crisis, max_results: int | None = None
    ) -> Page:
        first, *others = stream.params["tags"]
        limit = min(self.page_size, max_results or self.page_size)
        params: list[tuple[str, str]] = [("limit", str(limit)), ("only_media", "true")]
        params += [("any[]", tag) for tag in others]
        if cursor:
            params.append(("max_id", cursor))
        if since:
            params.append(("since_id", since))
        url = f"{stream.params['instance']}/api/v1/timelines/tag/{quote(first, safe='')}"
        response, body = self._get_json(url, params=params)
        if not isinstance(body, list):
            raise SourceError(f"{self.source}: malformed response, expected a list of statuses")
        newest = None
        for status in body:
            newest = id_newer(newest, str(status.get("id", "")) or None)
        next_cursor = _next_max_id(response) if body else None
        reset = self.rate_reset(response) if response.headers.get("X-RateLimit-Remaining") == "0" else None
        return Page(items=body, next_cursor=next_cursor, newest_mark=newest, rate_reset_at=reset)

    def rate_reset(self, response: requests.Response):
        return parse_iso(response.headers.get("X-RateLimit-Reset")) or super().rate_reset(response)

    def normalise(self, raw: dict) -> NormalisedPost | None:
        # A boost carries the boosted status: collect that one, so every boost of it is one post.
        status = raw["reblog"] if raw.get("reblog") else raw
        media = []
        for attachment in status.get("media_attachments") or []:
            if attachment.get("type") != "image":
                continue  # gifv and video are not photographs to geolocate
            url = attachment.get("url") or attachment.get("remote_url")  # url is null for media not yet cached
            if not url:
                continue
            original = (attachment.get("meta") or {}).get("original") or {}
            media.append(
                NormalisedMedia(
                    remote_url=url,
                    alt_text=attachment.get("description") or "",
                    declared_width=to_int(original.get("width")),
                    declared_height=to_int(original.get("height")),
                )
            )
        if not media:
            return None
        account = status.get("account") or {}
        return NormalisedPost(
            source_id=str(status.get("uri") or status["id"]),
            url=status.get("url") or status.get("uri") or "",
            author_handle=account.get("acct") or account.get("username") or "",
            text=html_to_text(status.get("content") or ""),
            language=(status.get("language") or "")[:10],
            posted_at=parse_iso(status.get("created_at")),
            hashtags=[tag["name"] for tag in status.get("tags") or [] if tag.get("name")],
            raw=raw,
            media=media,
        )


def _next_max_id(response: requests.Response) -> str | None:
    """The max_id of the Link header's rel="next"; only the id is kept, never the server-given URL."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("max_id")
    return values[0] if values else None
