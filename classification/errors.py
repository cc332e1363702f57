"""Refusals of the classification app (the PlatformError family, with stable codes)."""

from geoloc_platform.exceptions import PlatformError


class TooFewRelevanceLabels(PlatformError):
    """Training the relevance classifier was asked for before people had labelled enough images."""

    code = "relevance_too_few_labels"
