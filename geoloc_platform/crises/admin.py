"""Coordinators create and run crises here: lists typed as words, the affected area drawn on a Leaflet map."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from geoloc_platform.crises import selectors, services
from geoloc_platform.crises.forms import CrisisAdminForm
from geoloc_platform.crises.models import Crisis, CrisisMembership, CrisisStatusChange
from geoloc_platform.exceptions import InvalidTransition


class CrisisMembershipInline(admin.TabularInline):
    model = CrisisMembership
    extra = 0
    autocomplete_fields = ["user"]


class CrisisStatusChangeInline(admin.TabularInline):
    model = CrisisStatusChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "from_status", "to_status", "changed_by", "note"]
    readonly_fields = fields
    verbose_name_plural = "lifecycle history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _lifecycle_action(action: str, description: str):
    def run(modeladmin: "CrisisAdmin", request: HttpRequest, queryset: QuerySet[Crisis]) -> None:
        for crisis in queryset:
            if not selectors.user_is_coordinator(user=request.user, crisis=crisis):
                modeladmin.message_user(request, f"You do not coordinate {crisis.name}.", messages.ERROR)
                continue
            try:
                services.crisis_transition(crisis=crisis, action=action, user=request.user)
            except InvalidTransition as error:
                modeladmin.message_user(request, error.message, messages.WARNING)
            else:
                modeladmin.message_user(request, f"{crisis.name}: now {crisis.get_status_display().lower()}.")

    run.__name__ = f"{action}_crises"
    return admin.action(description=description, permissions=["coordinate"])(run)


@admin.register(Crisis)
class CrisisAdmin(admin.ModelAdmin):
    form = CrisisAdminForm
    list_display = ["name", "hazard", "status", "visibility", "collection_starts_at", "created_at", "import_link"]
    list_filter = ["status", "hazard", "visibility"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["status", "created_by", "created_at", "updated_at"]
    inlines = [CrisisMembershipInline, CrisisStatusChangeInline]
    actions = [
        _lifecycle_action("launch", "Launch selected crises"),
        _lifecycle_action("pause", "Pause selected crises"),
        _lifecycle_action("resume", "Resume selected crises"),
        _lifecycle_action("close", "Close selected crises"),
        "train_difficulty_model",
    ]
    fieldsets = [
        (None, {"fields": ["name", "slug", "hazard", "status", "visibility", "allow_anonymous"]}),
        ("For volunteers", {"fields": ["description", "volunteer_instructions"]}),
        ("What to collect", {"fields": ["languages", "keywords", "hashtags", "country_codes", "crawl_sources"]}),
        ("Where and when", {"fields": ["affected_area", "collection_starts_at", "collection_ends_at"]}),
        ("Crowd work", {"fields": ["rating_redundancy", "geolocation_redundancy", "scheduling_policy"]}),
        (
            "Trust and verification",
            {
                "fields": [
                    "redundancy_policy",
                    "publish_requires_record",
                    "trusted_min_record",
                    "area_margin_km",
                    "require_email_confirmation",
                ]
            },
        ),
        ("Record", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    @admin.display(description=_("Import"))
    def import_link(self, crisis: Crisis) -> str:
        url = reverse("admin:crawling_importjob_add") + "?" + urlencode({"crisis": crisis.pk})
        return format_html('<a href="{}">{}</a>', url, _("Import posts and images"))

    class Media:
        css = {"all": ["crises/crisis_form.css"]}
        js = ["crises/crisis_form.js"]

    @admin.action(
        description="Train a difficulty classifier on the selected crises' ratings", permissions=["coordinate"]
    )
    def train_difficulty_model(self, request: HttpRequest, queryset: QuerySet[Crisis]) -> None:
        from classification.tasks import difficulty_train

        for crisis in queryset:
            difficulty_train.delay(crisis_id=crisis.pk, user_id=request.user.pk)
        self.message_user(request, "Training started on a worker; see Classification > Model versions.")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Crisis]:
        return selectors.crisis_list_coordinated(user=request.user)

    def has_change_permission(self, request: HttpRequest, obj: Crisis | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or selectors.user_is_coordinator(user=request.user, crisis=obj))

    def has_delete_permission(self, request: HttpRequest, obj: Crisis | None = None) -> bool:
        # Crises are closed, never deleted, by coordinators: their data is the record of the response.
        return request.user.is_superuser

    def has_coordinate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crises.coordinate_crisis")

    def save_model(self, request: HttpRequest, obj: Crisis, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        obj.created_by = request.user
        obj.save()
        services.crisis_membership_add(crisis=obj, user=request.user, role=CrisisMembership.Role.COORDINATOR)
