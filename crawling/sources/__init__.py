"""Source adapters, one per platform, behind one interface (``BaseCrawler``)."""

from crawling.sources.base import BaseCrawler
from crawling.sources.bluesky import BlueskyCrawler
from crawling.sources.flickr import FlickrCrawler
from crawling.sources.mastodon import MastodonCrawler
from crawling.sources.x import XCrawler

CRAWLERS: dict[str, type[BaseCrawler]] = {
    crawler.source: crawler for crawler in (MastodonCrawler, BlueskyCrawler, XCrawler, FlickrCrawler)
}


def crawler_for(source: str) -> BaseCrawler:
    return CRAWLERS[source]()


def enabled_sources() -> list[str]:
    """Sources switched on by the settings: credentials present, and for X a read budget."""
    return [source for source, crawler in CRAWLERS.items() if crawler.is_enabled()]
