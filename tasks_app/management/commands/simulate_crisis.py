"""Replay a simulated crowd through the real crowd services, once per scheduling policy (tasks_app/REPLAY.md)."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from geoloc_platform.crises.models import Crisis
from tasks_app import replay, replay_folder


class Command(BaseCommand):
    help = (
        "Replay seeded images and a simulated crowd through lease_grant / answer_submit / consensus, once per "
        "scheduling policy, in throwaway crises deleted afterwards; prints the policies side by side and draws a chart."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--config", help="YAML or JSON file overriding tasks_app/replay_defaults.yaml.")
        parser.add_argument("--volunteers", type=int, help="Simulated volunteers (default 10).")
        parser.add_argument("--images", type=int, help="Generated images (default 2000).")
        parser.add_argument("--hours", type=float, help="Simulated duration in hours (default 8).")
        parser.add_argument(
            "--policies",
            default="difficulty_priority",
            help=f"Comma-separated scheduling policies, some of {','.join(replay.POLICIES)} (default: the first).",
        )
        parser.add_argument(
            "--consensus",
            default=",".join(replay.CONSENSUS_POLICIES),
            help="Comma-separated publication rules (the config's consensus_policies; default: today,adaptive).",
        )
        parser.add_argument(
            "--scenarios",
            default="honest,careless,prior_clickers,coordinated",
            help="Comma-separated crowds (the config's scenarios: shares of careless or hostile volunteers).",
        )
        parser.add_argument("--out", default="var/replay", help="Folder for the table, the JSON and the charts.")
        parser.add_argument(
            "--from-crisis",
            metavar="SLUG",
            help="Replay this crisis's images (predictions, consensus, text guesses) instead of generated ones; "
            "the crisis itself is only read.",
        )
        parser.add_argument(
            "--from-folder",
            metavar="FOLDER",
            help="Replay a folder of real images: scored by the platform's difficulty estimator (the active global "
            "version, the cold start by default), with their labels (easy/medium/difficult/impossible in "
            "FOLDER/labels.csv, columns file,label) as the hidden truth.",
        )
        parser.add_argument("--folder-images", default="", help="Subfolder of FOLDER that labels.csv's paths are in.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options):
        if Crisis._meta.db_table not in connection.introspection.table_names():
            # The replay runs the platform's own tables (in a throwaway crisis): a fresh checkout has none yet.
            raise CommandError("The database has no tables yet: run `python manage.py migrate` (or `make run` once).")
        policies = _names(options["policies"], replay.POLICIES, "policies")
        try:
            config = replay.config_load(
                options["config"],
                volunteers=options["volunteers"],
                images=options["images"],
                duration_hours=options["hours"],
            )
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read the config: {error}") from error
        consensus = _names(options["consensus"], tuple(config["consensus_policies"]), "publication rules")
        scenarios = _names(options["scenarios"], tuple(config["scenarios"]), "scenarios")
        images = None
        if options["from_crisis"]:
            crisis = Crisis.objects.filter(slug=options["from_crisis"]).first()
            if crisis is None:
                raise CommandError(f"No crisis with slug {options['from_crisis']!r}.")
            config["area"] = replay.area_of(crisis) or config["area"]
            images = replay.images_from_crisis(crisis=crisis, config=config, seed=options["seed"])
            if not images:
                raise CommandError(f"{crisis.name} has no images past the relevance filter to replay.")
            config["images"] = len(images)
        if options["from_folder"]:
            try:
                images, summary = replay_folder.images_from_folder(
                    root=options["from_folder"], config=config, seed=options["seed"],
                    image_folder=options["folder_images"],
                )  # fmt: skip
            except (OSError, KeyError, ValueError) as error:
                raise CommandError(f"Cannot replay {options['from_folder']}: {error}") from error
            config["images"] = len(images)
            self.stdout.write(summary)
        started = time.perf_counter()
        results = replay.replay_run(
            config=config,
            seed=options["seed"],
            policies=policies,
            consensus=consensus,
            scenarios=scenarios,
            progress=not options["no_progress"],
            images=images,
        )
        elapsed = time.perf_counter() - started
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        title = (
            f"{config['volunteers']} volunteers, {config['images']} images, {config['duration_hours']} h, "
            f"seed {options['seed']}"
        )
        chart = replay.chart_save(results, out / "published.png", title=f"Published points: {title}")
        first = results[0]
        breakdown_chart = replay.breakdown_chart_save(first, out / "precision_by_difficulty.png")
        text = "\n\n".join(
            [
                f"Crisis replay: {title} ({elapsed:.1f} s wall clock)",
                replay.comparison_table(results),
                replay.budget_table(results),
                *(replay.asked_table(r) for r in results if r.consensus != "today"),
                replay.breakdown_table(first),
            ]
        )
        (out / "replay.md").write_text(text + "\n")
        (out / "replay.json").write_text(
            json.dumps(
                {
                    "config": config,
                    "seed": options["seed"],
                    "wall_seconds": elapsed,
                    "results": [{**r.figures(), "timeline": r.timeline, "breakdown": r.breakdown} for r in results],
                },
                indent=1,
                default=str,
            )
        )
        self.stdout.write(text)
        self.stdout.write(self.style.SUCCESS(f"\nChart: {chart}\nBreakdown chart: {breakdown_chart}"))


def _names(value: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = set(names) - set(known)
    if unknown or not names:
        raise CommandError(f"Unknown {what} {sorted(unknown)}: use some of {', '.join(known)}.")
    return names
