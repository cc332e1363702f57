from django.apps import AppConfig


class CrawlingConfig(AppConfig):
    name = "crawling"
    verbose_name = "Crawling and images"

    def ready(self) -> None:
        from crawling import pipeline
        from crawling.models import Media

        pipeline.register_step(Media.Stage.NEW, "crawling.tasks.media_fetch")
        pipeline.register_step(Media.Stage.FETCHED, "crawling.tasks.media_dedup")
