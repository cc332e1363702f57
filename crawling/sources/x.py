"""X API v2 recent search with media, author and place expansions. Reads cost money: off unless a bearer
token and a read budget are set, and every post read is counted against the budget."""

from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from crawling.models import Post
from crawling.sources.base import (
    BaseCrawler,
    NormalisedMedia,
    NormalisedPost,
    Page,
    SourceError,
    Stream,
    bbox_centre,
    crisis_terms,
    epoch_to_datetime,
    iso_z,
    parse_iso,
    to_int,
    valid_point,
)
from geoloc_platform.crises.models import Crisis

QUERY_MAX_CHARS = 512
SUFFIX = " has:images -is:retweet"


class XCrawler(BaseCrawler):
    source = Post.Source.X
    paid_reads = True

    @classmethod
    def is_enabled(cls) -> bool:
        return bool(settings.X_BEARER_TOKEN and settings.X_READ_BUDGET > 0)

    def streams(self, crisis: Crisis) -> list[Stream]:
        """As few queries as fit in 512 characters: terms OR-ed together, images only, no retweets."""
        streams: list[Stream] = []
        current: list[str] = []
        for _language, term in crisis_terms(crisis):
            quoted = f'"{term}"' if " " in term else term
            if current and len(_query([*current, quoted])) > QUERY_MAX_CHARS:
                streams.append(Stream(key=f"q{len(streams)}", params={"query": _query(current)}))
                current = []
            current.append(quoted)
        if current:
            streams.append(Stream(key=f"q{len(streams)}", params={"query": _query(current)}))
        return streams

    def page_fetch(
        self, *, stream: Stream, cursor: str | None, since: str | None, crisis: Crisis, max_results: int | None = None
    ) -> Page:
        params = {
            "query": stream.params["query"],
            "max_results": max(10, min(100, max_results or 100)),
            "expansions": "attachments.media_keys,author_id,geo.place_id",
            "media.fields": "url,preview_image_url,alt_text,width,height,type",
            "tweet.fields": "created_at,lang,geo,attachments,author_id,entities",
            "user.fields": "username,name",
            "place.fields": "full_name,name,country_code,geo,place_type",
        }
        # Recent search reaches back seven days; an older start is refused by the API.
        earliest = timezone.now() - timedelta(days=7) + timedelta(minutes=1)
        if not since:  # since_id already bounds the search; the API wants one lower bound, not both
            params["start_time"] = iso_z(max(t for t in (crisis.collection_starts_at, earliest) if t))
        if crisis.collection_ends_at and crisis.collection_ends_at < timezone.now() - timedelta(seconds=30):
            params["end_time"] = iso_z(crisis.collection_ends_at)
        if since:
            params["since_id"] = since
        if cursor:
            params["next_token"] = cursor
        response, body = self._get_json(
            f"{settings.X_API_URL.rstrip('/')}/2/tweets/search/recent",
            params=params,
            headers={"Authorization": f"Bearer {settings.X_BEARER_TOKEN}"},
        )
        if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
            raise SourceError("x: malformed search response")
        includes = body.get("includes") or {}
        media_by_key = {m.get("media_key"): m for m in includes.get("media") or []}
        users = {u.get("id"): u for u in includes.get("users") or []}
        places = {p.get("id"): p for p in includes.get("places") or []}
        items = []
        for tweet in body.get("data") or []:
            keys = (tweet.get("attachments") or {}).get("media_keys") or []
            # Each item carries its own expansions, so the stored raw JSON can be re-parsed alone.
            items.append(
                {
                    "tweet": tweet,
                    "media": [media_by_key[key] for key in keys if key in media_by_key],
                    "author": users.get(tweet.get("author_id")) or {},
                    "place": places.get((tweet.get("geo") or {}).get("place_id")) or {},
                }
            )
        meta = body.get("meta") or {}
        reset = self.rate_reset(response) if response.headers.get("x-rate-limit-remaining") == "0" else None
        return Page(
            items=items,
            next_cursor=meta.get("next_token") if items else None,
            newest_mark=meta.get("newest_id"),
            rate_reset_at=reset,
            reads=len(items),
        )

    def rate_reset(self, response: requests.Response) -> datetime | None:
        return epoch_to_datetime(response.headers.get("x-rate-limit-reset")) or super().rate_reset(response)

    def normalise(self, raw: dict) -> NormalisedPost | None:
        tweet = raw["tweet"]
        media = [
            NormalisedMedia(
                remote_url=m["url"],
                alt_text=m.get("alt_text") or "",
                declared_width=to_int(m.get("width")),
                declared_height=to_int(m.get("height")),
            )
            for m in raw.get("media") or []
            if m.get("type") == "photo" and m.get("url")
        ]
        if not media:
            return None  # a media key missing from includes leaves the tweet without its image
        author = raw.get("author") or {}
        username = author.get("username") or ""
        post = NormalisedPost(
            source_id=str(tweet["id"]),
            url=f"https://x.com/{username or 'i/web'}/status/{tweet['id']}",
            author_handle=username,
            text=tweet.get("text") or "",
            language=(tweet.get("lang") or "")[:10],
            posted_at=parse_iso(tweet.get("created_at")),
            hashtags=[h["tag"] for h in (tweet.get("entities") or {}).get("hashtags") or [] if h.get("tag")],
            raw=raw,
            media=media,
        )
        point = ((tweet.get("geo") or {}).get("coordinates") or {}).get("coordinates")
        if point and len(point) == 2:  # GeoJSON order: [lon, lat]
            post.geo_lat, post.geo_lon = valid_point(point[1], point[0])
            post.geo_accuracy_m = 10.0 if post.geo_lat is not None else None
        place = raw.get("place") or {}
        if place:
            post.geo_place = (place.get("full_name") or place.get("name") or "")[:300]
            bbox = (place.get("geo") or {}).get("bbox")
            if post.geo_lat is None and bbox and len(bbox) == 4:
                lat, lon, radius = bbox_centre(bbox)
                post.geo_lat, post.geo_lon = valid_point(lat, lon)
                post.geo_accuracy_m = radius
        return post


def _query(terms: list[str]) -> str:
    return f"({' OR '.join(terms)}){SUFFIX}"
