"""Coordinators see consensus results and volunteer skill, and accept, move or reject locations."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect, render

from consensus import services
from consensus.models import (
    CrisisRatingStats,
    LocationConsensus,
    LocationConsensusChange,
    RatingConsensus,
    VolunteerSkill,
)
from crawling.admin import CoordinatedCrisisMixin
from geoloc_platform.exceptions import PlatformError


class ReadOnlyAdmin(CoordinatedCrisisMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RatingConsensus)
class RatingConsensusAdmin(ReadOnlyAdmin):
    list_display = ["media", "crisis", "label", "posterior", "mv_label", "warnings", "n_ratings", "computed_at"]
    list_filter = ["crisis", "label", "method"]


@admin.register(CrisisRatingStats)
class CrisisRatingStatsAdmin(ReadOnlyAdmin):
    list_display = ["crisis", "n_ratings", "n_images", "fleiss_kappa", "krippendorff_alpha_ordinal", "warning_rate"]


@admin.register(VolunteerSkill)
class VolunteerSkillAdmin(ReadOnlyAdmin):
    list_display = [
        "volunteer",
        "crisis",
        "skill",
        "n_ratings",
        "rating_accuracy",
        "n_geolocations",
        "median_distance_to_consensus_m",
        "median_distance_to_gold_m",
        "median_time_on_task_s",
    ]
    list_filter = ["crisis"]


class LocationConsensusChangeInline(admin.TabularInline):
    model = LocationConsensusChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "action", "changed_by", "from_lat", "from_lon", "to_lat", "to_lon", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class MoveForm(forms.Form):
    lat = forms.FloatField(min_value=-90, max_value=90)
    lon = forms.FloatField(min_value=-180, max_value=180)
    note = forms.CharField(max_length=500, required=False)


@admin.register(LocationConsensus)
class LocationConsensusAdmin(ReadOnlyAdmin):
    list_display = ["media", "crisis", "status", "review", "lat", "lon", "radius_68_m", "n_answers", "reason"]
    list_filter = ["crisis", "status", "review", "ambiguous"]
    inlines = [LocationConsensusChangeInline]
    actions = ["accept_locations", "reject_locations", "move_location"]

    def _change(self, request, queryset, action: str, **extra) -> None:
        for consensus in queryset:
            try:
                services.location_consensus_change(consensus=consensus, action=action, user=request.user, **extra)
            except PlatformError as error:
                self.message_user(request, f"Image {consensus.media_id}: {error.message}", messages.WARNING)

    @admin.action(description="Accept the selected locations")
    def accept_locations(self, request: HttpRequest, queryset: QuerySet[LocationConsensus]) -> None:
        self._change(request, queryset, "accept")

    @admin.action(description="Reject the selected locations (back to review)")
    def reject_locations(self, request: HttpRequest, queryset: QuerySet[LocationConsensus]) -> None:
        self._change(request, queryset, "reject")

    @admin.action(description="Move the selected location")
    def move_location(self, request: HttpRequest, queryset: QuerySet[LocationConsensus]):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one location to move.", messages.WARNING)
            return None
        form = MoveForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._change(
                request,
                queryset,
                "move",
                lat=form.cleaned_data["lat"],
                lon=form.cleaned_data["lon"],
                note=form.cleaned_data["note"],
            )
            return redirect(request.get_full_path())
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "consensus": queryset.first(),
            "opts": self.model._meta,
        }
        return render(request, "admin/consensus/move_location.html", context)
