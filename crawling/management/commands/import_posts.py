"""manage.py import_posts <crisis-slug> <path> --format crisismmd|twitter|csv [--images DIR]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from crawling import imports, services
from geoloc_platform.crises.models import Crisis


class Command(BaseCommand):
    help = "Import posts and images from a dataset file. Importing the same file twice creates nothing new."

    def add_arguments(self, parser):
        parser.add_argument("crisis", help="the crisis slug")
        parser.add_argument("path", type=Path, help="the TSV, JSON/JSONL or CSV file")
        parser.add_argument("--format", dest="fmt", required=True, choices=sorted(imports.FORMATS))
        parser.add_argument("--images", type=Path, default=None, help="the folder the file's image paths are in")

    def handle(self, *args, crisis: str, path: Path, fmt: str, images: Path | None, **options):
        found = Crisis.objects.filter(slug=crisis).first()
        if found is None:
            raise CommandError(f"No crisis with the slug {crisis!r}.")
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        if images is not None and not images.is_dir():
            raise CommandError(f"No folder at {images}.")
        with tqdm(desc=path.name, unit="post", file=self.stdout) as bar:
            report = services.posts_import(crisis=found, fmt=fmt, path=path, images_dir=images, on_batch=bar.update)
        for error in report.errors:
            self.stderr.write(f"{path}: {error}")
        self.stdout.write(
            f"{report.posts_seen} posts read, {report.posts_created} new posts, {report.media_created} new images"
        )
        if report.errors:
            raise CommandError("The import stopped early; see the error above.")
