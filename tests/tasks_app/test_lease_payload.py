"""What the geolocation page is told about the text's guess: where it stands against the crisis area."""

from classification.geolocation.geo import Area
from tasks_app.apis import candidates_near_area, compass_point
from tests.conftest import SQUARE_AREA

AREA = Area.from_geojson(SQUARE_AREA)


def candidate(name, lat, lon):
    return {"name": name, "lat": lat, "lon": lon}


def test_candidates_far_from_the_crisis_area_are_namesakes_and_not_shown():
    shown = candidates_near_area(
        [
            candidate("Canoas", -29.9178, -51.1839),
            candidate("Canoas", 8.63, -82.85),
            candidate("Guaíba", -30.11, -51.32),
        ],
        AREA,
    )
    assert [c["name"] for c in shown] == ["Canoas", "Guaíba"]


def test_a_candidate_given_twice_is_shown_once():
    twice = [candidate("Eldorado do Sul", -30.0847, -51.6187), candidate("Eldorado do Sul", -30.0849, -51.6188)]
    assert candidates_near_area(twice, AREA) == [{**twice[0], "label": "Eldorado do Sul"}]


def test_without_a_crisis_area_every_distinct_candidate_is_shown():
    far = [candidate("Canoas", 8.63, -82.85), candidate("Tokyo", 35.6895, 139.6917)]
    assert [c["name"] for c in candidates_near_area(far, None)] == ["Canoas", "Tokyo"]


def test_places_that_share_a_name_say_what_they_are():
    shown = candidates_near_area(
        [
            {**candidate("Eldorado do Sul", -29.999, -51.308), "kind": "city"},
            {**candidate("Eldorado do Sul", -30.084, -51.616), "kind": "admin2"},
            {**candidate("Guaíba", -30.11, -51.32), "kind": "city"},
        ],
        AREA,
    )
    assert [c["label"] for c in shown] == [
        "Eldorado do Sul (town)",
        "Eldorado do Sul (county or municipality)",
        "Guaíba",
    ]


def test_two_towns_of_one_name_say_how_far_apart_they_are():
    first, second = candidate("Eldorado do Sul", -29.999, -51.308), candidate("Eldorado do Sul", -30.084, -51.616)
    shown = candidates_near_area([{**first, "kind": "city"}, {**second, "kind": "city"}], AREA)
    assert [c["label"] for c in shown] == ["Eldorado do Sul (town)", "Eldorado do Sul (town, 31 km W)"]


def test_the_compass_point_is_the_nearest_of_eight():
    origin = {"lat": -30.0, "lon": -51.0}
    assert compass_point(origin, {"lat": -29.0, "lon": -51.0}) == "N"
    assert compass_point(origin, {"lat": -31.0, "lon": -50.0}) == "SE"
    assert compass_point(origin, {"lat": -30.1, "lon": -52.0}) == "W"
