"""Mapping's own rows: per-crisis privacy policy, blurred copies for public maps, dashboard snapshots."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crawling.models import Media
from geoloc_platform.crises.models import Crisis


class CrisisPrivacy(models.Model):
    """Per-crisis privacy policy (the Crisis model is the crises app's; this row is optional).

    Without a row a crisis follows the settings: ``MAP_BLUR_FOR_VOLUNTEERS_DEFAULT``.
    """

    crisis = models.OneToOneField(Crisis, on_delete=models.CASCADE, related_name="map_privacy")
    blur_for_volunteers = models.BooleanField(
        default=False, help_text=_("Show volunteers the copy with faces and licence plates blurred.")
    )
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the retention purge removed source posts and originals.")
    )

    class Meta:
        verbose_name = _("crisis privacy policy")
        verbose_name_plural = _("crisis privacy policies")

    def __str__(self) -> str:
        return f"Privacy of {self.crisis}"


class BlurredImage(models.Model):
    """The copy of an image shown on public maps: faces and licence plates blurred. The original stays."""

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="blurred")
    image = models.ImageField(upload_to="blurred/%Y/%m/")
    faces = models.PositiveIntegerField(default=0)
    plates = models.PositiveIntegerField(default=0)
    detector = models.CharField(max_length=40, help_text=_("Which detector found the regions."))
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Blurred image {self.media_id} ({self.faces} faces, {self.plates} plates)"


class DashboardSnapshot(models.Model):
    """A crisis's coordinator statistics, computed periodically (never per request) and drawn by the page."""

    crisis = models.OneToOneField(Crisis, on_delete=models.CASCADE, related_name="dashboard_snapshot")
    data = models.JSONField(default=dict)
    computed_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Dashboard of {self.crisis} at {self.computed_at:%Y-%m-%d %H:%M}"


class CrisisMapExport(Crisis):
    """Crises as the admin lists them for exports and the dashboard (a proxy: the crises table)."""

    class Meta:
        proxy = True
        verbose_name = _("map export")
        verbose_name_plural = _("map exports and dashboards")
