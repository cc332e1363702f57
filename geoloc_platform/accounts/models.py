"""A volunteer's e-mail confirmation: crises may require a confirmed address before taking someone's answers."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EmailConfirmation(models.Model):
    """The address a volunteer signed up with, and when they followed the link sent to it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_confirmation")
    email = models.EmailField()
    sent_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail confirmation")

    def __str__(self) -> str:
        return f"{self.email} ({'confirmed' if self.confirmed_at else 'not confirmed'})"
