"""The crisis setup form of the admin: lists typed as words (no JSON), the affected area drawn on a map, the sources
chosen by ticking boxes. Every list is checked against its standard with the errors of ``codes``."""

import json
import re
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from geoloc_platform.crises import codes
from geoloc_platform.crises.models import Crisis, all_crawl_sources

LIST_SEPARATORS = re.compile(r"[,;\n]+")
CODE_SEPARATORS = re.compile(r"[\s,;]+")


class TagListField(forms.CharField):
    """A list typed as words separated by commas (the tag-input script turns it into chips).

    ``split`` cuts the text into items, ``normalise`` writes each item the standard way and ``problems`` says what is
    wrong with the list; duplicates are dropped, the first kept.
    """

    def __init__(
        self,
        *,
        split: re.Pattern,
        normalise: Callable[[str], str],
        problems: Callable[[list], list[str]],
        placeholder: str = "",
        letter_case: str = "",
        strip_prefix: str = "",
        **kwargs,
    ):
        self.split, self.normalise, self.problems = split, normalise, problems
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={
                    "data-tag-input": "",
                    "data-remove-label": gettext_lazy("Remove"),
                    "data-tag-case": letter_case,
                    "data-tag-strip": strip_prefix,
                    "placeholder": placeholder,
                    "class": "vTextField",
                }
            ),
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if isinstance(value, str) and value.startswith("["):
            try:  # a bound form redisplays what the model stored as JSON text
                return ", ".join(str(item) for item in json.loads(value))
            except (ValueError, TypeError):
                return value
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        items = [self.normalise(item.strip()) for item in self.split.split(text) if item.strip()]
        return list(dict.fromkeys(items))

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        found = self.problems(value)
        if found:
            raise ValidationError(found)


class KeywordsField(forms.CharField):
    """Search keywords per language, one line per language: ``pt: enchente, alagamento``."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "placeholder": "pt: enchente, alagamento\nen: flood"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{language}: {', '.join(words)}" for language, words in value.items())
        return value

    def to_python(self, value) -> dict[str, list[str]]:
        text = super().to_python(value) or ""
        keywords: dict[str, list[str]] = {}
        problems = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            language, colon, words = line.partition(":")
            if not colon:
                problems.append(
                    _("Line %(n)d: start with a language code and a colon, e.g. “en: flood, flooding”.") % {"n": number}
                )
                continue
            language = language.strip().lower()
            if language not in codes.ISO_639_1:
                problems.append(
                    _("Line %(n)d: “%(code)s” is not an ISO 639-1 language code (e.g. en, pt, es).")
                    % {"n": number, "code": language}
                )
                continue
            found = [word.strip() for word in LIST_SEPARATORS.split(words) if word.strip()]
            keywords[language] = list(dict.fromkeys([*keywords.get(language, []), *found]))
        if problems:
            raise ValidationError(problems)
        return {language: words for language, words in keywords.items() if words}


class AffectedAreaWidget(forms.Textarea):
    """A Leaflet map to draw the affected area on (rectangle or polygons); the GeoJSON stays in a folded textarea.

    The map is set up by a static script from data attributes: no inline script, no CDN.
    """

    template_name = "crises/widgets/affected_area.html"

    class Media:
        css = {"all": ["leaflet/leaflet.css", "leaflet/draw/leaflet.draw.css", "crises/crisis_form.css"]}
        js = ["leaflet/leaflet.js", "leaflet/draw/leaflet.draw.js", "crises/affected_area.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["tile_url"] = settings.MAP_TILE_URL
        context["widget"]["tile_attribution"] = settings.MAP_TILE_ATTRIBUTION
        return context

    def format_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value)
        return super().format_value(value)


def _source_choices() -> list[tuple[str, str]]:
    # The crawling app knows which platforms have credentials here; crises only names them.
    from crawling.sources import CRAWLERS

    choices = []
    for value, label in Crisis.CrawlSource.choices:
        crawler = CRAWLERS.get(value)
        if crawler is not None and not crawler.is_enabled():
            label = _("%(source)s (not configured on this server: no credentials)") % {"source": label}
        choices.append((value, label))
    return choices


class CrisisAdminForm(forms.ModelForm):
    languages = TagListField(
        split=CODE_SEPARATORS,
        normalise=str.lower,
        problems=codes.language_problems,
        placeholder="pt, en",
        letter_case="lower",
        label=gettext_lazy("Languages"),
        help_text=gettext_lazy("ISO 639-1 codes of the languages posts are in, e.g. pt, en."),
    )
    country_codes = TagListField(
        split=CODE_SEPARATORS,
        normalise=str.upper,
        problems=codes.country_problems,
        placeholder="BR, UY",
        letter_case="upper",
        label=gettext_lazy("Countries"),
        help_text=gettext_lazy("ISO 3166-1 alpha-2 codes of the affected countries, e.g. BR, UY."),
    )
    hashtags = TagListField(
        split=LIST_SEPARATORS,
        normalise=lambda tag: tag.removeprefix("#"),
        problems=codes.hashtag_problems,
        strip_prefix="#",
        placeholder="EnchenteRS, SOSRioGrandeDoSul",
        label=gettext_lazy("Hashtags"),
        help_text=gettext_lazy("One word each, with or without “#”, separated by commas."),
    )
    keywords = KeywordsField(
        label=gettext_lazy("Keywords"),
        help_text=gettext_lazy("One line per language: its ISO 639-1 code, a colon, then words or phrases."),
    )
    crawl_sources = forms.MultipleChoiceField(
        required=False,
        initial=all_crawl_sources,  # a declared field does not take the model's default
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Crawled on"),
        help_text=gettext_lazy("The platforms collected from while the crisis is active; imports work either way."),
    )

    class Meta:
        model = Crisis
        # The admin adds the fields of its fieldsets; these are the ones this form shapes.
        fields = ["languages", "keywords", "hashtags", "country_codes", "crawl_sources", "affected_area"]
        widgets = {"affected_area": AffectedAreaWidget}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["crawl_sources"].choices = _source_choices()
