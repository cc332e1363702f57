from django.apps import AppConfig


class ClassificationConfig(AppConfig):
    name = "classification"
    verbose_name = "Classification"

    def ready(self) -> None:
        from crawling import pipeline
        from crawling.models import Media

        pipeline.register_step(Media.Stage.UNIQUE, "classification.tasks.media_filter_relevance")
        pipeline.register_step(Media.Stage.RELEVANT, "classification.tasks.media_geolocate_text")
        pipeline.register_step(Media.Stage.TEXT_GEOLOCATED, "classification.tasks.media_score_difficulty_gpu")
