from django.apps import AppConfig, apps


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Crowd tasks"

    def ready(self) -> None:
        from crawling import pipeline
        from crawling.models import Media
        from tasks_app import services

        # DIFFICULTY_SCORED -> QUEUED: the crowd tasks exist (the classifier made them, or we make them unscored).
        pipeline.register_step(Media.Stage.DIFFICULTY_SCORED, "tasks_app.tasks.media_queue_scored")
        if apps.is_installed("consensus"):
            services.answer_submitted.connect(answer_to_consensus, dispatch_uid="tasks_app.answer_to_consensus")


def answer_to_consensus(sender, *, answer_id: int, **kwargs) -> None:
    """Every committed answer goes to the consensus app (consensus README, "Flow"); sent on commit already."""
    from django.utils.module_loading import import_string

    import_string("consensus.tasks.answer_recorded").delay(answer_id)
