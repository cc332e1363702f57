"""Posts collected for a crisis and their images; each image carries its pipeline stage."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from geoloc_platform.crises.models import Crisis


class Post(models.Model):
    class Source(models.TextChoices):
        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"
        X = "x", "X"
        FLICKR = "flickr", "Flickr"
        CRISISMMD = "crisismmd", "CrisisMMD import"
        TWITTER_V1 = "twitter_v1", "Twitter v1.1 import"
        CSV = "csv", "CSV import"
        DEMO = "demo", _("Generated demo")

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="posts")
    source = models.CharField(max_length=20, choices=Source.choices)
    source_id = models.CharField(max_length=200)
    url = models.URLField(max_length=1000, blank=True)
    author_handle = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True, help_text=_("Plain text: HTML is stripped on the way in."))
    language = models.CharField(max_length=10, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    hashtags = models.JSONField(default=list, blank=True)
    # Native geo, when the platform gives it. Accuracy in metres; place name as the platform spells it.
    geo_lat = models.FloatField(null=True, blank=True)
    geo_lon = models.FloatField(null=True, blank=True)
    geo_place = models.CharField(max_length=300, blank=True)
    geo_accuracy_m = models.FloatField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text=_("The item as received, kept for re-parsing."))
    collected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Unique per crisis, not globally: one post can matter to two overlapping crises.
        constraints = [
            models.UniqueConstraint(fields=["crisis", "source", "source_id"], name="unique_post_per_crisis"),
            models.CheckConstraint(
                condition=models.Q(geo_lat__isnull=True) | models.Q(geo_lat__gte=-90, geo_lat__lte=90),
                name="post_geo_lat_range",
            ),
            models.CheckConstraint(
                condition=models.Q(geo_lon__isnull=True) | models.Q(geo_lon__gte=-180, geo_lon__lte=180),
                name="post_geo_lon_range",
            ),
        ]
        indexes = [models.Index(fields=["crisis", "-posted_at"])]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.source_id}"


class Media(models.Model):
    """One image of a post. ``stage`` is the source of truth of its progress through the pipeline."""

    class Stage(models.TextChoices):
        NEW = "new", _("Waiting for download")
        FETCHED = "fetched", _("Fetched")
        REJECTED = "rejected", _("Rejected")
        DUPLICATE = "duplicate", _("Duplicate")
        UNIQUE = "unique", _("Unique (checked for duplicates)")
        IRRELEVANT = "irrelevant", _("Irrelevant")
        PROBABLY_IRRELEVANT = "probably_irrelevant", _("Probably not relevant (held back for a coordinator)")
        RELEVANT = "relevant", _("Relevant")
        TEXT_GEOLOCATED = "text_geolocated", _("Geolocated by text")
        DIFFICULTY_SCORED = "difficulty_scored", _("Difficulty scored")
        QUEUED = "queued", _("Queued for the crowd")
        IN_CROWD_WORK = "in_crowd_work", _("In crowd work")
        CONSENSUS_REACHED = "consensus_reached", _("Consensus reached")
        NEEDS_REVIEW = "needs_review", _("Needs review")
        CANNOT_GEOLOCATE = "cannot_geolocate", _("Cannot be geolocated")
        PUBLISHED = "published", _("Published")

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="media")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="media")
    position = models.PositiveSmallIntegerField(default=0, help_text=_("Order of the image in its post."))
    remote_url = models.URLField(max_length=2000, blank=True)
    source_path = models.CharField(
        max_length=1000, blank=True, help_text=_("Local file of an imported dataset, read instead of a URL.")
    )
    alt_text = models.TextField(blank=True)
    declared_width = models.PositiveIntegerField(null=True, blank=True)
    declared_height = models.PositiveIntegerField(null=True, blank=True)

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    stage_attempts = models.PositiveSmallIntegerField(
        default=0, help_text=_("Times the sweeper re-sent the work of the current stage.")
    )
    reject_reason = models.CharField(max_length=300, blank=True)

    # The copy shown to volunteers carries no EXIF; the original is for coordinators only.
    image = models.ImageField(upload_to="media/%Y/%m/", blank=True)
    original = models.FileField(upload_to="originals/%Y/%m/", blank=True)
    content_type = models.CharField(max_length=50, blank=True)
    byte_size = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # imagededup PHash of the served copy (16 hex digits), compared by Hamming distance within a crisis.
    phash = models.CharField(max_length=16, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    # Restricted evidence from EXIF: never shown to volunteers.
    exif_lat = models.FloatField(null=True, blank=True)
    exif_lon = models.FloatField(null=True, blank=True)
    exif_taken_at = models.DateTimeField(null=True, blank=True)

    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )

    class Meta:
        verbose_name_plural = "media"
        constraints = [models.UniqueConstraint(fields=["post", "position"], name="unique_media_position")]
        indexes = [
            models.Index(fields=["stage", "stage_changed_at"], name="media_stage_age"),
            models.Index(fields=["crisis", "stage"], name="media_crisis_stage"),
        ]

    def __str__(self) -> str:
        return f"Image {self.pk} ({self.stage})"


class CrawlState(models.Model):
    """Where the crawl of one source for one crisis stands; saved after every page so a crawl resumes.

    ``streams`` holds one entry per query stream (a Mastodon instance and hashtag, a Bluesky term...):
    ``{"cursor": <page cursor or None>, "newest": <newest mark of the last finished pass>, "top": <newest mark
    of the pass in progress>}``. A pass pages from the newest post back to ``newest`` and then becomes the new
    ``newest``: an interrupted pass resumes from ``cursor`` and nothing is collected twice.
    """

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="crawl_states")
    source = models.CharField(max_length=20, choices=Post.Source.choices)
    streams = models.JSONField(default=dict, blank=True)
    # A crawl holds the lease while it runs; a second crawl of the same crisis and source finds it taken.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Set from HTTP 429 or exhausted rate headers: no request before this time.
    not_before = models.DateTimeField(null=True, blank=True)
    last_crawl_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(default=0)
    posts_seen = models.PositiveIntegerField(default=0)
    posts_created = models.PositiveIntegerField(default=0)
    media_created = models.PositiveIntegerField(default=0)
    items_skipped = models.PositiveIntegerField(default=0, help_text=_("Items that could not be read."))
    reads_used = models.PositiveIntegerField(default=0, help_text=_("Paid reads spent (X API)."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crisis", "source"], name="unique_crawl_state")]
        ordering = ["crisis", "source"]

    def __str__(self) -> str:
        return f"{self.crisis} / {self.get_source_display()}"


class ImportJob(models.Model):
    """A CSV, or a ZIP of images with a CSV, that a coordinator uploaded in the admin to import into a crisis.

    ``mapping`` says which column holds each field (``imports.IMPORT_FIELDS``). Each row's outcome is an
    ImportRow written in the transaction that stores its post, so a run that stops resumes after the last row
    recorded and nothing is stored twice.
    """

    class Kind(models.TextChoices):
        CSV = "csv", _("CSV")
        ZIP = "zip", _("ZIP of images with a CSV")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded: check the columns, then start")
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Stored outside media/: only the EXIF-free copies under media/ are ever served.
    upload = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    kind = models.CharField(max_length=3, choices=Kind.choices)
    csv_member = models.CharField(max_length=500, blank=True, help_text=_("The CSV inside the ZIP."))
    columns = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text=_("Field -> column name."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0, help_text=_("Rows whose post was imported before."))
    rows_failed = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, help_text=_("Why the whole file could not be imported."))
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True, help_text=_("Last row recorded: a run's heartbeat."))

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} into {self.crisis}"

    @property
    def rows_done(self) -> int:
        return self.rows_imported + self.rows_skipped + self.rows_failed


class ImportRow(models.Model):
    """The outcome of one row of an import: its post, or why it was skipped or refused."""

    class Outcome(models.TextChoices):
        IMPORTED = "imported", _("Imported")
        SKIPPED = "skipped", _("Already imported")
        FAILED = "failed", _("Error")

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField(help_text=_("Row of the CSV, 1 = the first row after the header."))
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.CharField(max_length=500, blank=True)
    post = models.ForeignKey(Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The row as read, kept for rows with an error: the downloadable CSV gives them back to be fixed.
    values = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="import_row_once")]
        indexes = [models.Index(fields=["job", "outcome", "number"], name="import_row_outcome")]

    def __str__(self) -> str:
        return f"row {self.number}: {self.outcome}"
