"""Flickr photos.search: the crisis's tags inside the affected area's bounding box and the collection window."""

from django.conf import settings

from crawling.models import Post
from crawling.sources.base import (
    BaseCrawler,
    NormalisedMedia,
    NormalisedPost,
    Page,
    SourceError,
    Stream,
    crisis_bbox,
    crisis_terms,
    epoch_to_datetime,
    html_to_text,
    to_int,
    valid_point,
)
from geoloc_platform.crises.models import Crisis

EXTRAS = "geo,date_taken,date_upload,owner_name,tags,description,url_l,url_o,url_c"
# Flickr's geo accuracy is a zoom level: 1 is the world, 16 a street. Roughly the visible width in metres.
WORLD_M = 40_075_000


class FlickrCrawler(BaseCrawler):
    source = Post.Source.FLICKR
    page_size = 250

    @classmethod
    def is_enabled(cls) -> bool:
        return bool(settings.FLICKR_API_KEY)

    def streams(self, crisis: Crisis) -> list[Stream]:
        tags = list(dict.fromkeys(term.lstrip("#").replace(" ", "").lower() for _lang, term in crisis_terms(crisis)))
        bbox = crisis_bbox(crisis)
        if not tags and not bbox:
            return []  # Flickr refuses searches with nothing to narrow them
        return [Stream(key="search", params={"tags": ",".join(tags[:20]), "bbox": bbox})]

    def page_fetch(
        self, *, stream: Stream, cursor: str | None, since: str | None, crisis: Crisis, max_results: int | None = None
    ) -> Page:
        page = int(cursor) if cursor and cursor.isdigit() else 1
        params = {
            "method": "flickr.photos.search",
            "api_key": settings.FLICKR_API_KEY,
            "extras": EXTRAS,
            "per_page": min(self.page_size, max_results or self.page_size),
            "page": page,
            "sort": "date-posted-desc",
            "content_type": 1,  # photos only
            "media": "photos",
            "format": "json",
            "nojsoncallback": 1,
        }
        if stream.params.get("tags"):
            params.update(tags=stream.params["tags"], tag_mode="any")
        if stream.params.get("bbox"):
            params["bbox"] = ",".join(f"{v:.6f}" for v in stream.params["bbox"])
        if crisis.collection_starts_at:
            params["min_taken_date"] = int(crisis.collection_starts_at.timestamp())
        if crisis.collection_ends_at:
            params["max_taken_date"] = int(crisis.collection_ends_at.timestamp())
        if since:
            params["min_upload_date"] = since
        _response, body = self._get_json(settings.FLICKR_API_URL, params=params)
        if not isinstance(body, dict):
            raise SourceError("flickr: malformed response")
        if body.get("stat") != "ok":
            raise SourceError(f"flickr: {body.get('code', '?')} {str(body.get('message', ''))[:200]}")
        photos = body.get("photos") or {}
        items = photos.get("photo") or []
        if not isinstance(items, list):
            raise SourceError("flickr: malformed photo list")
        uploads = [to_int(p.get("dateupload")) for p in items]
        newest = max((u for u in uploads if u), default=None)
        pages = to_int(photos.get("pages")) or 0
        return Page(
            items=items,
            next_cursor=str(page + 1) if items and page < pages else None,
            newest_mark=str(newest) if newest else None,
        )

    def normalise(self, raw: dict) -> NormalisedPost | None:
        url = raw.get("url_l") or raw.get("url_c") or raw.get("url_o")
        width = raw.get("width_l") or raw.get("width_c") or raw.get("width_o")
        height = raw.get("height_l") or raw.get("height_c") or raw.get("height_o")
        if not url and raw.get("server") and raw.get("secret"):
            url = f"https://live.staticflickr.com/{raw['server']}/{raw['id']}_{raw['secret']}_b.jpg"
            width = height = None
        if not url:
            return None
        owner = str(raw.get("owner") or "")
        title = raw.get("title") or ""
        description = html_to_text((raw.get("description") or {}).get("_content") or "")
        post = NormalisedPost(
            source_id=str(raw["id"]),
            url=f"https://www.flickr.com/photos/{owner}/{raw['id']}" if owner else "",
            author_handle=str(raw.get("ownername") or owner),
            text="\n".join(part for part in (title, description) if part),
            posted_at=epoch_to_datetime(raw.get("dateupload")),
            hashtags=[tag for tag in str(raw.get("tags") or "").split() if tag],
            raw=raw,
            media=[
                NormalisedMedia(
                    remote_url=url, alt_text=title, declared_width=to_int(width), declared_height=to_int(height)
                )
            ],
        )
        lat, lon = valid_point(raw.get("latitude"), raw.get("longitude"))
        if lat is not None and (lat, lon) != (0.0, 0.0):  # 0,0 means "not geotagged"
            post.geo_lat, post.geo_lon = lat, lon
            level = to_int(raw.get("accuracy"))
            post.geo_accuracy_m = WORLD_M / 2**level if level else None
        return post
