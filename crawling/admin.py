"""Coordinators inspect posts and images of the crises they run, and re-send stuck images."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crawling import services
from crawling.models import Media, Post
from geoloc_platform.crises.selectors import crisis_list_coordinated


class CoordinatedCrisisMixin:
    """Limit an admin list to rows of crises the user coordinates."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(crisis__in=crisis_list_coordinated(user=request.user))


class MediaInline(admin.TabularInline):
    model = Media
    extra = 0
    fields = ["position", "remote_url", "stage", "reject_reason"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Post)
class PostAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    list_display = ["__str__", "crisis", "author_handle", "posted_at", "language"]
    list_filter = ["source", "crisis"]
    search_fields = ["text", "source_id", "author_handle"]
    readonly_fields = [f.name for f in Post._meta.fields]
    inlines = [MediaInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Media)
class MediaAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    list_display = ["__str__", "crisis", "stage", "stage_changed_at", "reject_reason", "width", "height"]
    list_filter = ["stage", "crisis"]
    search_fields = ["post__text", "alt_text", "sha256"]
    readonly_fields = [f.name for f in Media._meta.fields]
    actions = ["resend_step"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Re-send the pipeline step of the selected images")
    def resend_step(self, request: HttpRequest, queryset: QuerySet[Media]) -> None:
        sent = sum(services.media_nudge(media_id=media_id) for media_id in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Re-sent the pipeline step of {sent} images.")
