"""The refusals of crowd work, each with a stable code (README, "Error codes")."""

from rest_framework import status

from geoloc_platform.exceptions import PlatformError


class UnknownLease(PlatformError):
    code = "unknown_lease"
    http_status = status.HTTP_404_NOT_FOUND


class LeaseNotYours(PlatformError):
    code = "lease_not_yours"
    http_status = status.HTTP_403_FORBIDDEN


class LeaseExpired(PlatformError):
    """The lease ran out and the image no longer needs this answer (its slots went to others)."""

    code = "lease_expired"
    http_status = status.HTTP_409_CONFLICT


class AlreadyAnswered(PlatformError):
    code = "already_answered"
    http_status = status.HTTP_409_CONFLICT


class LeaseClosed(PlatformError):
    """The lease was skipped: nothing more can be sent on it."""

    code = "lease_closed"
    http_status = status.HTTP_409_CONFLICT


class PinChanged(PlatformError):
    """A check answers the pin its page showed; another pin replaced it meanwhile (reload to see the new one)."""

    code = "pin_changed"
    http_status = status.HTTP_409_CONFLICT


class WrongAnswerKind(PlatformError):
    code = "wrong_answer_kind"
    http_status = status.HTTP_400_BAD_REQUEST


class CannotContribute(PlatformError):
    code = "cannot_contribute"
    http_status = status.HTTP_403_FORBIDDEN


class NotQueueable(PlatformError):
    code = "not_queueable"
    http_status = status.HTTP_409_CONFLICT


class NoTrackRecord(PlatformError):
    """Checking others' locations (verification, review) is for volunteers with a track record."""

    code = "no_track_record"
    http_status = status.HTTP_403_FORBIDDEN
