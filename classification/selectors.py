"""Reads of the classification app: text locations, relevance decisions, training labels."""

from django.db.models import QuerySet

from classification.models import MediaRelevance, PostGeolocation, RelevanceLabel
from crawling.models import Media, Post


def post_text_location(*, post: Post) -> PostGeolocation | None:
    return PostGeolocation.objects.filter(post=post).first()


def media_text_location(*, media: Media) -> PostGeolocation | None:
    """The text location of an image is its post's: computed once per post, shared by its images."""
    return PostGeolocation.objects.filter(post_id=media.post_id).first()


def media_relevance(*, media: Media) -> MediaRelevance | None:
    return MediaRelevance.objects.filter(media=media).first()


def media_filtered(*, crisis_id: int | None = None) -> QuerySet[Media]:
    """Images the relevance filter dropped, newest first, with the decision that dropped them."""
    queryset = Media.objects.filter(stage=Media.Stage.IRRELEVANT).select_related("relevance", "post")
    if crisis_id is not None:
        queryset = queryset.filter(crisis_id=crisis_id)
    return queryset.order_by("-stage_changed_at")


def relevance_training_labels(*, crisis_id: int | None = None) -> QuerySet[RelevanceLabel]:
    """Human relevance labels for the image classifier, latest label per image last."""
    queryset = RelevanceLabel.objects.select_related("media").order_by("media_id", "created_at")
    if crisis_id is not None:
        queryset = queryset.filter(media__crisis_id=crisis_id)
    return queryset


def post_text_sources(*, post: Post, alt_weight: float, ocr_weight: float) -> list:
    """The texts of a post for geolocation: its text, its images' alt texts and OCR text, with weights."""
    from classification.geolocation.recognizer import SourceText

    sources = [SourceText("post", post.text or "", 1.0)]
    for media in post.media.all().order_by("position").select_related("relevance"):
        if media.alt_text:
            sources.append(SourceText("alt", media.alt_text, alt_weight, media.pk))
        relevance = getattr(media, "relevance", None)
        if relevance is not None and relevance.ocr_text:
            sources.append(SourceText("ocr", relevance.ocr_text, ocr_weight, media.pk))
    return sources


def model_version_active(*, crisis_id: int | None):
    """The version that scores a crisis's images: its own active one, else the global active one, else None."""
    from classification.models import ModelVersion

    active = ModelVersion.objects.filter(is_active=True)
    if crisis_id is not None:
        own = active.filter(crisis_id=crisis_id).first()
        if own is not None:
            return own
    return active.filter(crisis__isnull=True).first()
