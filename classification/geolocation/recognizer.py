"""Place-name recognition with spaCy: a blank multilingual pipeline, gazetteer names, landmark patterns.

Two matchers find gazetteer names, chosen by ``GEOLOC_MATCHER``:
- ``ngram`` (default): a lookup of token n-grams in the gazetteer index. With the full gazetteer (~900k names)
  spaCy's EntityRuler phrase patterns measured 86 s to build, 6.5 GB resident and 116 s to load from disk;
  the n-gram lookup loads in seconds and keeps the names in a few hundred MB.
- ``entity_ruler``: the same names as EntityRuler phrase patterns (LOWER), for small gazetteers.
Either way an EntityRuler adds token patterns for streets, roads and landmarks, which the gazetteer cannot hold
and which go to the online geocoder. When a statistical model is configured, its GPE/LOC/FAC entities are added.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import spacy
from spacy.language import Language
from spacy.util import compile_infix_regex, compile_suffix_regex

from classification.geolocation.gazetteer import (
    ABBREVIATED_REGION_COUNTRIES,
    ADMIN1,
    ADMIN2,
    CITY,
    CONTINENT,
    COUNTRY,
    GazetteerIndex,
)
from classification.geolocation.normalize import Normalized, normalize, split_hashtag
from classification.geolocation.postal import find_zip_codes

# Scripts written without spaces: one token per character, for names and texts alike.
_CJK_INFIX = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"

# Words that name a storm or hazard when they precede a capitalised name: "Hurricane Florence" is no city.
HAZARD_WORDS = frozenset(
    [
        "hurricane",
        "hurricanes",
        "storm",
        "tropical",
        "cyclone",
        "typhoon",
        "tormenta",
        "huracán",
        "huracan",
        "ciclón",
        "ciclon",
        "ouragan",
        "tempête",
        "cyclone",
        "ciclone",
        "tifone",
        "uragano",
        "sturm",
        "orkan",
        "tufão",
        "furacão",
        "furacao",
        "tempestade",
    ]
)

# Ordinary words that are also the name of some town somewhere (tuned on the IDRISI English train split).
COMMON_WORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "among",
        "an",
        "and",
        "any",
        "are",
        "around",
        "as",
        "at",
        "away",
        "back",
        "bad",
        "be",
        "because",
        "been",
        "before",
        "being",
        "best",
        "better",
        "between",
        "big",
        "both",
        "but",
        "by",
        "can",
        "come",
        "could",
        "day",
        "days",
        "did",
        "do",
        "does",
        "down",
        "during",
        "each",
        "even",
        "ever",
        "every",
        "few",
        "first",
        "for",
        "from",
        "get",
        "give",
        "go",
        "going",
        "good",
        "got",
        "great",
        "had",
        "has",
        "have",
        "he",
        "help",
        "her",
        "here",
        "him",
        "his",
        "home",
        "hope",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "keep",
        "know",
        "last",
        "least",
        "less",
        "let",
        "like",
        "little",
        "live",
        "long",
        "look",
        "lot",
        "love",
        "made",
        "make",
        "man",
        "many",
        "may",
        "me",
        "more",
        "most",
        "much",
        "must",
        "my",
        "need",
        "never",
        "new",
        "news",
        "next",
        "no",
        "not",
        "now",
        "of",
        "off",
        "old",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "people",
        "please",
        "power",
        "pray",
        "rain",
        "really",
        "relief",
        "rescue",
        "right",
        "road",
        "safe",
        "said",
        "same",
        "say",
        "see",
        "she",
        "should",
        "since",
        "so",
        "some",
        "still",
        "stay",
        "such",
        "sure",
        "take",
        "than",
        "thank",
        "thanks",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "thing",
        "think",
        "this",
        "those",
        "though",
        "through",
        "time",
        "to",
        "today",
        "too",
        "two",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "video",
        "want",
        "was",
        "water",
        "way",
        "we",
        "week",
        "well",
        "went",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "within",
        "without",
        "work",
        "world",
        "would",
        "year",
        "yes",
        "yet",
        "you",
        "your",
        "flood",
        "floods",
        "flooding",
        "fire",
        "fires",
        "wildfire",
        "wildfires",
        "earthquake",
        "earthquakes",
        "quake",
        "tornado",
        "tornadoes",
        "tsunami",
        "landslide",
        "landslides",
        "mudslide",
        "blizzard",
        "drought",
        "typhoon",
        "volcano",
        "eruption",
        "avalanche",
        "red cross",
        "northwest",
        "northeast",
        "southwest",
        "southeast",
        "northwestern",
        "northeastern",
        "southwestern",
        "southeastern",
        "canyon",
        "creek",
        "mountain",
        "mountains",
        "forest",
        "falls",
        "storm",
        "hurricane",
        "cyclone",
        "disaster",
        "damage",
        "emergency",
        "victims",
        "victim",
        "support",
        "donate",
        "donation",
        "donations",
        "aid",
        "army",
        "navy",
        "police",
        "update",
        "updates",
        "breaking",
        "live",
        "news",
        "report",
        "photo",
        "photos",
        "video",
        "watch",
        "pic",
        "pics",
        "amazing",
        "beautiful",
        "sad",
        "god",
        "lord",
        "church",
        "family",
        "friends",
        "community",
        "county",
        "city",
        "state",
        "town",
        "village",
        "island",
        "islands",
        "coast",
        "north",
        "south",
        "east",
        "west",
        "central",
        "northern",
        "southern",
        "eastern",
        "western",
        "upper",
        "lower",
        "little",
        "greater",
        "mount",
        "lake",
        "river",
        "bay",
        "beach",
        "valley",
        "hill",
        "hills",
        "park",
        "media",
        "social",
        "twitter",
        "facebook",
        "instagram",
        "youtube",
        "via",
        "rt",
        "cnn",
        "bbc",
        "abc",
        "nbc",
        "fox",
        "usa",
        "today",
        "president",
        "governor",
        "mayor",
        "minister",
        "government",
        "national",
        "international",
        "global",
        "local",
        "march",
        "may",
        "june",
        "july",
        "august",
        "april",
        "january",
        "february",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
)


@dataclass(frozen=True)
class SourceText:
    """One text of a post: where it comes from (post, alt, ocr), which object (media id) and its weight."""

    kind: str
    text: str
    weight: float = 1.0
    ref: int | None = None


@dataclass
class Mention:
    source: str
    ref: int | None
    start: int  # offsets in the original text of the source
    end: int
    text: str
    key: str
    label: str  # PLACE (gazetteer), STREET / FAC (for the geocoder), GPE / LOC (statistical model), POSTAL (ZIP)
    weight: float
    in_hashtag: bool = False
    candidates: list = field(default_factory=list)  # (PlaceRecord, is_primary) from the gazetteer


TRAILING_DASHES = r"[-\u2013\u2014]+"


def make_nlp(lang: str = "xx") -> Language:
    nlp = spacy.blank(lang)
    infixes = [*nlp.Defaults.infixes, _CJK_INFIX]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    # A dash left on a word is no part of it: "teach in Chimanimani- His family" names Chimanimani. (Tokenisation
    # keys the index's names: a change here bumps gazetteer.INDEX_FORMAT.)
    nlp.tokenizer.suffix_search = compile_suffix_regex([*nlp.Defaults.suffixes, TRAILING_DASHES]).search
    return nlp


def token_key(tokens: Iterable) -> str:
    return " ".join(token.lower_ for token in tokens)


# Words that make "<Name> <word>" a street, a building or a natural feature, never the town "<Name>"
# ("Westheimer Road", "Feather River Hospital", "Magnolia Bluff"), written after the name in these languages.
FACILITY_SUFFIXES = {
    "en": [
        "street",
        "st",
        "road",
        "rd",
        "avenue",
        "ave",
        "boulevard",
        "blvd",
        "highway",
        "hwy",
        "freeway",
        "fwy",
        "parkway",
        "pkwy",
        "drive",
        "dr",
        "lane",
        "ln",
        "way",
        "bridge",
        "bayou",
        "creek",
        "river",
        "dam",
        "reservoir",
        "canal",
        "hospital",
        "school",
        "university",
        "college",
        "academy",
        "airport",
        "station",
        "mall",
        "stadium",
        "arena",
        "church",
        "temple",
        "mosque",
        "cathedral",
        "pier",
        "marina",
        "harbor",
        "harbour",
        "plaza",
        "square",
        "center",
        "centre",
        "hall",
        "library",
        "museum",
        "hotel",
        "camp",
        "base",
        "falls",
        "bluff",
        "bluffs",
        "trail",
        "reserve",
        "preserve",
        "forest",
    ],
    "de": ["straße", "strasse", "weg", "platz", "brücke", "bahnhof", "krankenhaus", "schule"],
    "nl": ["straat", "weg", "plein", "brug", "ziekenhuis", "school"],
}
# ... and written before the name ("Avenida Mauá", "Rua dos Andradas", "Via Roma", "Hospital de Clínicas").
FACILITY_PREFIXES = {
    "en": (),
    "pt": [
        "rua",
        "r",
        "avenida",
        "av",
        "travessa",
        "tv",
        "praça",
        "pça",
        "largo",
        "estrada",
        "rodovia",
        "ponte",
        "hospital",
        "escola",
        "colégio",
        "universidade",
        "aeroporto",
        "estação",
        "arena",
        "igreja",
        "parque",
        "viaduto",
        "túnel",
        "beco",
        "alameda",
        "bairro",
        "vila",
    ],
    "es": [
        "calle",
        "c",
        "avenida",
        "av",
        "carrera",
        "cra",
        "paseo",
        "plaza",
        "carretera",
        "autopista",
        "puente",
        "hospital",
        "escuela",
        "colegio",
        "universidad",
        "aeropuerto",
        "estación",
        "iglesia",
        "parque",
        "barrio",
        "colonia",
    ],
    "it": [
        "via",
        "viale",
        "piazza",
        "corso",
        "ponte",
        "ospedale",
        "scuola",
        "stazione",
        "chiesa",
        "parco",
        "largo",
        "vicolo",
    ],
    "fr": [
        "rue",
        "avenue",
        "boulevard",
        "bd",
        "place",
        "pont",
        "hôpital",
        "école",
        "gare",
        "église",
        "parc",
        "chemin",
        "allée",
        "quai",
    ],
    "el": ["οδός", "λεωφόρος", "πλατεία", "νοσοκομείο", "σχολείο"],
}
# Natural features and districts that often open a real town's name ("Lake Charles", "Fort Myers", "Port
# Arthur", "Bay St. Louis") are left to the gazetteer: they count as facility words only after the name.


def facility_words(languages: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(suffixes, prefixes) of facility names in English and the given languages, lower-cased."""
    chosen = {"en", *languages}
    suffixes = {word for language in chosen for word in FACILITY_SUFFIXES.get(language, ())}
    prefixes = {word for language in chosen for word in FACILITY_PREFIXES.get(language, ())}
    return frozenset(suffixes), frozenset(prefixes)


STREET_WORDS = sorted(FACILITY_SUFFIXES["en"])

LANDMARK_PATTERNS = [
    # "Westheimer Road", "Memorial Hermann Hospital"; a lowercase "street" is a common noun ("Flooded street").
    {"label": "STREET", "pattern": [{"IS_TITLE": True, "OP": "+"}, {"LOWER": {"IN": STREET_WORDS}, "IS_TITLE": True}]},
    {
        "label": "STREET",
        "pattern": [{"LOWER": {"IN": ["highway", "hwy", "interstate", "route", "us"]}}, {"IS_DIGIT": True}],
    },
    {"label": "STREET", "pattern": [{"TEXT": {"REGEX": r"^I-\d{1,3}$"}}]},
]
# Every landmark pattern needs one of these lowercase words, or a word starting with "i-": a post without any
# cannot match, and the token matcher (a fifth of a post's time) is skipped.
LANDMARK_TRIGGERS = frozenset([*STREET_WORDS, "highway", "hwy", "interstate", "route", "us"])


# Words that join a facility word and its name: "Rua dos Andradas", "Hospital de Clínicas".
FACILITY_CONNECTORS = frozenset(
    ["de", "da", "do", "das", "dos", "del", "della", "delle", "di", "du", "des", "la", "le", "of", "the"]
)
CODE_WORD_ZIPF = 4.5  # Zipf frequency (one in ~30,000 words) from which a two-letter code is an ordinary word
HASHTAG_MIN_PIECE = 5  # letters of the shortest place name cut out of a one-word hashtag
HASHTAG_MIN_POPULATION = 10_000  # a town cut out of a hashtag is a known one, not "Huma" of "#humanitarian"


@dataclass(frozen=True)
class Facility:
    """A street, building or feature named after something: its token span and the name in it ("Mauá")."""

    start: int
    end: int
    name_key: str


class Recognizer:
    """Finds place mentions in the texts of a post. Build once per process; ``recognize`` is thread-safe."""

    def __init__(
        self,
        index: GazetteerIndex,
        *,
        matcher: str = "ngram",
        statistical_model: str = "",
        name_key=None,
    ):
        self.index = index
        self.nlp = make_nlp()
        self.matcher = matcher
        ruler = self.nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True})
        ruler.add_patterns(LANDMARK_PATTERNS)
        if matcher == "entity_ruler":
            ruler.add_patterns([{"label": "PLACE", "pattern": key} for key in sorted(index.keys())])
        self.ruler = ruler
        self.model = spacy.load(statistical_model) if statistical_model else None

    def name_key(self, name: str) -> str:
        return token_key(self.nlp.tokenizer(normalize(name).text))

    def is_code_key(self, key: str) -> bool:
        """Short all-capital codes ("US", "TX", "UAE") match only when written in capitals."""
        return (
            len(key) <= 3
            and key.isascii()
            and key.replace(".", "").isalpha()
            and any(len(place.name) > 3 or not is_primary for place, is_primary in self.index.lookup(key))
        )

    def segment_hashtag(self, tag: str) -> list[tuple[int, str]] | None:
        """A one-word hashtag cut around the longest place name it starts or ends with ("#keralafloods" ->
        kerala, floods; "#prayforhouston" -> prayfor, houston; "#portarthurstrong" -> portarthur, strong)."""
        if len(tag) < HASHTAG_MIN_PIECE + 3 or not tag.isalpha() or not (tag.islower() or tag.isupper()):
            return None  # CamelCase tags are cut at their capitals
        lower = tag.lower()
        whole = self.index.compact_lookup(lower)
        if whole:  # the whole tag spells a name: cut it into the name's words ("#puertorico" -> puerto, rico)
            return _pieces_like(tag, whole.split()) if " " in whole else None
        for length in range(len(tag) - 3, HASHTAG_MIN_PIECE - 1, -1):
            if self._notable(self.index.compact_lookup(lower[:length])):
                return [(0, tag[:length]), (length, tag[length:])]
            if self._notable(self.index.compact_lookup(lower[-length:])):
                return [(0, tag[:-length]), (len(tag) - length, tag[-length:])]
        return None

    def _notable(self, key: str | None) -> bool:
        return key is not None and any(
            place.kind in (COUNTRY, ADMIN1) or place.population >= HASHTAG_MIN_POPULATION
            for place, _ in self.index.lookup(key)
        )

    # --- recognition -----------------------------------------------------------------------------------
    def recognize(
        self,
        sources: Iterable[SourceText],
        *,
        stop_keys: frozenset[str] = frozenset(),
        countries: frozenset[str] = frozenset(),
        languages: Iterable[str] = ("en",),
    ) -> list[Mention]:
        """Place mentions, then streets and facilities (``label`` STREET): a gazetteer name inside "<Name> Street"
        or "Avenida <Name>" is the facility's, and the same name alone elsewhere in the post refers to it. US ZIP
        codes written in context ("TX 77640") come last, labelled POSTAL, with the ZIP as their only candidate."""
        suffixes, prefixes = facility_words(languages)
        spoken = frozenset({"en", *languages})
        mentions: list[Mention] = []
        facility_names: set[str] = set()
        for source in sources:
            if not source.text or not source.text.strip():
                continue
            normalized = normalize(source.text, segment=self.segment_hashtag)
            doc = self.nlp.make_doc(normalized.text)
            _words_cache(doc, normalized)
            if self.matcher == "entity_ruler" or _may_name_landmark(doc.user_data["lowers"]):
                doc = self.ruler(doc)
            spans = [(ent.start, ent.end, ent.label_) for ent in doc.ents]
            if self.matcher == "ngram":
                # Gazetteer names first: "Tampa Bay" is a place before it is a landmark pattern.
                spans = _merge_spans(self._ngram_spans(doc), spans)
            if self.model is not None:
                spans = _merge_preferring_covering(self._model_spans(doc, normalized.text), spans)
            spans = _merge_spans(self._county_spans(doc), spans)
            facilities = self._facilities(doc, spans, suffixes, prefixes)
            facility_names.update(f.name_key for f in facilities)
            spans = _merge_spans([(f.start, f.end, "STREET") for f in facilities], spans)
            places_end: set[int] = set()
            for start, end, label in spans:
                mention = self._mention(
                    source, normalized, doc, start, end, label, stop_keys, countries, places_end, spoken
                )
                if mention is not None:
                    mentions.append(mention)
                    if label != "STREET":
                        places_end.add(end)
            mentions += _postal_mentions(source, countries)
        return [m for m in mentions if m.label in ("STREET", POSTAL) or m.key not in facility_names]

    def _county_spans(self, doc) -> list[tuple[int, int, str]]:
        """Counties named without the word "County" after each name, as US weather alerts and news write them:
        "[Carteret Co, NC]", "Chatham, Bryan and Liberty counties". A name counts only where the gazetteer has a
        county of that name."""
        words, lowers = doc.user_data["words"], doc.user_data["lowers"]
        found = []
        for i, lower in enumerate(lowers):
            abbreviated = lower == COUNTY_ABBREVIATION and words[i][:1] == "C"
            if abbreviated and (start := self._county_before(doc, i)) is not None:
                found.append((start, i + 1, COUNTY))
            elif lower == "counties":
                end = i
                while (start := self._county_before(doc, end)) is not None:
                    found.append((start, end, COUNTY))
                    end = start
                    if end and lowers[end - 1] in LIST_JOINERS:
                        end -= 1
                        if end and lowers[end - 1] == "," and lowers[end] in ("and", "&"):
                            end -= 1  # ", and"
                    else:
                        break
        return sorted(found)

    def _county_before(self, doc, end: int) -> int | None:
        """Where the county name that ends at token ``end`` starts (the longest of up to three capitalised tokens:
        "Fort Bend", "St. Lucie"), or None."""
        words, lowers = doc.user_data["words"], doc.user_data["lowers"]
        for start in range(max(0, end - 3), end):
            if not all(word[:1].isupper() or word == "." for word in words[start:end]) or words[start] == ".":
                continue
            if any(place.kind == ADMIN2 for place, _ in self.index.lookup(_county_key(lowers[start:end]))):
                return start
        return None

    def _facilities(self, doc, spans, suffixes, prefixes) -> list[Facility]:
        """Gazetteer names followed by a capitalised facility word or preceded by one (across "de", "dos")."""
        found = []
        words, lowers = doc.user_data["words"], doc.user_data["lowers"]
        for start, end, label in spans:
            # A facility's name is capitalised: "in College Station" is no college called "in" (Indiana's code).
            if label not in ("PLACE", "GPE", "LOC") or not words[start][:1].isupper():
                continue
            name_key = " ".join(lowers[start:end])
            if end < len(words) and lowers[end] in suffixes and words[end][:1].isupper():
                found.append(Facility(start, end + 1, name_key))
                continue
            before = start - 1
            while before >= 0 and lowers[before] in FACILITY_CONNECTORS and start - before <= 2:
                before -= 1
            if before >= 0 and words[before] == "." and before > 0:
                before -= 1  # "Av. Mauá"
            if before >= 0 and lowers[before].rstrip(".") in prefixes and words[before][:1].isupper():
                found.append(Facility(before, end, name_key))
        return found

    def _model_spans(self, doc, text: str) -> list[tuple[int, int, str]]:
        """GPE/LOC/FAC entities of the statistical model, as token spans of our doc."""
        spans = []
        for ent in self.model(text).ents:
            if ent.label_ in ("GPE", "LOC", "FAC"):
                span = doc.char_span(ent.start_char, ent.end_char, alignment_mode="expand")
                if span is not None:
                    spans.append((span.start, span.end, ent.label_))
        return spans

    def _ngram_spans(self, doc) -> list[tuple[int, int, str]]:
        """Longest gazetteer names, left to right, trying only the name lengths that start with each token."""
        lowers = doc.user_data["lowers"]
        found = []
        i, size = 0, len(lowers)
        while i < size:
            step = 1
            for n in self.index.lengths_of(lowers[i]):
                if i + n <= size and self.index.has(" ".join(lowers[i : i + n])):
                    found.append((i, i + n, "PLACE"))
                    step = n
                    break
            i += step
        return found

    def _mention(
        self, source, normalized: Normalized, doc, start, end, label, stop_keys, countries, places_end, spoken
    ) -> Mention | None:
        span = _TokenSpan.of(doc, start, end)
        key = " ".join(doc.user_data["lowers"][start:end])
        if label == COUNTY:
            key, label = _county_key(doc.user_data["lowers"][start:end]), "PLACE"
        in_hashtag = normalized.in_hashtag(span.start_char, span.end_char)
        candidates = self.index.lookup(key) if label in ("PLACE", "GPE", "LOC") else []
        if label == "PLACE":
            if not self._accept(
                span,
                key,
                candidates,
                in_hashtag,
                stop_keys,
                after_place=start in places_end,
                countries=countries,
                languages=spoken,
                whole_tag=(span.start_char, span.end_char) in normalized.hashtag_ranges,
            ):
                return None
            if self.is_code_key(key) and key not in COUNTRY_CODE_KEYS:
                candidates = [
                    (place, primary)
                    for place, primary in candidates
                    if place.kind == ADMIN1
                    and (place.country_code in countries or place.country_code in ABBREVIATED_REGION_COUNTRIES)
                ]
                if not candidates:
                    return None
        if label in ("GPE", "LOC") and (key in stop_keys or key in COMMON_WORDS):
            return None
        if label in ("STREET", "FAC") and (key in stop_keys or doc.user_data["lowers"][start] in HAZARD_WORDS):
            return None
        original_start, original_end = normalized.original_span(span.start_char, span.end_char)
        return Mention(
            source=source.kind,
            ref=source.ref,
            start=original_start,
            end=original_end,
            text=source.text[original_start:original_end],
            key=key,
            label=label,
            weight=source.weight,
            in_hashtag=in_hashtag,
            candidates=candidates,
        )

    def _is_word(self, key: str, languages: frozenset[str]) -> bool:
        """Whether a short code is an ordinary word in the crisis's languages ("ok", "in", "or", "me"). wordfreq
        also counts the lowercase forms of the abbreviations themselves ("tx" at Zipf 4.0, "fl", "nc"), so a code
        is a word only from CODE_WORD_ZIPF up."""
        return any(level >= CODE_WORD_ZIPF for language, level in self.index.common.get(key, {}).items()
                   if language in languages)  # fmt: skip

    def _accept(
        self,
        span,
        key: str,
        candidates,
        in_hashtag: bool,
        stop_keys,
        *,
        after_place: bool,
        countries=frozenset(),
        languages=frozenset({"en"}),
        whole_tag: bool = False,
    ) -> bool:
        """``whole_tag``: the name is a hashtag of its own ("#Hurricane #Springfield"), so the words around it
        belong to other tags and neither make it a storm's name nor part of a longer proper name."""
        text = span.text
        if not candidates or key in stop_keys:
            return False
        words, lowers = span.doc.user_data["words"], span.doc.user_data["lowers"]
        if span.start > 0 and lowers[span.start - 1] in HAZARD_WORDS and not whole_tag:
            return False  # "Hurricane Florence", "Cyclone Idai"
        letters = [ch for ch in text if ch.isalpha()]
        shouting = _mostly_upper(span.doc)
        if self.is_code_key(key):
            # "US", "TX" but never "us", "tx"; a region code only after a comma or bracket ("Katy, TX") or right
            # after a place ("Houston TX"), and never in a text written in capitals, where "IN" and "OR" are words.
            before = words[span.start - 1] if span.start else ""
            placed = before in {",", "(", "["} or after_place or in_hashtag
            if text.isupper() and not shouting and not self._is_word(key, languages) and not placed:
                # A code that is no word ("TX", not "OK" or "IN") of a region of the crisis's own countries
                # stands alone too: "flooding in TX".
                placed = any(place.kind == ADMIN1 and place.country_code in countries for place, _ in candidates)
            return text.isupper() and (key in COUNTRY_CODE_KEYS or (placed and not shouting))
        if key in COUNTRY_CODE_KEYS:  # "U.S.", "U.K.": capitals with dots, never "u.s."
            return text.isupper()
        cased = any(ch.isupper() != ch.islower() for ch in letters)
        if len(letters) < (3 if cased else 2):  # two characters make a name in Chinese or Japanese
            return False
        if key in COMMON_WORDS:
            return False
        proper_name = cased and not shouting and not whole_tag and _inside_proper_name(span)
        if proper_name and not _notable_reading(candidates, countries):
            return False  # "Gerard Butler", "Aaron Rogers", "Wells Fargo": part of a longer name
        if cased and text.isupper() and len(letters) <= 4 and not shouting:
            # A short word in capitals in ordinary text is an acronym ("KOMO News"), unless it names a country,
            # a region or a large city outright.
            return any(
                primary and (place.kind in (COUNTRY, ADMIN1) or place.population >= 100_000)
                for place, primary in candidates
            )
        # In a text written in capitals only the words in capitals say nothing: "Cedar Point [Carteret Co, NC]" in a
        # weather service's report in capitals is written with care.
        if cased and ((shouting and text.isupper()) or text == text.lower()) and not in_hashtag:
            # Lowercase in running text: only the own names of countries, regions and large cities ("perto" is no
            # Perth, "casas" no town).
            return any(
                primary
                and (place.kind in (COUNTRY, ADMIN1, CONTINENT) or (place.kind == CITY and place.population >= 100_000))
                for place, primary in candidates
            )
        return True


POSTAL = "POSTAL"


def _postal_mentions(source: SourceText, countries: frozenset[str]) -> list[Mention]:
    """The ZIP codes of one text (postal.py): read on the original text, so the offsets need no mapping."""
    return [
        Mention(
            source=source.kind,
            ref=source.ref,
            start=found.start,
            end=found.end,
            text=source.text[found.start : found.end],
            key=found.place.zip_code,
            label=POSTAL,
            weight=source.weight,
            candidates=[(found.place, True)],
        )
        for found in find_zip_codes(source.text, countries=countries)
    ]


# Capitalised words that may follow a town's name in ordinary writing: "Paradise Fire", "Houston Police".
NAME_CHAIN_WORDS = frozenset(
    [
        "county",
        "district",
        "city",
        "town",
        "township",
        "village",
        "province",
        "state",
        "region",
        "area",
        "parish",
        "borough",
        "municipality",
        "fire",
        "fires",
        "flood",
        "floods",
        "flooding",
        "police",
        "airport",
        "news",
        "residents",
        "people",
    ]
)


def _pieces_like(tag: str, words: list[str]) -> list[tuple[int, str]]:
    """(offset, piece) of ``tag`` cut where the words of the name it spells end."""
    pieces, offset = [], 0
    for word in words:
        pieces.append((offset, tag[offset : offset + len(word)]))
        offset += len(word)
    return pieces


def _inside_proper_name(span) -> bool:
    """A one-word name with a capitalised word (not a function word) right before or after it, in text that is not
    written in title case: the word belongs to a person's or an organisation's name."""
    if len(span) != 1:
        return False
    doc = span.doc
    words = doc.user_data["words"]
    if doc.user_data.get("title_case") is None:
        long_words = [word for word in words if word.isalpha() and len(word) > 3]
        doc.user_data["title_case"] = len(long_words) >= 4 and sum(w.istitle() for w in long_words) > 0.5 * len(
            long_words
        )
    if doc.user_data["title_case"]:
        return False

    def capitalised(word: str) -> bool:
        lower = word.lower()
        return word.isalpha() and word.istitle() and lower not in COMMON_WORDS and lower not in NAME_CHAIN_WORDS

    # A word of another hashtag belongs to that tag: "roads in Chimanimani #StarFMNews" is no "Chimanimani Star".
    starts, tags = doc.user_data["starts"], doc.user_data["hashtag_ranges"]

    def tag_of(char: int) -> int:
        return next((n for n, (start, end) in enumerate(tags) if start <= char < end), -1)

    own_tag = tag_of(span.start_char)
    before = words[span.start - 1] if span.start > 0 and tag_of(starts[span.start - 1]) == own_tag else None
    after = words[span.end] if span.end < len(words) and tag_of(starts[span.end]) == own_tag else None
    sentence_start = before is not None and (span.start == 1 or doc[span.start - 2].is_punct)
    return bool((before is not None and capitalised(before) and not sentence_start) or (after and capitalised(after)))


def _notable_reading(candidates, countries: frozenset[str]) -> bool:
    """A reading known well enough to be named on its own inside a longer name ("Houston Police"): a country, a
    city of a million, or a region or city of 100,000 in the crisis's countries. Abroad, "John Kerry" and "July
    Moyo" are people, not an Irish county and a Ugandan district."""
    return any(
        place.kind == COUNTRY
        or place.population >= 1_000_000
        or (
            (place.kind == ADMIN1 or place.population >= 100_000)
            and place.country_code in (countries or {place.country_code})
        )
        for place, _ in candidates
    )


COUNTRY_CODE_KEYS = frozenset({"us", "usa", "u.s.", "u.s.a.", "uk", "u.k.", "uae"})


COUNTY = "COUNTY"  # a span read as "<its words> County"
COUNTY_ABBREVIATION = "co"  # the tokenizer splits "Co." and "St." from their dots
LIST_JOINERS = frozenset({",", "and", "&"})


def _county_key(lowers: list[str]) -> str:
    """The gazetteer's key of a county written "<name> Co" or listed before "counties" ("St. Lucie" is Saint Lucie)."""
    words = lowers[:-1] if lowers[-1] == COUNTY_ABBREVIATION else lowers
    if words[:2] == ["st", "."]:
        words = ["saint", *words[2:]]
    return " ".join(words) + " county"


def _words_cache(doc, normalized: Normalized) -> None:
    """The doc's token texts and their lowercase forms, where its hashtags lie, and whether it is written in capitals,
    read once: every rule reads them, and each access to a spaCy token builds a Python object (~2 us)."""
    text = normalized.text
    words, lowers, starts = [], [], []
    for token in doc:
        words.append(token.text)
        lowers.append(token.lower_)
        starts.append(token.idx)
    doc.user_data.update(words=words, lowers=lowers, starts=starts, text=text, hashtag_ranges=normalized.hashtag_ranges)
    doc.user_data["mostly_upper"] = _written_in_capitals(text)


@dataclass(frozen=True, slots=True)
class _TokenSpan:
    """What the rules read of a spaCy Span, from the doc's cached words: a Span and the Tokens it builds cost
    more than the rules themselves."""

    doc: object
    start: int
    end: int
    start_char: int
    end_char: int
    text: str

    @classmethod
    def of(cls, doc, start: int, end: int) -> "_TokenSpan":
        data = doc.user_data
        start_char, end_char = data["starts"][start], data["starts"][end - 1] + len(data["words"][end - 1])
        return cls(doc, start, end, start_char, end_char, data["text"][start_char:end_char])

    def __len__(self) -> int:
        return self.end - self.start


def _may_name_landmark(lowers: list[str]) -> bool:
    return any(lower in LANDMARK_TRIGGERS or lower.startswith("i-") for lower in lowers)


def _written_in_capitals(text: str) -> bool:
    """At least 20 cased letters, over 60% of them capitals: capitalisation says nothing about names there."""
    upper = sum(map(str.isupper, text))
    cased = upper + sum(map(str.islower, text))
    return cased >= 20 and upper > 0.6 * cased


def _mostly_upper(doc) -> bool:
    """A text written in capitals, where capitalisation says nothing about names (cached on the doc)."""
    cached = doc.user_data.get("mostly_upper")
    if cached is None:
        cached = doc.user_data["mostly_upper"] = _written_in_capitals(doc.text)
    return cached


def _merge_spans(first: list, second: list) -> list:
    """Union of token spans, the earlier list winning overlaps."""
    taken: set[int] = set()
    for start, end, _ in first:
        taken.update(range(start, end))
    merged = list(first)
    for start, end, label in second:
        if not taken.intersection(range(start, end)):
            merged.append((start, end, label))
            taken.update(range(start, end))
    return sorted(merged)


def _merge_preferring_covering(model: list, ours: list) -> list:
    """Union of the model's spans and ours. A model span wins where it covers every span of ours it overlaps:
    the model read the context ("eldorado do sul" as a place in lowercase, "Arena do Grêmio" as a facility rather
    than a town called Grêmio); a shorter model span loses to our longer gazetteer name ("Porto" of "Porto Alegre").
    """
    covering = [
        span
        for span in model
        if all(
            span[0] <= other[0] and other[1] <= span[1] for other in ours if other[0] < span[1] and span[0] < other[1]
        )
    ]
    return _merge_spans(_merge_spans(covering, ours), model)


def crisis_stop_keys(recognizer: Recognizer, *, texts: Iterable[str], keep) -> frozenset[str]:
    """Keys of the words of a crisis's name, hashtags and keywords: "Harvey" is not a place during Harvey.

    ``keep(key)`` says whether a word is really a place of the crisis (the "Kerala" of "Kerala floods").
    """
    keys = set()
    for text in texts:
        pieces = [piece for word in text.replace("#", " ").split() for _, piece in split_hashtag(word)]
        for n in range(1, 4):
            for i in range(len(pieces) - n + 1):
                key = recognizer.name_key(" ".join(pieces[i : i + n]))
                # A storm's name is no place even where a town has it: Hurricane Florence struck Florence, SC.
                storm_name = i > 0 and pieces[i - 1].lower() in HAZARD_WORDS
                if key and recognizer.index.has(key) and (storm_name or not keep(key)):
                    keys.add(key)
    return frozenset(keys)
