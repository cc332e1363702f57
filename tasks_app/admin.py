"""Coordinators watch the crowd queue here: release withheld images, retire tasks, handle reports, queue images."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from geoloc_platform.admin_scoping import CrisisScopedAdminMixin
from geoloc_platform.crises.selectors import crisis_list_coordinated, user_is_coordinator
from tasks_app import services
from tasks_app.errors import NotQueueable
from tasks_app.models import Answer, Assignment, CrowdTask, LeaderboardEntry, QueueableMedia, Report, VolunteerProfile


def _coordinates_any(request: HttpRequest) -> bool:
    user = request.user
    return user.is_active and (user.is_superuser or (user.is_staff and crisis_list_coordinated(user=user).exists()))


class CoordinatedCrisisMixin(CrisisScopedAdminMixin):
    """Coordinators see (and act on) the rows of the crises they coordinate.

    Access follows the crisis roles rather than model permissions, so the Coordinators group needs no extra
    permission for crowd work; superusers keep Django's full rights.
    """

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(crisis__in=crisis_list_coordinated(user=request.user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _coordinates_any(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        return _coordinates_any(request) and (obj is None or user_is_coordinator(user=request.user, crisis=obj.crisis))


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CrowdTask)
class CrowdTaskAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "crisis",
        "kind",
        "status",
        "predicted_label",
        "predicted_ease",
        "priority",
        "slots_taken",
        "answers_count",
        "redundancy",
        "reports_count",
    ]
    list_filter = ["status", "kind", "predicted_label", "crisis"]
    search_fields = ["media__post__text"]
    readonly_fields = [
        "crisis",
        "media",
        "kind",
        "status",
        "slots_taken",
        "answers_count",
        "priority",
        "expert_priority",
        "random_key",
        "recency",
        "coverage",
        "area_cell",
        "released_by",
        "released_at",
        "created_at",
        "updated_at",
    ]
    actions = ["release", "withhold", "retire"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Release the selected withheld tasks to the crowd")
    def release(self, request: HttpRequest, queryset: QuerySet[CrowdTask]) -> None:
        released = services.task_release(task_ids=list(queryset.values_list("pk", flat=True)), user=request.user)
        self.message_user(request, f"Released {released} tasks.")

    @admin.action(description="Withhold the selected tasks from the crowd")
    def withhold(self, request: HttpRequest, queryset: QuerySet[CrowdTask]) -> None:
        withheld = services.task_withhold(task_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Withheld {withheld} tasks.")

    @admin.action(description="Retire the selected tasks (no more answers)")
    def retire(self, request: HttpRequest, queryset: QuerySet[CrowdTask]) -> None:
        retired = sum(
            services.crowd_task_retire(task_id=pk, reason=f"retired by {request.user.get_username()}")
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Retired {retired} tasks.")


@admin.register(Report)
class ReportAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    list_display = ["__str__", "crisis", "volunteer", "created_at", "resolved_at"]
    list_filter = ["reason", "crisis", ("resolved_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["crisis", "media", "volunteer", "reason", "note", "created_at", "resolved_at", "resolved_by"]
    actions = ["resolve", "withhold_images", "release_images"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _task_ids(self, queryset: QuerySet[Report]) -> list[int]:
        media_ids = queryset.values_list("media_id", flat=True)
        return list(CrowdTask.objects.filter(media_id__in=media_ids).values_list("pk", flat=True))

    @admin.action(description="Mark the selected reports as handled")
    def resolve(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        handled = services.report_resolve(report_ids=list(queryset.values_list("pk", flat=True)), user=request.user)
        self.message_user(request, f"Marked {handled} reports as handled.")

    @admin.action(description="Withhold the reported images from the crowd")
    def withhold_images(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self.message_user(request, f"Withheld {services.task_withhold(task_ids=self._task_ids(queryset))} tasks.")

    @admin.action(description="Release the reported images to the crowd again")
    def release_images(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        released = services.task_release(task_ids=self._task_ids(queryset), user=request.user)
        self.message_user(request, f"Released {released} tasks.")


@admin.register(Answer)
class AnswerAdmin(CoordinatedCrisisMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "crisis",
        "kind",
        "difficulty",
        "precision",
        "verdict",
        "is_gold",
        "is_late",
        "gold_error_m",
        "submitted_at",
    ]
    list_filter = ["kind", "difficulty", "precision", "is_gold", "crisis"]
    search_fields = ["note"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["__str__", "state", "leased_at", "expires_at", "closed_at"]
    list_filter = ["state"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Assignment]:
        return super().get_queryset(request).filter(task__crisis__in=crisis_list_coordinated(user=request.user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


@admin.register(QueueableMedia)
class QueueableMediaAdmin(CoordinatedCrisisMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Images that reached a stage before the crowd: queue them by hand while the classifier is not wired."""

    list_display = ["__str__", "crisis", "stage", "stage_changed_at"]
    list_filter = ["stage", "crisis"]
    actions = ["queue_for_crowd"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(stage__in=services.QUEUEABLE_STAGES)

    @admin.action(description="Queue the selected images for the crowd (unscored)")
    def queue_for_crowd(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = 0
        for media_id in queryset.values_list("pk", flat=True):
            try:
                queued += services.media_queue_for_crowd(media_id=media_id)
            except NotQueueable as refusal:
                self.message_user(request, refusal.message)
        self.message_user(request, f"Queued {queued} images for the crowd.")


@admin.register(VolunteerProfile)
class VolunteerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "skill", "skill_updated_at"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(CoordinatedCrisisMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["rank", "volunteer", "crisis", "answers", "computed_at"]
    list_filter = ["crisis"]
