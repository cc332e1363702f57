"""Normalisation keeps a map back to the original text, so highlighted spans point at what the post says."""

from classification.geolocation.normalize import normalize, split_hashtag


class TestNormalize:
    def test_camel_case_hashtags_are_split(self):
        assert normalize("#HoustonFlood now").text == "Houston Flood now"

    def test_urls_and_mentions_are_blanked_and_entities_decoded(self):
        normalized = normalize("A&amp;B @someone https://t.co/x")
        assert "someone" not in normalized.text and "t.co" not in normalized.text
        assert normalized.text.startswith("A&B")

    def test_spans_map_back_to_the_original_offsets(self):
        text = "Water in #PortoAlegre &amp; Canoas"
        normalized = normalize(text)
        start = normalized.text.index("Porto Alegre")
        original = normalized.original_span(start, start + len("Porto Alegre"))
        assert text[original[0] : original[1]] == "PortoAlegre"
        start = normalized.text.index("Canoas")
        original = normalized.original_span(start, start + len("Canoas"))
        assert text[original[0] : original[1]] == "Canoas"

    def test_text_from_hashtags_is_marked(self):
        normalized = normalize("#CanoasFlood in town")
        assert normalized.in_hashtag(0, len("Canoas"))
        assert not normalized.in_hashtag(len("Canoas Flood "), len("Canoas Flood in"))


class TestSplitHashtag:
    def test_acronyms_digits_accents_and_prefixes(self):
        assert [p for _, p in split_hashtag("NYCFlood")] == ["NYC", "Flood"]
        assert [p for _, p in split_hashtag("PuertoRico2017")] == ["Puerto", "Rico", "2017"]
        assert [p for _, p in split_hashtag("ÁguaNaRua")] == ["Água", "Na", "Rua"]
        assert [p for _, p in split_hashtag("FortMcMurray")] == ["Fort", "McMurray"]
        assert [p for _, p in split_hashtag("houstonflood")] == ["houstonflood"]
