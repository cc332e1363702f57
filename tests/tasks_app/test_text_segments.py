"""The post's words shown on the geolocation page, with the places the text geolocation found highlighted."""

from tasks_app.selectors import text_segments

TEXT = "Photo taken at Praça da Alfândega, Porto Alegre, 9am"


def span(start: int, end: int) -> dict:
    return {"start": start, "end": end}


def test_places_are_highlighted_and_every_character_is_kept():
    pieces = text_segments(text=TEXT, spans=[span(35, 47), span(15, 33)])
    assert [piece for piece, is_place in pieces if is_place] == ["Praça da Alfândega", "Porto Alegre"]
    assert "".join(piece for piece, _ in pieces) == TEXT


def test_a_mention_inside_another_never_cuts_the_longer_name():
    pieces = text_segments(text=TEXT, spans=[span(15, 23), span(15, 33)])  # "Praça da" and "Praça da Alfândega"
    assert [piece for piece, is_place in pieces if is_place] == ["Praça da Alfândega"]


def test_mentions_that_overlap_are_highlighted_as_one():
    pieces = text_segments(text=TEXT, spans=[span(15, 27), span(24, 47)])
    assert [piece for piece, is_place in pieces if is_place] == ["Praça da Alfândega, Porto Alegre"]


def test_spans_out_of_the_text_are_ignored():
    pieces = text_segments(text=TEXT, spans=[span(40, 400), span(-3, 2), span(9, 9)])
    assert pieces == [(TEXT, False)]
