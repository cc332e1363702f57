"""Crisis projects: what to collect, where, for how long, and how the crowd works on it."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from djgeojson.fields import GeometryField

from geoloc_platform.crises import codes


def all_crawl_sources() -> list[str]:
    """A new crisis is crawled on every platform the deployment has credentials for."""
    return list(Crisis.CrawlSource.values)


class Crisis(models.Model):
    class Hazard(models.TextChoices):
        FLOOD = "flood", _("Flood")
        EARTHQUAKE = "earthquake", _("Earthquake")
        WILDFIRE = "wildfire", _("Wildfire")
        STORM = "storm", _("Storm")
        LANDSLIDE = "landslide", _("Landslide")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        CLOSED = "closed", _("Closed")

    class SchedulingPolicy(models.TextChoices):
        DIFFICULTY_PRIORITY = "difficulty_priority", _("Difficulty priority (easy first)")
        BREADTH_FIRST = "breadth_first", _("Breadth first")
        DEPTH_FIRST = "depth_first", _("Depth first")
        RANDOM = "random", _("Random (for comparison)")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    class RedundancyPolicy(models.TextChoices):
        ADAPTIVE = "adaptive", _("Adaptive: ask for answers until the evidence is enough")
        FIXED = "fixed", _("Fixed: the same number of geolocations for every image")

    class CrawlSource(models.TextChoices):
        """The platforms a crisis may be crawled on (crawling.sources has one adapter each)."""

        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"
        X = "x", "X"
        FLICKR = "flickr", "Flickr"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    hazard = models.CharField(max_length=20, choices=Hazard.choices)
    description = models.TextField(blank=True)
    volunteer_instructions = models.TextField(blank=True)
    languages = models.JSONField(default=list, blank=True, help_text=_('ISO 639-1 codes, e.g. ["en", "pt"].'))
    keywords = models.JSONField(
        default=dict, blank=True, help_text=_('Search keywords per language, e.g. {"en": ["flood"]}.')
    )
    hashtags = models.JSONField(default=list, blank=True, help_text=_("Without '#', e.g. [\"RSFloods\"]."))
    affected_area = GeometryField(
        null=True, blank=True, help_text=_("Bounding box or polygon of the affected area (GeoJSON, WGS84).")
    )
    country_codes = models.JSONField(default=list, blank=True, help_text=_('ISO 3166-1 alpha-2, e.g. ["BR"].'))
    crawl_sources = models.JSONField(
        default=all_crawl_sources,
        blank=True,
        help_text=_("The platforms this crisis is crawled on (each also needs its credentials in the settings)."),
    )
    collection_starts_at = models.DateTimeField(null=True, blank=True)
    collection_ends_at = models.DateTimeField(null=True, blank=True)
    rating_redundancy = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(50)], help_text=_("Answers wanted per image.")
    )
    geolocation_redundancy = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(50)], help_text=_("Answers wanted per image.")
    )
    scheduling_policy = models.CharField(
        max_length=30, choices=SchedulingPolicy.choices, default=SchedulingPolicy.DIFFICULTY_PRIORITY
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    allow_anonymous = models.BooleanField(default=False, help_text=_("Let people contribute without an account."))
    # Trust and verification (consensus README, "Trust"): how much evidence a point needs before it is published.
    redundancy_policy = models.CharField(
        max_length=10,
        choices=RedundancyPolicy.choices,
        default=RedundancyPolicy.ADAPTIVE,
        help_text=_(
            "Adaptive: one geolocation at a time, done when two independent skilled pins agree or a Street View match "
            "is confirmed by a check; more only where pins disagree. Fixed: 'Geolocation redundancy' answers each."
        ),
    )
    publish_requires_record = models.BooleanField(
        default=True,
        help_text=_(
            "Publish a point only when its evidence includes a volunteer with a track record, a reviewer or a "
            "coordinator; otherwise it waits for a check. Turn off only for a vetted private team."
        ),
    )
    trusted_min_record = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Correct checked answers (practice images, verified points) that make a track record."),
    )
    area_margin_km = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0), MaxValueValidator(1000)],
        help_text=_("Points farther than this outside the affected area go to review, never straight to the map."),
    )
    require_email_confirmation = models.BooleanField(
        default=False, help_text=_("Only volunteers who confirmed their e-mail address may contribute (no guests).")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "crises"
        permissions = [("coordinate_crisis", "Can launch, pause, resume and close crises")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(collection_ends_at__isnull=True)
                | models.Q(collection_starts_at__isnull=True)
                | models.Q(collection_ends_at__gt=models.F("collection_starts_at")),
                name="crisis_window_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.collection_starts_at
            and self.collection_ends_at
            and self.collection_ends_at <= self.collection_starts_at
        ):
            raise ValidationError({"collection_ends_at": _("The collection window must end after it starts.")})
        if self.affected_area and self.affected_area.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValidationError({"affected_area": _("Draw a bounding box or a polygon.")})
        if self.allow_anonymous and self.require_email_confirmation:
            raise ValidationError(
                {"require_email_confirmation": _("Guests have no e-mail address: turn anonymous help off first.")}
            )
        problems = {
            "languages": codes.language_problems(self.languages),
            "country_codes": codes.country_problems(self.country_codes),
            "hashtags": codes.hashtag_problems(self.hashtags),
            "keywords": codes.keyword_problems(self.keywords),
            "crawl_sources": crawl_source_problems(self.crawl_sources),
        }
        if any(problems.values()):
            raise ValidationError({field: found for field, found in problems.items() if found})

    @property
    def is_public(self) -> bool:
        return self.visibility == self.Visibility.PUBLIC


def crawl_source_problems(sources) -> list[str]:
    known = Crisis.CrawlSource.values
    if not isinstance(sources, list) or not all(source in known for source in sources):
        return [_("Choose among: %(sources)s.") % {"sources": ", ".join(known)}]
    return []


class CrisisMembership(models.Model):
    """Per-crisis roles: coordinators run a crisis; responders may see its private map and exports."""

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", _("Coordinator")
        RESPONDER = "responder", _("Responder")

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crisis_memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crisis", "user", "role"], name="unique_crisis_membership")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.crisis}"


class CrisisStatusChange(models.Model):
    """The audit log of the lifecycle: who moved a crisis from which status to which, and when."""

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=Crisis.Status.choices)
    to_status = models.CharField(max_length=10, choices=Crisis.Status.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.crisis}: {self.from_status} -> {self.to_status}"
