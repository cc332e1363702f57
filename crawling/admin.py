"""Coordinators inspect posts and images of the crises they run, and re-send stuck images."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crawling import selectors, services
from crawling.models import CrawlState, Media, Post
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
    list_display = [
        "__str__",
        "crisis",
        "stage",
        "stage_changed_at",
        "reject_reason",
        "duplicate_of",
        "width",
        "height",
    ]
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


@admin.register(CrawlState)
class CrawlStateAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    """Per crisis and source: posts, images fetched, rejected by reason, duplicates, last crawl and error."""

    list_display = [
        "crisis",
        "source",
        "posts",
        "images_fetched",
        "images_rejected",
        "rejected_by_reason",
        "duplicates",
        "last_crawl_at",
        "last_error",
        "not_before",
    ]
    list_filter = ["source", "crisis"]
    readonly_fields = [f.name for f in CrawlState._meta.fields] + [
        "posts",
        "images_fetched",
        "images_rejected",
        "rejected_by_reason",
        "duplicates",
    ]
    actions = ["crawl_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Whoever may see a crisis's posts may see how their crawl goes (coordinators hold view_post).
        return super().has_view_permission(request, obj) or request.user.has_perm("crawling.view_post")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the crawl writes this row; people only read it and use the action

    def _stats(self, state: CrawlState) -> dict:
        # One pair of grouped queries per row: the list shows a handful of sources per crisis.
        cache = getattr(state, "_stats_cache", None)
        if cache is None:
            cache = state._stats_cache = selectors.crawl_stats(crisis_id=state.crisis_id, source=state.source)
        return cache

    @admin.display(description="posts")
    def posts(self, state: CrawlState) -> int:
        return self._stats(state)["posts"]

    @admin.display(description="images fetched")
    def images_fetched(self, state: CrawlState) -> int:
        return self._stats(state)["fetched"]

    @admin.display(description="rejected")
    def images_rejected(self, state: CrawlState) -> int:
        return self._stats(state)["rejected"]

    @admin.display(description="rejected by reason")
    def rejected_by_reason(self, state: CrawlState) -> str:
        return ", ".join(f"{code}: {n}" for code, n in self._stats(state)["rejected_by_reason"].items()) or "-"

    @admin.display(description="duplicates")
    def duplicates(self, state: CrawlState) -> int:
        return self._stats(state)["duplicates"]

    @admin.action(description="Crawl the selected crises and sources now")
    def crawl_now(self, request: HttpRequest, queryset: QuerySet[CrawlState]) -> None:
        from crawling.sources import CRAWLERS
        from crawling.tasks import crawl_source as crawl_source_task

        sent = 0
        for crisis_id, source in queryset.filter(source__in=list(CRAWLERS)).values_list("crisis_id", "source"):
            crawl_source_task.delay(crisis_id, source)
            sent += 1
        self.message_user(request, f"Sent {sent} crawls.")
