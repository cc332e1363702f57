"""Hand-written API payloads in the documented shapes of each source (no recorded data is copied)."""


def mastodon_status(
    status_id: int,
    *,
    images: int = 1,
    url_null: bool = False,
    reblog: dict | None = None,
    created_at: str = "2024-05-06T12:00:00.000Z",
    media_type: str = "image",
) -> dict:
    attachments = [
        {
            "id": f"{status_id}{i}",
            "type": media_type,
            "url": None if url_null else f"https://files.example/{status_id}_{i}.jpg",
            "preview_url": f"https://files.example/small/{status_id}_{i}.jpg",
            "remote_url": f"https://remote.example/{status_id}_{i}.jpg",
            "meta": {"original": {"width": 800, "height": 600, "size": "800x600", "aspect": 1.33}},
            "description": f"alt {status_id} {i}",
            "blurhash": "UGC~-#M{0JfkNFofR%M{IURj%Mt7E0oM%MR*",
        }
        for i in range(images)
    ]
    return {
        "id": str(status_id),
        "created_at": created_at,
        "language": "pt",
        "uri": f"https://social.example/users/ana/statuses/{status_id}",
        "url": f"https://social.example/@ana/{status_id}",
        "content": f'<p>Rua alagada &amp; <a href="https://social.example/tags/rsfloods" class="mention hashtag">'
        f"#<span>RSFloods</span></a></p><p>post {status_id}</p>",
        "reblog": reblog,
        "account": {"id": "1", "username": "ana", "acct": "ana@social.example", "display_name": "Ana"},
        "media_attachments": attachments,
        "tags": [{"name": "rsfloods", "url": "https://social.example/tags/rsfloods"}],
    }


def bluesky_post(
    rkey: str, *, embed: dict | None, indexed_at: str = "2024-05-06T12:00:00.000Z", record_embed: dict | None = None
) -> dict:
    did = "did:plc:abc123"
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": f"bafy{rkey}",
        "author": {"did": did, "handle": "ana.bsky.social", "displayName": "Ana"},
        "record": {
            "$type": "app.bsky.feed.post",
            "createdAt": indexed_at,
            "langs": ["pt"],
            "text": f"Enchente no centro {rkey} #EnchenteRS",
            "facets": [
                {
                    "index": {"byteStart": 20, "byteEnd": 31},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "EnchenteRS"}],
                }
            ],
            **({"embed": record_embed} if record_embed else {}),
        },
        **({"embed": embed} if embed else {}),
        "indexedAt": indexed_at,
        "labels": [],
    }


def bsky_images_view(*names: str) -> dict:
    return {
        "$type": "app.bsky.embed.images#view",
        "images": [
            {
                "thumb": f"https://cdn.example/thumb/{n}@jpeg",
                "fullsize": f"https://cdn.example/full/{n}@jpeg",
                "alt": f"alt {n}",
                "aspectRatio": {"width": 4032, "height": 3024},
            }
            for n in names
        ],
    }


def bsky_gallery_view(*names: str) -> dict:
    return {
        "$type": "app.bsky.embed.gallery#view",
        "items": [
            {
                "thumbnail": f"https://cdn.example/thumb/{n}@jpeg",
                "fullsize": f"https://cdn.example/full/{n}@jpeg",
                "alt": f"alt {n}",
                "aspectRatio": {"width": 1000, "height": 800},
            }
            for n in names
        ],
    }


def bsky_record_with_media_view(media: dict) -> dict:
    return {
        "$type": "app.bsky.embed.recordWithMedia#view",
        "media": media,
        "record": {
            "record": {
                "$type": "app.bsky.embed.record#viewRecord",
                "uri": "at://did:plc:x/app.bsky.feed.post/q",
                "value": {"text": "quoted"},
            }
        },
    }


def x_page(tweets: list[dict], media: list[dict], *, next_token: str | None = None, places=None) -> dict:
    ids = [t["id"] for t in tweets]
    meta = {"result_count": len(tweets)}
    if tweets:
        meta.update(newest_id=max(ids, key=int), oldest_id=min(ids, key=int))
    if next_token:
        meta["next_token"] = next_token
    page = {"meta": meta}
    if tweets:
        page["data"] = tweets
        page["includes"] = {
            "media": media,
            "users": [{"id": "42", "name": "Ana", "username": "ana_rs"}],
            "places": places or [],
        }
    return page


def x_tweet(tweet_id: str, media_keys: list[str], *, geo: dict | None = None) -> dict:
    tweet = {
        "id": tweet_id,
        "edit_history_tweet_ids": [tweet_id],
        "text": f"Enchente em Porto Alegre #RSFloods {tweet_id}",
        "created_at": "2024-05-06T12:00:00.000Z",
        "lang": "pt",
        "author_id": "42",
        "attachments": {"media_keys": media_keys},
        "entities": {"hashtags": [{"start": 20, "end": 29, "tag": "RSFloods"}]},
    }
    if geo:
        tweet["geo"] = geo
    return tweet


def x_photo(key: str) -> dict:
    return {
        "media_key": key,
        "type": "photo",
        "url": f"https://pbs.example/{key}.jpg",
        "width": 960,
        "height": 640,
        "alt_text": f"alt {key}",
    }


def flickr_photo(
    photo_id: str, *, lat="-30.030000", lon="-51.220000", accuracy="16", upload="1715000000", url_l: bool = True
) -> dict:
    photo = {
        "id": photo_id,
        "owner": "123@N00",
        "secret": "abc",
        "server": "4265",
        "farm": 5,
        "title": f"Cheia {photo_id}",
        "ispublic": 1,
        "license": "4",
        "description": {"_content": "Depois de <b>três</b> dias de chuva"},
        "dateupload": upload,
        "datetaken": "2024-05-05 09:41:10",
        "ownername": "fotografa",
        "tags": "enchente rsfloods",
        "latitude": lat,
        "longitude": lon,
        "accuracy": accuracy,
    }
    if url_l:
        photo.update(url_l=f"https://live.example/{photo_id}_b.jpg", width_l="1024", height_l=683)
    return photo


def flickr_page(photos: list[dict], *, page: int = 1, pages: int = 1) -> dict:
    return {
        "photos": {"page": page, "pages": pages, "perpage": 250, "total": str(len(photos)), "photo": photos},
        "stat": "ok",
    }


def v1_tweet(
    tweet_id: str, *, coordinates=None, geo=None, place=None, retweet_of: dict | None = None, images: int = 1
) -> dict:
    tweet = {
        "id": int(tweet_id),
        "id_str": tweet_id,
        "created_at": "Sun Aug 27 15:02:11 +0000 2017",
        "lang": "en",
        "text": f"Water up to the roof #HarveyFlood {tweet_id}",
        "user": {"id_str": "123", "screen_name": "example_user"},
        "coordinates": coordinates,
        "geo": geo,
        "place": place,
        "entities": {"hashtags": [{"text": "HarveyFlood", "indices": [21, 33]}]},
        "extended_entities": {
            "media": [
                {
                    "id_str": f"{tweet_id}{i}",
                    "type": "photo",
                    "media_url_https": f"https://pbs.example/{tweet_id}_{i}.jpg",
                    "sizes": {"large": {"w": 2048, "h": 1536, "resize": "fit"}},
                }
                for i in range(images)
            ]
        },
    }
    if retweet_of:
        tweet["retweeted_status"] = retweet_of
    return tweet
