"""Coordinators inspect posts and images of the crises they run, re-send stuck images, and import files."""

from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from crawling import selectors, services
from crawling.forms import ImportMappingForm, ImportUploadForm
from crawling.imports import ImportFileError
from crawling.models import CrawlState, ImportJob, Media, Post
from geoloc_platform.admin_scoping import CrisisScopedAdminMixin
from geoloc_platform.crises.selectors import crisis_list_coordinated, user_is_coordinator


class CoordinatedCrisisMixin(CrisisScopedAdminMixin):
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


@admin.register(ImportJob)
class ImportJobAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    """Imports from a CSV or a ZIP: upload, check the columns on a preview, start, watch, fix the rows with errors.

    The add and change pages are the import's own pages; every one checks that the user coordinates the crisis.
    """

    list_display = ["original_name", "crisis", "status", "progress", "rows_imported", "rows_failed", "created_at"]
    list_filter = ["status", "crisis"]
    list_display_links = ["original_name"]
    FAILED_ROWS_SHOWN = 200

    @admin.display(description=_("rows done"))
    def progress(self, job: ImportJob) -> str:
        return f"{job.rows_done} / {job.rows_total}" if job.rows_total is not None else str(job.rows_done)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser  # the record of what was imported, and by whom

    def has_change_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or user_is_coordinator(user=request.user, crisis=obj.crisis))

    def get_urls(self):
        view = self.admin_site.admin_view(self.failed_rows_csv_view)
        return [path("<int:object_id>/errors.csv", view, name="crawling_importjob_errors"), *super().get_urls()]

    def _job_or_404(self, request: HttpRequest, object_id) -> ImportJob:
        job = self.get_object(request, str(object_id))  # only jobs of crises this user coordinates
        if job is None or not self.has_view_permission(request, job):
            raise Http404(_("No such import."))
        return job

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        crises = crisis_list_coordinated(user=request.user)
        form = ImportUploadForm(
            request.POST or None, request.FILES or None, crises=crises, initial={"crisis": request.GET.get("crisis")}
        )
        if request.method == "POST" and form.is_valid():
            try:
                job = services.import_job_create(
                    crisis=form.cleaned_data["crisis"], user=request.user, upload=form.cleaned_data["upload"]
                )
            except ImportFileError as error:
                form.add_error("upload", str(error))
            else:
                self.log_addition(request, job, [{"added": {}}])
                return redirect("admin:crawling_importjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import posts and images"),
            "form": form,
        }
        return TemplateResponse(request, "admin/crawling/importjob/upload.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        job = self._job_or_404(request, object_id)
        can_run = self.has_change_permission(request, job)
        if request.method == "POST" and not can_run:
            raise PermissionDenied
        mapping_form, preview = None, None
        if job.status == ImportJob.Status.UPLOADED:
            mapping_form = ImportMappingForm(
                request.POST if request.method == "POST" else None, columns=job.columns, initial=job.mapping
            )
            mapping = job.mapping
            if mapping_form.is_bound and mapping_form.is_valid():
                mapping = mapping_form.mapping()
                if "_start" in request.POST:
                    # The run is sent on commit: after the log entry is written, never beside it.
                    with transaction.atomic():
                        if services.import_job_start(job=job, mapping=mapping):
                            self.log_change(request, job, _("Started the import."))
                    return redirect("admin:crawling_importjob_change", job.pk)
            preview = selectors.import_job_preview(job=job, mapping=mapping)
        elif request.method == "POST" and "_resume" in request.POST:
            services.import_job_resume(job=job)
            return redirect("admin:crawling_importjob_change", job.pk)
        job.refresh_from_db()
        running = job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": job.original_name,
            "job": job,
            "can_run": can_run,
            "mapping_form": mapping_form,
            "preview": preview,
            "running": running,
            "stopped": running and job.progress_at and timezone.now() - job.progress_at > settings.PIPELINE_STUCK_AFTER,
            "failed_rows": selectors.import_job_failed_rows(job=job)[: self.FAILED_ROWS_SHOWN],
            "stages": selectors.import_job_stages(job=job) if job.rows_imported else [],
        }
        return TemplateResponse(request, "admin/crawling/importjob/job.html", context)

    def failed_rows_csv_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        job = self._job_or_404(request, object_id)
        response = HttpResponse(selectors.import_job_failed_rows_csv(job=job), content_type="text/csv; charset=utf-8")
        name = Path(job.original_name).stem or "import"
        response["Content-Disposition"] = content_disposition_header(True, f"{name}-errors.csv")
        return response
