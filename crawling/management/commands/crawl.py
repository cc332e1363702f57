"""manage.py crawl <crisis-slug> [--once] [--source mastodon ...] [--max-pages N]: crawl with a progress bar."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from crawling import services
from crawling.sources import CRAWLERS, enabled_sources
from geoloc_platform.crises.models import Crisis


class Command(BaseCommand):
    help = "Crawl the enabled sources chosen for an active crisis now, showing a progress bar per source."

    def add_arguments(self, parser):
        parser.add_argument("crisis", help="the crisis slug")
        parser.add_argument("--once", action="store_true", help="one crawl of each source, then exit")
        parser.add_argument("--source", action="append", choices=sorted(CRAWLERS), help="only these sources")
        parser.add_argument("--max-pages", type=int, default=None, help="pages per source (CRAWL_MAX_PAGES)")

    def handle(self, *args, crisis: str, once: bool, source: list[str] | None, max_pages: int | None, **options):
        found = Crisis.objects.filter(slug=crisis).first()
        if found is None:
            raise CommandError(f"No crisis with the slug {crisis!r}.")
        if found.status != Crisis.Status.ACTIVE:
            raise CommandError(f"The crisis {found.name!r} is {found.status}: only active crises are crawled.")
        sources = source or [name for name in enabled_sources() if name in (found.crawl_sources or [])]
        if not sources:
            raise CommandError(
                "No source is enabled for this crisis: set credentials in the settings (see crawling/README.md) "
                "and choose its sources in the admin."
            )
        while True:
            for name in sources:
                self._crawl_one(found, name, max_pages)
            if once:
                return
            time.sleep(settings.CRAWL_INTERVAL.total_seconds())

    def _crawl_one(self, crisis: Crisis, source: str, max_pages: int | None) -> None:
        total = max_pages or settings.CRAWL_MAX_PAGES
        with tqdm(total=total, desc=source, unit="page", file=self.stdout, leave=True) as bar:

            def on_page(stream_key: str, report) -> None:
                bar.update(1)
                bar.set_postfix(stream=stream_key[:20], posts=report.posts_created, images=report.media_created)

            report = services.crawl_source(crisis_id=crisis.pk, source=source, max_pages=max_pages, on_page=on_page)
        summary = (
            f"{source}: pages {report.pages}, posts read {report.posts_seen}, new posts {report.posts_created}, "
            f"new images {report.media_created}"
        )
        if report.stopped:
            summary += f"; stopped: {report.stopped}"
        self.stdout.write(summary)
        for error in report.errors:
            self.stderr.write(f"{source}: {error}")
