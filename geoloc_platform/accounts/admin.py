"""Users in the admin: e-mail addresses are shown to superusers only.

Coordinators may look users up (to add a crisis's members), so they see user names; an address, in a column, a
form or as something to search by (which would confirm that an address has an account), is for superusers.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest

EMAIL_FIELD = "email"


class UserAdmin(DjangoUserAdmin):
    def get_list_display(self, request: HttpRequest):
        shown = super().get_list_display(request)
        return shown if request.user.is_superuser else [name for name in shown if name != EMAIL_FIELD]

    def get_search_fields(self, request: HttpRequest):
        fields = super().get_search_fields(request)
        return fields if request.user.is_superuser else [name for name in fields if name != EMAIL_FIELD]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [field for field in options["fields"] if field != EMAIL_FIELD]})
            for name, options in fieldsets
        ]


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
