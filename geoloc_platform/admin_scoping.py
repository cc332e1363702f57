"""One mixin for every admin of per-crisis rows: a coordinator sees only the crises they coordinate, also in the
places Django fills from whole tables.

Django's list filter on a relation lists every row of the related table (every crisis's name and id, private
ones too) whatever the admin's queryset; a foreign key's select lists the whole table as well. The mixin scopes
the rows (``crisis_lookup``), turns each relation filter into ``CoordinatedRelatedFilter`` and narrows every
foreign key and many-to-many choice to rows of coordinated crises. Superusers see everything.
"""

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import crisis_list_coordinated


def _crisis_path(model: type[Model]) -> str | None:
    """How rows of ``model`` reach their crisis: the crisis itself, a ``crisis`` field, or none."""
    if issubclass(model, Crisis):
        return "pk"
    try:
        field = model._meta.get_field("crisis")
    except FieldDoesNotExist:
        return None
    return "crisis" if field.is_relation and issubclass(field.related_model, Crisis) else None


def rows_of_coordinated_crises(model: type[Model], user) -> QuerySet | None:
    """The rows of ``model`` this user may pick in the admin; None when ``model`` is not kept per crisis."""
    path = _crisis_path(model)
    if path is None:
        return None
    queryset = model._default_manager.all()
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{path}__in": crisis_list_coordinated(user=user)})


class CoordinatedRelatedFilter(admin.RelatedOnlyFieldListFilter):
    """A relation's list filter offering only related rows that the admin's own (scoped) list refers to, and of
    crises only those the user coordinates."""

    def field_choices(self, field, request: HttpRequest, model_admin) -> list[tuple]:
        choices = super().field_choices(field, request, model_admin)
        allowed = rows_of_coordinated_crises(field.related_model, request.user)
        if allowed is None or request.user.is_superuser:
            return choices
        allowed_pks = set(allowed.values_list("pk", flat=True))
        return [(pk, label) for pk, label in choices if pk in allowed_pks]


def scoped_list_filter(entry, model: type[Model]):
    """``entry`` of a ``list_filter``, with a relation's filter replaced by ``CoordinatedRelatedFilter``."""
    if isinstance(entry, str):
        path, filter_class = entry, None
    elif isinstance(entry, tuple):
        path, filter_class = entry
    else:
        return entry  # a SimpleListFilter class: its own lookups decide
    if filter_class is not None and not issubclass(filter_class, admin.RelatedFieldListFilter):
        return entry
    try:
        field = get_fields_from_path(model, path)[-1]
    except (FieldDoesNotExist, NotRelationField):
        return entry
    return (path, CoordinatedRelatedFilter) if field.is_relation else entry


class CrisisScopedAdminMixin:
    """For a ModelAdmin of rows that belong to a crisis (``crisis_lookup`` is the path to it; None: no scoping of
    the rows themselves). ``shared_rows_visible``: rows without a crisis (global model versions) are for all."""

    crisis_lookup: str | None = "crisis"
    shared_rows_visible = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if self.crisis_lookup is None or request.user.is_superuser:
            return queryset
        scope = Q(**{f"{self.crisis_lookup}__in": crisis_list_coordinated(user=request.user)})
        if self.shared_rows_visible:
            scope |= Q(**{f"{self.crisis_lookup}__isnull": True})
        return queryset.filter(scope)

    def get_list_filter(self, request: HttpRequest):
        return [scoped_list_filter(entry, self.model) for entry in super().get_list_filter(request)]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        allowed = rows_of_coordinated_crises(db_field.related_model, request.user)
        if allowed is not None and "queryset" not in kwargs:
            kwargs["queryset"] = allowed
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        allowed = rows_of_coordinated_crises(db_field.related_model, request.user)
        if allowed is not None and "queryset" not in kwargs:
            kwargs["queryset"] = allowed
        return super().formfield_for_manytomany(db_field, request, **kwargs)
