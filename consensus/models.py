"""Consensus results per image and per crisis, the audit of coordinators' changes, and volunteer skill."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crawling.models import Media
from geoloc_platform.crises.models import Crisis

RATING_CLASSES = ("easy", "medium", "difficult", "impossible", "not_relevant")


class RatingConsensus(models.Model):
    """The aggregated difficulty rating of one image (Dawid-Skene, with majority vote beside it)."""

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="rating_consensus")
    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="rating_consensus")
    method = models.CharField(max_length=20, default="dawid_skene")
    label = models.CharField(max_length=12)
    posterior = models.FloatField(help_text=_("Probability of the label."))
    probabilities = models.JSONField(default=dict, help_text=_("Posterior per class."))
    mv_label = models.CharField(max_length=12, blank=True)
    mv_share = models.FloatField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    n_ratings = models.PositiveIntegerField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "rating consensus"
        indexes = [models.Index(fields=["crisis", "label"])]

    def __str__(self) -> str:
        return f"{self.media_id}: {self.label} ({self.posterior:.2f})"

    @property
    def warned(self) -> bool:
        return bool(self.warnings)


class CrisisRatingStats(models.Model):
    """Agreement among a crisis's raters, recomputed with the rating consensus."""

    crisis = models.OneToOneField(Crisis, on_delete=models.CASCADE, related_name="rating_stats")
    n_ratings = models.PositiveIntegerField(default=0)
    n_images = models.PositiveIntegerField(default=0)
    n_volunteers = models.PositiveIntegerField(default=0)
    fleiss_kappa = models.FloatField(null=True, blank=True, help_text=_("Generalised to unequal numbers of ratings."))
    krippendorff_alpha_ordinal = models.FloatField(null=True, blank=True)
    warning_rate = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "crisis rating statistics"

    def __str__(self) -> str:
        return f"{self.crisis}: kappa {self.fleiss_kappa}"


class LocationConsensus(models.Model):
    """Where the crowd puts one image, how sure it is, and whether the image is retired."""

    class Status(models.TextChoices):
        NEEDS_MORE_ANSWERS = "needs_more_answers", _("Needs more answers")
        DONE = "done", _("Done")
        NEEDS_EXPERT_REVIEW = "needs_expert_review", _("Needs expert review")
        AWAITING_VERIFICATION = "awaiting_verification", _("Waiting for a check by a volunteer with a record")
        CANNOT_GEOLOCATE = "cannot_geolocate", _("Cannot be geolocated")

    class Review(models.TextChoices):
        AUTOMATIC = "automatic", _("From the crowd, not reviewed")
        ACCEPTED = "accepted", _("Accepted by a reviewer")
        MOVED = "moved", _("Moved by a reviewer")
        REJECTED = "rejected", _("Rejected by a coordinator")

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="location_consensus")
    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="location_consensus")
    status = models.CharField(max_length=24, choices=Status.choices)
    reason = models.CharField(max_length=300)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    radius_68_m = models.FloatField(null=True, blank=True)
    radius_95_m = models.FloatField(null=True, blank=True)
    precision = models.CharField(max_length=8, blank=True, help_text=_("Most common precision among the pins."))
    ambiguous = models.BooleanField(default=False)
    candidates = models.JSONField(default=list, blank=True, help_text=_("Candidate sites when ambiguous."))
    n_answers = models.PositiveIntegerField(default=0)
    n_cannot_geolocate = models.PositiveIntegerField(default=0)
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.AUTOMATIC)
    trusted = models.BooleanField(
        default=False, help_text=_("The evidence includes a volunteer with a record, a reviewer or a coordinator.")
    )
    evidence = models.JSONField(
        default=dict, blank=True, help_text=_("Who and what placed it (volunteers, their records, checks, rule).")
    )
    copied_from = models.ForeignKey(
        Media,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("For a duplicate: the representative whose result this is."),
    )
    computed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "location consensus"
        indexes = [models.Index(fields=["crisis", "status", "updated_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(lat__isnull=True) | Q(lat__gte=-90, lat__lte=90), name="consensus_lat"),
            models.CheckConstraint(
                condition=Q(lon__isnull=True) | Q(lon__gte=-180, lon__lte=180), name="consensus_lon"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.media_id}: {self.status}"


class LocationConsensusChange(models.Model):
    """Audit of a coordinator or reviewer accepting, moving or rejecting a consensus location."""

    class Action(models.TextChoices):
        ACCEPT = "accept", _("Accept")
        MOVE = "move", _("Move")
        REJECT = "reject", _("Reject")

    consensus = models.ForeignKey(LocationConsensus, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=8, choices=Action.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    from_lat = models.FloatField(null=True, blank=True)
    from_lon = models.FloatField(null=True, blank=True)
    to_lat = models.FloatField(null=True, blank=True)
    to_lon = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.consensus_id} by {self.changed_by_id}"


class VolunteerSkill(models.Model):
    """What the consensus learnt about one volunteer in one crisis."""

    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skills")
    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="volunteer_skills")
    n_ratings = models.PositiveIntegerField(default=0)
    n_geolocations = models.PositiveIntegerField(default=0)
    rating_pooled = models.BooleanField(default=False, help_text=_("Too few ratings: shares the pooled matrix."))
    rating_confusion = models.JSONField(default=list, blank=True, help_text=_("DS confusion matrix [true][answered]."))
    rating_accuracy = models.FloatField(null=True, blank=True)
    median_distance_to_consensus_m = models.FloatField(null=True, blank=True)
    median_distance_to_gold_m = models.FloatField(null=True, blank=True)
    median_time_on_task_s = models.FloatField(null=True, blank=True)
    # The track record in this crisis: answers checked against gold images or against points whose trust came
    # from someone else (a volunteer with a record, a reviewer, a coordinator).
    n_gold_checked = models.PositiveIntegerField(default=0)
    n_gold_correct = models.PositiveIntegerField(default=0)
    n_confirmed = models.PositiveIntegerField(default=0, help_text=_("Answers a trusted result agreed with."))
    n_contradicted = models.PositiveIntegerField(default=0, help_text=_("Answers a trusted result contradicted."))
    skill = models.FloatField(default=0.5)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["volunteer", "crisis"], name="unique_skill_per_crisis")]

    def __str__(self) -> str:
        return f"{self.volunteer} in {self.crisis}: {self.skill:.2f}"
