"""Crowd work: tasks per image and kind, leases (assignments) handed to volunteers, answers, reports, gold."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crawling.models import Media
from geoloc_platform.crises.models import Crisis

OPEN_TASK = Q(status="open")


class CrowdTask(models.Model):
    """One kind of crowd work on one image, wanted ``redundancy`` times.

    ``slots_taken`` counts open leases plus answers and is only changed under the row lock (or by a conditional
    UPDATE); the check constraint makes an overshoot impossible even for a buggy caller. A task is handed out
    only while ``status`` is ``open``, which the partial indexes below cover, so the next-task query walks an
    index of open tasks in the order of the crisis's policy and stops at the first row it may lock.
    """

    class Kind(models.TextChoices):
        RATING = "rating", _("Difficulty rating")
        GEOLOCATION = "geolocation", _("Geolocation")
        REVIEW = "review", _("Review")
        VERIFICATION = "verification", _("Verification: is this photo at this pin?")

    class Status(models.TextChoices):
        OPEN = "open", _("Open: needs answers")
        FULL = "full", _("Full: every slot leased or answered")
        DONE = "done", _("Done: redundancy reached")
        WITHHELD = "withheld", _("Withheld (predicted impossible or reported)")
        RETIRED = "retired", _("Retired by consensus or a coordinator")
        GOLD = "gold", _("Gold: known answer, mixed in for feedback")

    class PredictedLabel(models.TextChoices):
        EASY = "easy", _("Easy")
        MEDIUM = "medium", _("Medium")
        DIFFICULT = "difficult", _("Difficult")
        IMPOSSIBLE = "impossible", _("Impossible")

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="crowd_tasks")
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="crowd_tasks")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    redundancy = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    slots_taken = models.PositiveSmallIntegerField(default=0, help_text=_("Open leases plus answers."))
    answers_count = models.PositiveSmallIntegerField(default=0)

    # Inputs of the priority, kept for coordinators and for recomputing it.
    predicted_ease = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)], help_text=_("1 = easiest.")
    )
    predicted_label = models.CharField(max_length=10, choices=PredictedLabel.choices, blank=True)
    relevance = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)])
    recency = models.FloatField(default=0.5)
    coverage = models.FloatField(default=1.0, help_text=_("1 when nothing near this image is queued yet."))
    area_cell = models.CharField(max_length=24, blank=True)
    # The sort keys of the policies (see services.task_priority): stored so each order has an index.
    priority = models.FloatField(default=0.0)
    expert_priority = models.FloatField(default=0.0)
    random_key = models.FloatField(default=0.0)

    # Review and verification tasks: the location to check.
    reference_lat = models.FloatField(null=True, blank=True)
    reference_lon = models.FloatField(null=True, blank=True)
    reference_radius_m = models.FloatField(null=True, blank=True)
    # Review tasks: why the consensus asked for one, for the reviewer: an English template marked for translation
    # and its values (``review_reason``); a reason stored before the values were kept is its English text.
    reference_reason = models.CharField(max_length=300, blank=True)
    reference_reason_values = models.JSONField(default=dict, blank=True)
    # Verification tasks: the Street View the pinner recorded as evidence, shown beside the photo.
    reference_pano_lat = models.FloatField(null=True, blank=True)
    reference_pano_lon = models.FloatField(null=True, blank=True)
    reference_pano_heading = models.FloatField(null=True, blank=True)
    reference_pano_pitch = models.FloatField(null=True, blank=True)
    # Gold tasks: the known answer.
    gold_lat = models.FloatField(null=True, blank=True)
    gold_lon = models.FloatField(null=True, blank=True)
    gold_label = models.CharField(max_length=12, blank=True)

    reports_count = models.PositiveSmallIntegerField(default=0)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["media", "kind"], name="crowdtask_one_per_media_kind"),
            models.CheckConstraint(condition=Q(slots_taken__lte=models.F("redundancy")), name="crowdtask_no_overshoot"),
            models.CheckConstraint(
                condition=Q(answers_count__lte=models.F("slots_taken")), name="crowdtask_answers_within_slots"
            ),
            models.CheckConstraint(
                condition=~Q(status="open") | Q(slots_taken__lt=models.F("redundancy")), name="crowdtask_open_has_room"
            ),
            models.CheckConstraint(
                condition=Q(reference_lat__isnull=True) | Q(reference_lat__gte=-90, reference_lat__lte=90),
                name="crowdtask_reference_lat_range",
            ),
            models.CheckConstraint(
                condition=Q(reference_lon__isnull=True) | Q(reference_lon__gte=-180, reference_lon__lte=180),
                name="crowdtask_reference_lon_range",
            ),
            models.CheckConstraint(
                condition=Q(gold_lat__isnull=True) | Q(gold_lat__gte=-90, gold_lat__lte=90),
                name="crowdtask_gold_lat_range",
            ),
            models.CheckConstraint(
                condition=Q(gold_lon__isnull=True) | Q(gold_lon__gte=-180, gold_lon__lte=180),
                name="crowdtask_gold_lon_range",
            ),
        ]
        # One partial index per order a policy asks for; each covers open tasks only, so it stays small.
        indexes = [
            models.Index(fields=["crisis", "kind", "-priority", "id"], condition=OPEN_TASK, name="task_open_priority"),
            models.Index(
                fields=["crisis", "kind", "-expert_priority", "id"], condition=OPEN_TASK, name="task_open_expert"
            ),
            models.Index(fields=["crisis", "kind", "slots_taken", "id"], condition=OPEN_TASK, name="task_open_breadth"),
            models.Index(fields=["crisis", "kind", "-slots_taken", "id"], condition=OPEN_TASK, name="task_open_depth"),
            models.Index(fields=["crisis", "kind", "random_key"], condition=OPEN_TASK, name="task_open_random"),
            models.Index(fields=["crisis", "kind", "status"], name="task_crisis_kind_status"),
            models.Index(fields=["crisis", "area_cell"], name="task_crisis_cell"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of image {self.media_id} ({self.status})"

    @property
    def is_gold(self) -> bool:
        return self.status == self.Status.GOLD

    def review_reason(self) -> str:
        """Why the location is under review, in the active language."""
        if not self.reference_reason_values:
            return self.reference_reason
        return gettext(self.reference_reason) % self.reference_reason_values


class Assignment(models.Model):
    """A task handed to one volunteer: the lease while it is open, then what became of it.

    Unique per task and volunteer: nobody is ever handed the same task twice, even after skipping it.
    """

    class State(models.TextChoices):
        LEASED = "leased", _("Leased")
        ANSWERED = "answered", _("Answered")
        SKIPPED = "skipped", _("Skipped")
        EXPIRED = "expired", _("Expired")

    task = models.ForeignKey(CrowdTask, on_delete=models.CASCADE, related_name="assignments")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.LEASED)
    is_gold = models.BooleanField(default=False)
    leased_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "volunteer"], name="assignment_once_per_volunteer")]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(state="leased"), name="assignment_open_expiry"),
            models.Index(fields=["volunteer", "state"], name="assignment_volunteer_state"),
        ]

    def __str__(self) -> str:
        return f"Lease {self.pk} of task {self.task_id} to {self.volunteer_id} ({self.state})"

    def seconds_left(self, now=None) -> int:
        return max(0, int((self.expires_at - (now or timezone.now())).total_seconds()))


class Answer(models.Model):
    """What a volunteer answered. One table for the three kinds; the constraints keep each kind well formed."""

    class Difficulty(models.TextChoices):
        EASY = "easy", _("Easy")
        MEDIUM = "medium", _("Medium")
        DIFFICULT = "difficult", _("Difficult")
        IMPOSSIBLE = "impossible", _("Impossible")
        NOT_RELEVANT = "not_relevant", _("Not relevant")

    class Precision(models.TextChoices):
        HIGH = "high", _("High: exact spot matched (e.g. in Street View)")
        MEDIUM = "medium", _("Medium: the right street or area")
        LOW = "low", _("Low: only the town")
        CANNOT = "cannot", _("Cannot geolocate")

    class Verdict(models.TextChoices):
        ACCEPT = "accept", _("Accept")
        CORRECT = "correct", _("Correct")
        YES = "yes", _("Yes: the photo was taken at this pin")
        NEARBY = "nearby", _("Nearby: close, but not at this pin")
        NO = "no", _("No: not here")

    class Clue(models.TextChoices):
        SIGN_TEXT = "sign_text", _("Sign text")
        LANDMARK = "landmark", _("Landmark")
        TERRAIN = "terrain", _("Terrain")
        SHOP_NAME = "shop_name", _("Shop name")
        POST_TEXT = "post_text", _("Post text")
        OTHER = "other", _("Other")

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="answer")
    task = models.ForeignKey(CrowdTask, on_delete=models.CASCADE, related_name="answers")
    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="crowd_answers")
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="crowd_answers")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_answers")
    kind = models.CharField(max_length=12, choices=CrowdTask.Kind.choices)
    is_gold = models.BooleanField(default=False)
    is_late = models.BooleanField(default=False, help_text=_("Submitted after the lease expired."))

    difficulty = models.CharField(max_length=12, choices=Difficulty.choices, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    precision = models.CharField(max_length=8, choices=Precision.choices, blank=True)
    verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    clue_tags = models.JSONField(default=list, blank=True)
    # Street View evidence: where the panorama stood and where it looked.
    pano_lat = models.FloatField(null=True, blank=True)
    pano_lon = models.FloatField(null=True, blank=True)
    pano_heading = models.FloatField(null=True, blank=True)
    pano_pitch = models.FloatField(null=True, blank=True)
    # What the volunteer did before pinning, as the page reported it (null: not reported, e.g. an API client).
    interaction = models.JSONField(null=True, blank=True)
    # Derived on submit: the pin only repeats the text-derived guess (placed near it without searching), which
    # makes it weak evidence (consensus README, "Independence").
    confirms_prior = models.BooleanField(default=False)
    prior_distance_m = models.FloatField(null=True, blank=True, help_text=_("From the text-derived guess."))
    note = models.TextField(blank=True, help_text=_("How I found it."))
    time_on_task_s = models.FloatField(null=True, blank=True)
    gold_error_m = models.FloatField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["media", "kind"], name="answer_media_kind"),
            models.Index(fields=["crisis", "volunteer"], name="answer_crisis_volunteer"),
            # The dashboard's live figures read a crisis's answers of the last hours (throughput, active volunteers).
            models.Index(fields=["crisis", "submitted_at"], name="answer_crisis_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lat__isnull=True) | Q(lat__gte=-90, lat__lte=90), name="answer_lat_range"
            ),
            models.CheckConstraint(
                condition=Q(lon__isnull=True) | Q(lon__gte=-180, lon__lte=180), name="answer_lon_range"
            ),
            models.CheckConstraint(
                condition=Q(pano_lat__isnull=True) | Q(pano_lat__gte=-90, pano_lat__lte=90),
                name="answer_pano_lat_range",
            ),
            models.CheckConstraint(
                condition=Q(pano_lon__isnull=True) | Q(pano_lon__gte=-180, pano_lon__lte=180),
                name="answer_pano_lon_range",
            ),
            models.CheckConstraint(
                condition=Q(lat__isnull=True, lon__isnull=True) | Q(lat__isnull=False, lon__isnull=False),
                name="answer_lat_lon_pair",
            ),
            models.CheckConstraint(
                condition=~Q(kind="rating") | ~Q(difficulty=""), name="answer_rating_has_difficulty"
            ),
            models.CheckConstraint(
                condition=~Q(kind="geolocation")
                | Q(precision="cannot", lat__isnull=True)
                | (Q(precision__in=["high", "medium", "low"]) & Q(lat__isnull=False)),
                name="answer_geolocation_pin_or_cannot",
            ),
            models.CheckConstraint(
                condition=~Q(kind="review")
                | Q(verdict="accept", lat__isnull=True)
                | Q(verdict="correct", lat__isnull=False),
                name="answer_review_verdict",
            ),
            models.CheckConstraint(
                condition=~Q(kind="verification") | Q(verdict__in=["yes", "nearby", "no"]),
                name="answer_verification_verdict",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} answer by {self.volunteer_id} on image {self.media_id}"


class Report(models.Model):
    """A volunteer's flag on an image; it goes to the crisis's coordinators (admin)."""

    class Reason(models.TextChoices):
        OLD_PHOTO = "old_photo", _("Old photo")
        EDITED_OR_FAKE = "edited_or_fake", _("Edited or fake")
        NOT_THIS_CRISIS = "not_this_crisis", _("Not this crisis")
        GRAPHIC = "graphic", _("Graphic content")

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="crowd_reports")
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="crowd_reports")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_reports")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["media", "volunteer"], name="report_once_per_volunteer")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} on image {self.media_id}"


class VolunteerProfile(models.Model):
    """What the scheduler knows of a volunteer, written by the consensus app: skill and track record.

    The record counts answers checked against something trusted (gold images, points a volunteer with a record or
    a coordinator verified) over all crises: a track record follows the person from one crisis to the next.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_profile")
    skill = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(1)])
    skill_updated_at = models.DateTimeField(null=True, blank=True)
    record_correct = models.PositiveIntegerField(default=0, help_text=_("Checked answers that were right."))
    record_checked = models.PositiveIntegerField(default=0, help_text=_("Answers checked so far."))
    record_gold_correct = models.PositiveIntegerField(
        default=0, help_text=_("Practice (gold) answers that were right.")
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(skill__gte=0, skill__lte=1), name="volunteer_skill_range"),
        ]

    def __str__(self) -> str:
        return f"{self.user} (skill {self.skill:.2f})"


class LeaderboardEntry(models.Model):
    """A row of a crisis's leaderboard, recomputed by a periodic task, never per request."""

    crisis = models.ForeignKey(Crisis, on_delete=models.CASCADE, related_name="leaderboard")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    answers = models.PositiveIntegerField()
    geolocations = models.PositiveIntegerField(default=0)
    ratings = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["crisis", "rank"]
        constraints = [models.UniqueConstraint(fields=["crisis", "volunteer"], name="leaderboard_once_per_volunteer")]

    def __str__(self) -> str:
        return f"#{self.rank} {self.volunteer} in {self.crisis}"


class QueueableMedia(Media):
    """Images coordinators may send to the crowd by hand before the difficulty classifier is wired (admin)."""

    class Meta:
        proxy = True
        verbose_name = "image to queue for the crowd"
        verbose_name_plural = "images to queue for the crowd"
