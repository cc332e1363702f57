"""Load the generated demo crisis, with a coordinator and a volunteer account to try it."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crawling.models import Media, Post
from crawling.services import media_fetch
from geoloc_platform.accounts.services import coordinator_grant, role_groups_ensure
from geoloc_platform.crises import demo, services
from geoloc_platform.crises.models import Crisis, CrisisMembership


class Command(BaseCommand):
    help = (
        "Create the generated demo crisis (idempotent) and run its images through the pipeline, with a "
        "coordinator, a volunteer and a responder account to try it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default="", help="Password of the demo accounts (random if empty).")

    def handle(self, *args, password: str = "", **options):
        role_groups_ensure()
        password = password or secrets.token_urlsafe(9)
        coordinator, volunteer, responder = self._accounts(password)
        crisis = Crisis.objects.filter(slug=demo.DEMO_SLUG).first()
        if crisis is None:
            crisis = self._create(coordinator)
        CrisisMembership.objects.get_or_create(
            crisis=crisis, user=responder, defaults={"role": CrisisMembership.Role.RESPONDER}
        )
        pending = list(crisis.media.filter(stage=Media.Stage.NEW).values_list("pk", flat=True))
        for media_id in pending:
            media_fetch(media_id=media_id)
        stages = dict(
            (stage, crisis.media.filter(stage=stage).count()) for stage in crisis.media.values_list("stage", flat=True)
        )
        self.stdout.write(
            self.style.SUCCESS(f"Demo crisis '{crisis.name}': {crisis.posts.count()} posts, images by stage {stages}")
        )
        for role, user in (("coordinator", coordinator), ("volunteer", volunteer), ("responder", responder)):
            self.stdout.write(f"  {role}: {user.username} / {password}")

    def _accounts(self, password: str) -> tuple[User, User, User]:
        coordinator, _ = User.objects.get_or_create(
            username="demo-coordinator", defaults={"email": "coordinator@demo.invalid"}
        )
        coordinator_grant(user=coordinator)
        volunteer, _ = User.objects.get_or_create(
            username="demo-volunteer", defaults={"email": "volunteer@demo.invalid"}
        )
        responder, _ = User.objects.get_or_create(
            username="demo-responder", defaults={"email": "responder@demo.invalid"}
        )
        for user in (coordinator, volunteer, responder):
            user.set_password(password)
            user.save(update_fields=["password"])
        return coordinator, volunteer, responder

    @transaction.atomic
    def _create(self, coordinator: User) -> Crisis:
        now = timezone.now()
        crisis = services.crisis_create(
            created_by=coordinator,
            collection_starts_at=now - timedelta(days=2),
            collection_ends_at=now + timedelta(days=12),
            **demo.DEMO_CRISIS,
        )
        services.crisis_transition(crisis=crisis, action="launch", user=coordinator, note="demo")
        files = demo.write_demo_files(settings.VAR_DIR / "demo_source")
        for hours_ago, post in enumerate(demo.DEMO_POSTS):
            stored = Post.objects.create(
                crisis=crisis,
                source=Post.Source.DEMO,
                source_id=post.source_id,
                author_handle=f"demo_user_{post.source_id}",
                text=post.text,
                language="en" if post.text.isascii() else "pt",
                posted_at=now - timedelta(hours=len(demo.DEMO_POSTS) - hours_ago),
                hashtags=[word[1:] for word in post.text.split() if word.startswith("#")],
                geo_lat=post.lat,
                geo_lon=post.lon,
            )
            for position, path in enumerate(files[post.source_id]):
                Media.objects.create(crisis=crisis, post=stored, position=position, source_path=str(path))
        return crisis
