"""Gazetteer places, geocoder cache, the text location of each post, relevance decisions and labels."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crawling.models import Media, Post
from geoloc_platform.crises.models import Crisis


class Place(models.Model):
    """A named place of the offline gazetteer, built by ``manage.py build_gazetteer`` or added by hand."""

    class Kind(models.TextChoices):
        CONTINENT = "continent", _("Continent")
        COUNTRY = "country", _("Country")
        ADMIN1 = "admin1", _("First-level region")
        ADMIN2 = "admin2", _("Second-level unit (county, district)")
        CITY = "city", _("City or town")
        LOCAL = "local", _("Local place (neighbourhood, landmark)")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=300, db_index=True)
    alternate_names = models.JSONField(default=list, blank=True, help_text=_("Other names, any language or script."))
    country_code = models.CharField(max_length=2, blank=True)
    admin1_code = models.CharField(
        max_length=20, blank=True, help_text=_('A region\'s own code; on a town or unit, its region as "CC.CODE".')
    )
    admin2_name = models.CharField(
        max_length=200, blank=True, help_text=_("The county or district a town lies in (a Place of kind admin2).")
    )
    lat = models.FloatField()
    lon = models.FloatField()
    population = models.BigIntegerField(default=0)
    radius_km = models.FloatField(help_text=_("Uncertainty radius of a pin on this place."))
    source = models.CharField(max_length=30, default="manual")
    source_id = models.CharField(max_length=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="unique_place_source_id"),
            models.CheckConstraint(condition=models.Q(lat__gte=-90, lat__lte=90), name="place_lat_range"),
            models.CheckConstraint(condition=models.Q(lon__gte=-180, lon__lte=180), name="place_lon_range"),
            models.CheckConstraint(condition=models.Q(radius_km__gt=0), name="place_radius_positive"),
        ]
        indexes = [models.Index(fields=["lat", "lon"], name="place_lat_lon")]  # the towns near a point

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.country_code or '-'})"


class GeocodeCacheEntry(models.Model):
    """One answer of the online geocoder (empty answers too), so a query is sent at most once."""

    key = models.CharField(max_length=64, unique=True, help_text=_("SHA-256 of provider, server, query, bounds."))
    provider = models.CharField(max_length=20)
    query = models.CharField(max_length=500)
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.provider}: {self.query} ({len(self.results)} results)"


class PostGeolocation(models.Model):
    """Where the text of a post (with its images' alt and OCR text) says it is. Its images reuse it."""

    class Method(models.TextChoices):
        NATIVE = "native", _("Coordinates of the post")
        GAZETTEER = "gazetteer", _("Offline gazetteer")
        GEOCODER = "geocoder", _("Online geocoder")
        CRISIS_AREA = "crisis_area", _("Crisis area (nothing found)")
        CRISIS_COUNTRIES = "crisis_countries", _("Crisis countries (nothing found)")
        WORLD = "world", _("Whole world (nothing found, no crisis area)")

    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="text_geolocation")
    lat = models.FloatField()
    lon = models.FloatField()
    radius_km = models.FloatField()
    method = models.CharField(max_length=20, choices=Method.choices)
    is_fallback = models.BooleanField(
        default=False, help_text=_("Nothing was recognised: the point is the crisis centre, not a guess.")
    )
    score = models.FloatField(default=0.0)
    candidates = models.JSONField(default=list, blank=True, help_text=_("Up to three places, best first."))
    spans = models.JSONField(default=list, blank=True, help_text=_("Matched text, with source and offsets."))
    provenance = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(lat__gte=-90, lat__lte=90), name="postgeo_lat_range"),
            models.CheckConstraint(condition=models.Q(lon__gte=-180, lon__lte=180), name="postgeo_lon_range"),
        ]

    def __str__(self) -> str:
        return f"Post {self.post_id}: {self.lat:.4f}, {self.lon:.4f} ± {self.radius_km} km ({self.method})"


class MediaRelevance(models.Model):
    """The relevance filter's decision on an image, with the rule that decided and the OCR text it read."""

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="relevance")
    dropped = models.BooleanField()
    rule = models.CharField(max_length=40, blank=True, help_text=_("The rule that dropped it, or empty."))
    score = models.FloatField(default=0.0, help_text=_("Estimated probability that the image is irrelevant."))
    details = models.JSONField(default=dict, blank=True)
    ocr_text = models.TextField(blank=True)
    model_version = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="relevance_decisions",
        help_text=_("The relevance classifier that scored the image; empty: the rules alone decided."),
    )
    decided_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Image {self.media_id}: {'dropped by ' + self.rule if self.dropped else 'kept'}"


class RelevanceLabel(models.Model):
    """A human judgement of relevance: training data for the image classifier."""

    class Source(models.TextChoices):
        RESTORE = "restore", _("Coordinator restored a filtered image")
        CONFIRM = "confirm", _("Coordinator confirmed a filtered image")
        CROWD = "crowd", _("Crowd answer")

    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="relevance_labels")
    relevant = models.BooleanField()
    source = models.CharField(max_length=10, choices=Source.choices)
    rule = models.CharField(max_length=40, blank=True, help_text=_("The filter rule the label overrules or confirms."))
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["source", "created_at"])]
        constraints = [
            # The crowd's label follows its rating consensus, which changes as answers arrive: one row, updated.
            models.UniqueConstraint(
                fields=["media"], condition=Q(source="crowd"), name="one_crowd_relevance_label_per_image"
            ),
        ]

    def __str__(self) -> str:
        return f"Image {self.media_id}: {'relevant' if self.relevant else 'not relevant'} ({self.source})"


class FilteredMedia(Media):
    """Images the relevance filter dropped, as coordinators review them (a proxy: same table as Media)."""

    class Meta:
        proxy = True
        verbose_name = _("filtered image")
        verbose_name_plural = _("filtered images")


class HeldBackMedia(Media):
    """Images the filter held back as probably not relevant, as coordinators review them in bulk (a proxy)."""

    class Meta:
        proxy = True
        verbose_name = _("probably not relevant image")
        verbose_name_plural = _("probably not relevant images")


class RelevanceThreshold(models.Model):
    """The relevance classifier's hold-back threshold for one crisis, chosen from the crisis's own labels
    (coordinators' restores and confirmations, the crowd's answers) so that at most ``target_held_back`` of its
    relevant images are held back; with too few labels, the global default."""

    class Source(models.TextChoices):
        LABELS = "labels", _("The crisis's labels")
        DEFAULT = "default", _("Default (too few labels)")

    crisis = models.OneToOneField(Crisis, on_delete=models.CASCADE, related_name="relevance_threshold")
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="relevance_thresholds"
    )
    threshold = models.FloatField(help_text=_("p(not relevant) at or above which the classifier holds an image back."))
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.DEFAULT)
    target_held_back = models.FloatField(default=0.03)
    relevant_labels = models.PositiveIntegerField(default=0, help_text=_("Labelled relevant images the model scored."))
    irrelevant_labels = models.PositiveIntegerField(default=0)
    relevant_held_back = models.FloatField(
        null=True, blank=True, help_text=_("Share of the labelled relevant images at or above the threshold.")
    )
    irrelevant_caught = models.FloatField(
        null=True, blank=True, help_text=_("Share of the labelled irrelevant images at or above the threshold.")
    )
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.crisis}: hold back at p >= {self.threshold:.3f} ({self.source})"


class ModelVersion(models.Model):
    """A trained image classifier: its settings, data, figures and checkpoint. One is active per purpose and scope."""

    class Purpose(models.TextChoices):
        DIFFICULTY = "difficulty", _("Difficulty (orders the crowd's work)")
        RELEVANCE = "relevance", _("Relevance (filters images before the crowd)")

    class Estimator(models.TextChoices):
        FINE_TUNED = "fine_tuned", _("Fine-tuned network (the paper's two stages)")
        COLD_START = "cold_start", _("Cold-start estimate (ImageNet Lite0, text and image evidence)")
        CRISIS_LEARNED = "crisis_learned", _("Learned in the crisis (a head on frozen Lite0 embeddings)")

    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.DIFFICULTY)
    crisis = models.ForeignKey(
        Crisis,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="model_versions",
        help_text="Empty: a global model, used by crises without one of their own.",
    )
    estimator = models.CharField(
        max_length=20,
        choices=Estimator.choices,
        default=Estimator.FINE_TUNED,
        help_text=_("How the version scores images; the checkpoint is a network, or a head on Lite0 embeddings."),
    )
    backbone = models.CharField(max_length=100)
    image_size = models.PositiveIntegerField()
    weights_origin = models.CharField(
        max_length=300, help_text='"hub", "file:<path>", the Lite0 package, or "random-init" (not for production).'
    )
    class_mapping = models.CharField(max_length=40)
    class_names = models.JSONField(default=list)
    training_settings = models.JSONField(default=dict, help_text="Training configuration.")
    label_counts = models.JSONField(default=dict)
    data_hash = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, help_text="Test-split metrics with 95% confidence intervals.")
    evaluation = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "The promotion check: this version and the one active before it on the same held-back images of the "
            "crisis, and the decision."
        ),
    )
    history = models.JSONField(default=dict, help_text="Loss and accuracy per epoch; the unfreeze point.")
    checkpoint = models.CharField(max_length=500, help_text="Path of the checkpoint file.")
    curves = models.ImageField(upload_to="models/", blank=True)
    consensus_labels = models.PositiveIntegerField(
        default=0, help_text="Labels available at training: consensus ratings, or relevance labels."
    )
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "crisis"],
                condition=Q(is_active=True, crisis__isnull=False),
                name="one_active_model_per_purpose_and_crisis",
            ),
            models.UniqueConstraint(
                fields=["purpose"],
                condition=Q(is_active=True, crisis__isnull=True),
                name="one_active_global_model_per_purpose",
            ),
            # The cold start is installed on first use by whichever worker scores first: one row per head file.
            models.UniqueConstraint(
                fields=["checkpoint"], condition=Q(estimator="cold_start"), name="one_cold_start_version_per_head"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.purpose}, {self.backbone}{', active' if self.is_active else ''})"

    @property
    def is_random_init(self) -> bool:
        return self.weights_origin == "random-init"


class DifficultyPrediction(models.Model):
    """The classifier's prediction for one image, with the version that made it (None: no model was active)."""

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="difficulty_prediction")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    probabilities = models.JSONField(default=dict)
    predicted_label = models.CharField(max_length=20, blank=True)
    ease = models.FloatField(null=True, blank=True, help_text="Probability of the easy class, in [0, 1].")
    evidence = models.JSONField(
        default=dict, blank=True, help_text=_("What the estimate rests on: scene cues, text, image text, duplicates.")
    )
    scored_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.media_id}: {self.predicted_label or 'unscored'}"


class MediaEmbedding(models.Model):
    """A frozen backbone's feature vector of an image, computed once when it is scored: the input of the cold-start
    estimate and of the heads learned in a crisis, which then train in seconds without reading images again."""

    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="embeddings")
    backbone = models.CharField(max_length=100)
    views = models.PositiveSmallIntegerField(help_text=_("Square crops averaged into the vector."))
    dim = models.PositiveIntegerField()
    vector = models.BinaryField(help_text=_("float16 values, little-endian."))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["media", "backbone", "views"], name="one_embedding_per_image_and_backbone")
        ]

    def __str__(self) -> str:
        return f"Image {self.media_id}: {self.backbone} x{self.views} ({self.dim})"
