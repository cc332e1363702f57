"""Queue a crisis's images for the crowd by hand (the demo, or before the difficulty classifier is wired)."""

from django.core.management.base import BaseCommand, CommandError

from crawling.models import Media
from geoloc_platform.crises.models import Crisis
from tasks_app.services import QUEUEABLE_STAGES, media_queue_for_crowd


class Command(BaseCommand):
    help = "Queue every image of a crisis that waits before the crowd (fetched ... difficulty scored)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The crisis's slug.")
        parser.add_argument("--ease", type=float, default=None, help="Predicted ease in [0, 1] for all of them.")

    def handle(self, *args, slug: str, ease: float | None = None, **options):
        crisis = Crisis.objects.filter(slug=slug).first()
        if crisis is None:
            raise CommandError(f"No crisis {slug!r}.")
        media_ids = Media.objects.filter(crisis=crisis, stage__in=QUEUEABLE_STAGES).values_list("pk", flat=True)
        queued = sum(media_queue_for_crowd(media_id=media_id, predicted_ease=ease) for media_id in list(media_ids))
        self.stdout.write(self.style.SUCCESS(f"{crisis.name}: queued {queued} images for the crowd."))
