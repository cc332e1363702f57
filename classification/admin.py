"""Coordinators review filtered images and restore them; the gazetteer and text locations are inspectable."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from classification import services
from classification.errors import TooFewRelevanceLabels
from classification.models import (
    FilteredMedia,
    GeocodeCacheEntry,
    HeldBackMedia,
    ModelVersion,
    Place,
    PostGeolocation,
    RelevanceLabel,
    RelevanceThreshold,
)
from classification.tasks import difficulty_learn as difficulty_learn_task
from classification.tasks import difficulty_train as difficulty_train_task
from crawling.models import Media
from geoloc_platform.admin_scoping import CrisisScopedAdminMixin
from geoloc_platform.crises.selectors import crisis_list_coordinated


def train_relevance_or_explain(model_admin: admin.ModelAdmin, request: HttpRequest, *, crisis_id: int | None) -> None:
    scope = f"crisis {crisis_id}" if crisis_id else "every crisis"
    try:
        services.relevance_train_request(crisis_id=crisis_id, user_id=request.user.pk)
    except TooFewRelevanceLabels as refusal:
        model_admin.message_user(request, f"Relevance classifier for {scope}: {refusal.message}", messages.WARNING)
        return
    model_admin.message_user(
        request, f"Relevance classifier for {scope}: training started on a worker; see Model versions."
    )


def metric_with_interval(figure: dict) -> str:
    if figure.get("value") is None:
        return "-"
    if figure.get("low") is None:
        return f"{figure['value']:.3f}"
    return f"{figure['value']:.3f} [{figure['low']:.2f}, {figure['high']:.2f}]"


class CoordinatedCrisisMixin(CrisisScopedAdminMixin):
    """Limit an admin list to rows of crises the user coordinates."""

    crisis_lookup = "crisis"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        coordinated = crisis_list_coordinated(user=request.user)
        return super().get_queryset(request).filter(**{f"{self.crisis_lookup}__in": coordinated})


class FilteredImagesAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    """Images the relevance filter took out of the flow: nothing is deleted, a coordinator can put any back in one
    click (the row's Restore button) or many at once (the actions); every restore becomes a training label."""

    stage = Media.Stage.IRRELEVANT
    list_display = [
        "thumbnail",
        "crisis",
        "reject_reason",
        "irrelevance_score",
        "restore_button",
        "post_text",
        "stage_changed_at",
    ]
    list_filter = ["crisis", "reject_reason"]
    search_fields = ["post__text", "alt_text"]
    readonly_fields = [f.name for f in Media._meta.fields]
    actions = ["restore", "confirm_irrelevant", "train_relevance_model"]
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(stage=self.stage).select_related("relevance", "post", "crisis")

    @admin.display(description=_("image"))
    def thumbnail(self, media: Media) -> str:
        if not media.image:
            return "-"
        return format_html(
            '<img src="{}" alt="" loading="lazy" style="max-height: 120px; max-width: 180px">', media.image.url
        )

    @admin.display(description=_("post"))
    def post_text(self, media: Media) -> str:
        return (media.post.text or "")[:140]

    @admin.display(description="p(not relevant)")
    def irrelevance_score(self, media: Media) -> str:
        relevance = getattr(media, "relevance", None)
        return f"{relevance.score:.2f}" if relevance is not None else "-"

    @admin.display(description=_("restore"))
    def restore_button(self, media: Media) -> str:
        # Submits the change list's own form (which carries the CSRF token) to the restore view: one click.
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_restore_one")
        return format_html(
            '<button type="submit" class="button" name="media_id" value="{}" formaction="{}">{}</button>',
            media.pk,
            url,
            _("Restore"),
        )

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_restore_one"
        own = [path("restore/", self.admin_site.admin_view(self.restore_one_view), name=name)]
        return own + super().get_urls()

    def restore_one_view(self, request: HttpRequest) -> HttpResponseRedirect:
        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        media_id = request.POST.get("media_id", "")
        if not media_id.isdigit() or not self.get_queryset(request).filter(pk=int(media_id)).exists():
            self.message_user(request, _("That image is not waiting for review here."), messages.WARNING)
        elif services.media_restore_relevance(media_id=int(media_id), user=request.user):
            self.message_user(request, _("Restored image %(id)s; it goes on to text geolocation.") % {"id": media_id})
        return HttpResponseRedirect(f"{changelist}?{request.GET.urlencode()}" if request.GET else changelist)

    # Coordinators hold the crawling app's view_media (the Coordinators group is defined in accounts): seeing
    # images of their crises is what this page needs; the restore itself is a service with its own claim.
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("crawling.view_media")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crawling.view_media")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=_("Restore: relevant after all (becomes a training label)"))
    def restore(self, request: HttpRequest, queryset: QuerySet) -> None:
        restored = sum(
            services.media_restore_relevance(media_id=media_id, user=request.user)
            for media_id in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, _("Restored %(n)d images; they go on to text geolocation.") % {"n": restored})

    @admin.action(description=_("Confirm: not relevant (becomes a training label)"))
    def confirm_irrelevant(self, request: HttpRequest, queryset: QuerySet) -> None:
        rows = list(queryset.values_list("pk", "crisis_id"))
        for media_id, _crisis_id in rows:
            services.relevance_label_record(
                media_id=media_id, relevant=False, source=RelevanceLabel.Source.CONFIRM, user=request.user
            )
        for crisis_id in {crisis_id for _media_id, crisis_id in rows}:
            services.relevance_threshold_update(crisis_id=crisis_id)
        self.message_user(request, _("Confirmed %(n)d images as not relevant.") % {"n": len(rows)})

    @admin.action(description=_("Train a relevance classifier on the labels of the selected images' crises"))
    def train_relevance_model(self, request: HttpRequest, queryset: QuerySet) -> None:
        for crisis_id in set(queryset.values_list("crisis_id", flat=True)):
            train_relevance_or_explain(self, request, crisis_id=crisis_id)


@admin.register(FilteredMedia)
class FilteredMediaAdmin(FilteredImagesAdmin):
    """Images a near-zero-error rule dropped (placeholders, tiny, banners, blank)."""


@admin.register(HeldBackMedia)
class HeldBackMediaAdmin(FilteredImagesAdmin):
    """Images held back as probably not relevant (the classifier, posters, mostly text): volunteers never see them
    unless a coordinator restores them here. The crisis's hold-back threshold and its measured rates are on the
    "Relevance thresholds" page."""

    stage = Media.Stage.PROBABLY_IRRELEVANT
    list_display = [*FilteredImagesAdmin.list_display, "crisis_threshold"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("crisis__relevance_threshold")

    @admin.display(description=_("crisis threshold"))
    def crisis_threshold(self, media: Media) -> str:
        row = getattr(media.crisis, "relevance_threshold", None)  # None when the crisis has no threshold yet
        return str(row) if row is not None else "-"


@admin.register(RelevanceThreshold)
class RelevanceThresholdAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    """Per crisis: the threshold at which the relevance classifier holds images back, chosen from the crisis's
    labels for at most the target share of relevant images held back, with the rates measured on those labels."""

    list_display = [
        "crisis",
        "threshold",
        "source",
        "held_back",
        "caught",
        "relevant_labels",
        "irrelevant_labels",
        "model_version",
        "computed_at",
    ]
    readonly_fields = [f.name for f in RelevanceThreshold._meta.fields]
    actions = ["choose_again"]

    @admin.display(description=_("relevant held back (target)"))
    def held_back(self, row: RelevanceThreshold) -> str:
        measured = "-" if row.relevant_held_back is None else f"{row.relevant_held_back:.1%}"
        return f"{measured} ({row.target_held_back:.0%})"

    @admin.display(description=_("irrelevant caught"))
    def caught(self, row: RelevanceThreshold) -> str:
        return "-" if row.irrelevant_caught is None else f"{row.irrelevant_caught:.1%}"

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("crawling.view_media")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crawling.view_media")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=_("Choose the threshold again from the crisis's labels"))
    def choose_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        for crisis_id in queryset.values_list("crisis_id", flat=True):
            services.relevance_threshold_update(crisis_id=crisis_id)
        self.message_user(request, _("Thresholds chosen again."))


@admin.register(PostGeolocation)
class PostGeolocationAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    crisis_lookup = "post__crisis"
    list_display = ["post", "lat", "lon", "radius_km", "method", "is_fallback", "score"]
    list_filter = ["method", "is_fallback"]
    readonly_fields = [f.name for f in PostGeolocation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RelevanceLabel)
class RelevanceLabelAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    crisis_lookup = "media__crisis"
    list_display = ["media", "relevant", "source", "rule", "labelled_by", "created_at"]
    list_filter = ["source", "relevant"]
    readonly_fields = [f.name for f in RelevanceLabel._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    """Superusers add local places (neighbourhoods, landmarks) the packages lack; workers pick them up."""

    list_display = ["name", "kind", "country_code", "population", "radius_km", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["name"]


@admin.register(GeocodeCacheEntry)
class GeocodeCacheEntryAdmin(admin.ModelAdmin):
    list_display = ["query", "provider", "created_at"]
    search_fields = ["query"]
    readonly_fields = ["key", "provider", "query", "results", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(CrisisScopedAdminMixin, admin.ModelAdmin):
    """Coordinators compare versions, activate or roll back, and launch training as a Celery job."""

    shared_rows_visible = True  # versions trained on no one crisis serve every crisis

    list_display = [
        "name",
        "purpose",
        "estimator",
        "crisis",
        "backbone",
        "weights_origin",
        "accuracy",
        "precision",
        "promotion",
        "consensus_labels",
        "is_active",
        "created_at",
    ]
    list_filter = ["purpose", "estimator", "is_active", "crisis", "backbone"]
    readonly_fields = ["curves_image", "promotion_check", *[f.name for f in ModelVersion._meta.fields]]
    actions = ["activate", "train_new_version", "learn_in_crisis"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="accuracy [95% CI]")
    def accuracy(self, version: ModelVersion) -> str:
        return metric_with_interval(version.metrics.get("accuracy") or {})

    # The positive class is "easy" for difficulty and "not_relevant" for relevance: there, the drop's precision,
    # the figure to read before activating (a wrong drop hides a disaster photo from the crowd).
    @admin.display(description="precision of easy / of a drop [95% CI]")
    def precision(self, version: ModelVersion) -> str:
        return metric_with_interval(version.metrics.get("precision") or {})

    @admin.display(description=_("promotion check"))
    def promotion(self, version: ModelVersion) -> str:
        evaluation = version.evaluation or {}
        return evaluation.get("decision", "-").replace("_", " ")

    @admin.display(description=_("promotion check on held-back images"))
    def promotion_check(self, version: ModelVersion) -> str:
        evaluation = version.evaluation or {}
        if not evaluation:
            return "-"
        incumbent = (evaluation.get("incumbent") or {}).get("metrics") or {}
        candidate = (evaluation.get("candidate") or {}).get("metrics") or {}
        return format_html(
            "{}: {}<br>{}: {} &middot; {}: {}",
            evaluation.get("decision", "").replace("_", " "),
            evaluation.get("reason", ""),
            _("this version"),
            metric_with_interval(candidate.get("accuracy") or {}),
            (evaluation.get("incumbent") or {}).get("name", _("no other version")),
            metric_with_interval(incumbent.get("accuracy") or {}),
        )

    @admin.display(description="training curves")
    def curves_image(self, version: ModelVersion) -> str:
        if not version.curves:
            return "-"
        return format_html('<img src="{}" alt="training curves" style="max-width: 900px">', version.curves.url)

    @admin.action(description="Activate the selected version (difficulty: re-scores the queue)")
    def activate(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.WARNING)
            return
        version = queryset.first()
        rescored = services.model_version_activate(version=version)
        warning = " It was trained from RANDOM weights." if version.is_random_init else ""
        if version.purpose == ModelVersion.Purpose.RELEVANCE:
            done = "it judges the images that reach the relevance filter from now on"
        else:
            done = f"re-scoring {rescored} queued images"
        self.message_user(request, f"{version.name} is active; {done}.{warning}")

    @admin.action(description="Train a new version on the selected versions' purpose and scope (a Celery job)")
    def train_new_version(self, request, queryset) -> None:
        for purpose, crisis_id in set(queryset.values_list("purpose", "crisis_id")):
            if purpose == ModelVersion.Purpose.RELEVANCE:
                train_relevance_or_explain(self, request, crisis_id=crisis_id)
            else:
                difficulty_train_task.delay(crisis_id=crisis_id, user_id=request.user.pk)
                self.message_user(request, "Training started on a worker; the new version appears here when it ends.")

    @admin.action(description=_("Learn from the selected versions' crises' ratings now (seconds, on a CPU)"))
    def learn_in_crisis(self, request, queryset) -> None:
        crisis_ids = {
            c for c in queryset.filter(purpose=ModelVersion.Purpose.DIFFICULTY).values_list("crisis_id", flat=True) if c
        }
        for crisis_id in crisis_ids:
            difficulty_learn_task.delay(crisis_id, user_id=request.user.pk)
        if crisis_ids:
            self.message_user(
                request,
                _(
                    "Learning started for %(count)s crises; a new version is promoted only if it beats the active one "
                    "on the crisis's held-back images."
                )
                % {"count": len(crisis_ids)},
            )
        else:
            self.message_user(
                request,
                _("Select a version of a crisis: global versions have no crisis to learn from."),
                messages.WARNING,
            )
