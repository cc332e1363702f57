"""Admin: exports per crisis (actions), links to the map and dashboard, privacy policy, blurred copies."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from geoloc_platform.admin_scoping import CrisisScopedAdminMixin
from geoloc_platform.crises.selectors import crisis_list_coordinated
from mapping import exports, selectors
from mapping.models import BlurredImage, CrisisMapExport, CrisisPrivacy, DashboardSnapshot
from mapping.selectors import MapFilters


def _export_action(fmt: str):
    def action(modeladmin, request, queryset):
        crises = list(queryset[:2])
        if len(crises) != 1:
            modeladmin.message_user(request, "Select exactly one crisis to export.", messages.WARNING)
            return None
        access = selectors.crisis_access(user=request.user, crisis=crises[0])
        if access is None:
            modeladmin.message_user(request, "You may not export this crisis.", messages.ERROR)
            return None
        image_url = request.build_absolute_uri("/").rstrip("/") + reverse("mapping:media-image", args=[0]).replace(
            "/0/", "/{id}/"
        )
        export = exports.crisis_export(access=access, filters=MapFilters(), fmt=fmt, image_url=image_url)
        return exports.as_response(export)

    action.__name__ = f"export_{fmt}"
    action.short_description = f"Export verified locations as {fmt.upper()}"
    return action


@admin.register(CrisisMapExport)
class CrisisMapExportAdmin(CrisisScopedAdminMixin, admin.ModelAdmin):
    crisis_lookup = "pk"
    list_display = ["name", "hazard", "status", "visibility", "map_link", "dashboard_link"]
    list_filter = ["status", "hazard", "visibility"]
    actions = [_export_action(fmt) for fmt in exports.FORMATS]

    def get_queryset(self, request):
        return crisis_list_coordinated(user=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    @admin.display(description="Map")
    def map_link(self, obj):
        return format_html('<a href="{}">map</a>', reverse("mapping:crisis-map", args=[obj.slug]))

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj):
        return format_html('<a href="{}">dashboard</a>', reverse("mapping:dashboard", args=[obj.slug]))


@admin.register(CrisisPrivacy)
class CrisisPrivacyAdmin(CrisisScopedAdminMixin, admin.ModelAdmin):
    list_display = ["crisis", "blur_for_volunteers", "purged_at"]
    readonly_fields = ["purged_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(crisis__in=crisis_list_coordinated(user=request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "crisis":
            kwargs["queryset"] = crisis_list_coordinated(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(BlurredImage)
class BlurredImageAdmin(CrisisScopedAdminMixin, admin.ModelAdmin):
    crisis_lookup = "media__crisis"
    list_display = ["media", "faces", "plates", "detector", "created_at"]
    readonly_fields = ["media", "image", "faces", "plates", "detector", "created_at"]

    def get_queryset(self, request):
        coordinated = crisis_list_coordinated(user=request.user)
        return super().get_queryset(request).filter(media__crisis__in=coordinated)

    def has_add_permission(self, request):
        return False


@admin.register(DashboardSnapshot)
class DashboardSnapshotAdmin(CrisisScopedAdminMixin, admin.ModelAdmin):
    list_display = ["crisis", "computed_at", "duration_ms"]
    readonly_fields = ["crisis", "data", "computed_at", "duration_ms"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(crisis__in=crisis_list_coordinated(user=request.user))

    def has_add_permission(self, request):
        return False
