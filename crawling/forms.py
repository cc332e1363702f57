"""Forms of the admin's import: the upload, and the column mapping a coordinator checks before starting."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from crawling.imports import IMPORT_FIELD_LABELS, IMPORT_FIELDS
from geoloc_platform.crises.models import Crisis


class ImportUploadForm(forms.Form):
    crisis = forms.ModelChoiceField(queryset=Crisis.objects.none(), label=_("Crisis"))
    upload = forms.FileField(
        label=_("File"),
        help_text=_(
            "A CSV with a row per image (URLs, or file names), or a ZIP holding the images and one CSV. The first "
            "line of the CSV names the columns; you check which column is what before the import starts."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.zip,text/csv,application/zip"}),
    )

    def __init__(self, *args, crises: QuerySet[Crisis], **kwargs):
        super().__init__(*args, **kwargs)
        # Closed crises are the record of a response: nothing is added to them.
        self.fields["crisis"].queryset = crises.exclude(status=Crisis.Status.CLOSED)

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise ValidationError(
                _("The file is larger than %(max)d MB.") % {"max": settings.IMPORT_MAX_UPLOAD_BYTES // 2**20}
            )
        return upload


class ImportMappingForm(forms.Form):
    """Which column holds each field; the image is required, latitude and longitude go together."""

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("(not in the file)")), *((column, column) for column in columns)]
        for name in IMPORT_FIELDS:
            self.fields[name] = forms.ChoiceField(
                choices=choices, required=name == "image", label=IMPORT_FIELD_LABELS[name]
            )

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("lat")) != bool(cleaned.get("lon")):
            raise ValidationError(_("Choose both the latitude and the longitude column, or neither."))
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {name: column for name, column in self.cleaned_data.items() if column}
