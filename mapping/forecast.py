"""A forecast of a live crisis's crowd work, from what its volunteers measurably did so far.

Plain arithmetic on measured rates, stated with its assumptions so a coordinator can judge it:
- each active volunteer keeps answering at the crisis's measured rate (geolocation answers per volunteer-hour
  over the last ``window``), and the crowd stays the size it was in the last hour;
- an image needs the measured number of answers per published image (or its remaining slots, if more);
- images are served easiest first (difficulty priority), and images predicted impossible are withheld.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.db.models import Avg, Count, F, Max, Min, Sum
from django.utils.translation import gettext, gettext_noop

from geoloc_platform.crises.models import Crisis

DIFFICULTY_ORDER = ("easy", "", "medium", "difficult")  # "" is unscored: served between easy and medium
DEFAULT_HORIZONS_H = (1, 4, 8)

# Stored untranslated with their numbers: the dashboard API says them in each coordinator's language.
RATE_MEASURED = gettext_noop(
    "The volunteers active in the last hour (%(active)s) keep going at the measured %(rate)s geolocation answers per "
    "volunteer-hour (last %(window)s h)."
)
RATE_UNKNOWN = gettext_noop(
    "No geolocation answers in the last %(window)s h: the rate of the volunteers active in the last hour "
    "(%(active)s) is unknown."
)
ANSWERS_MEASURED = gettext_noop(
    "An image takes %(answers)s answers to publish (the measured mean, or its remaining slots when more)."
)
ANSWERS_REMAINING = gettext_noop("An image takes its remaining answers to publish.")
CHECKS_ON_TOP = gettext_noop(
    "This crisis publishes a point only once a volunteer with a record or a coordinator has checked it: the figures "
    "count an image as published when its answers are in, and the checks come on top (see Checks before "
    "publication)."
)
ORDER = gettext_noop(
    "Images are served easiest first; unscored images count between easy and medium; images predicted impossible "
    "are withheld and not counted."
)


@dataclass(frozen=True)
class Assumption:
    text: str  # a message id of the catalogue, with %(name)s placeholders
    params: dict

    def say(self) -> str:
        """In the active language."""
        return gettext(self.text) % self.params


def assumptions_said(assumptions: list) -> list[str]:
    """Stored assumptions ({text, params}) in the active language; older snapshots held plain English text."""
    return [
        Assumption(item["text"], item.get("params", {})).say() if isinstance(item, dict) else str(item)
        for item in assumptions
    ]


@dataclass
class Forecast:
    window_hours: float
    active_volunteers: int
    answers_per_volunteer_hour: float | None
    answers_per_published_image: float | None
    queue: dict[str, dict] = field(default_factory=dict)  # predicted label -> {"images", "answers_needed"}
    published_within: dict[str, int] = field(default_factory=dict)  # "1h" -> images
    clear_easy_medium_hours: float | None = None
    volunteers_needed: dict[str, int] = field(default_factory=dict)  # "4h" -> volunteers
    assumptions: list["Assumption"] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def crisis_forecast(*, crisis_id: int, now: datetime, window: timedelta = timedelta(hours=6)) -> Forecast:
    from consensus.models import LocationConsensus
    from tasks_app.models import Answer, CrowdTask

    geo_answers = Answer.objects.filter(crisis_id=crisis_id, kind=CrowdTask.Kind.GEOLOCATION, is_gold=False)
    recent = geo_answers.filter(submitted_at__gte=now - window)
    # Volunteer-hours: each volunteer counts from their first to their last answer in the window (at least 10 min).
    spans = recent.values("volunteer").annotate(n=Count("pk"), first=Min("submitted_at"), last=Max("submitted_at"))
    volunteer_hours = 0.0
    answers = 0
    for row in spans:
        volunteer_hours += max((row["last"] - row["first"]).total_seconds() / 3600, 1 / 6)
        answers += row["n"]
    rate = answers / volunteer_hours if volunteer_hours else None
    active = recent.filter(submitted_at__gte=now - timedelta(hours=1)).values("volunteer").distinct().count()
    published = LocationConsensus.objects.filter(crisis_id=crisis_id, status=LocationConsensus.Status.DONE)
    per_image = published.aggregate(mean=Avg("n_answers"))["mean"]

    open_tasks = CrowdTask.objects.filter(
        crisis_id=crisis_id,
        kind=CrowdTask.Kind.GEOLOCATION,
        status__in=[CrowdTask.Status.OPEN, CrowdTask.Status.FULL],
    )
    queue = {}
    for label, images, remaining in (
        open_tasks.values_list("predicted_label")
        .annotate(images=Count("pk"), remaining=Sum(F("redundancy") - F("answers_count")))
        .values_list("predicted_label", "images", "remaining")
    ):
        needed_each = max(per_image or 0, remaining / images if images else 0)
        queue[label or ""] = {"images": images, "answers_needed": round(needed_each * images, 1)}

    forecast = Forecast(
        window_hours=window.total_seconds() / 3600,
        active_volunteers=active,
        answers_per_volunteer_hour=round(rate, 2) if rate else None,
        answers_per_published_image=round(per_image, 2) if per_image else None,
        queue=queue,
    )
    window = f"{forecast.window_hours:g}"
    forecast.assumptions = [
        Assumption(RATE_MEASURED, {"active": active, "rate": rate_text, "window": window})
        if (rate_text := forecast.answers_per_volunteer_hour)
        else Assumption(RATE_UNKNOWN, {"active": active, "window": window}),
        Assumption(ANSWERS_MEASURED, {"answers": forecast.answers_per_published_image})
        if forecast.answers_per_published_image
        else Assumption(ANSWERS_REMAINING, {}),
        Assumption(ORDER, {}),
    ]
    if Crisis.objects.filter(pk=crisis_id, publish_requires_record=True).exists():
        forecast.assumptions.append(Assumption(CHECKS_ON_TOP, {}))
    if not rate:
        return forecast
    capacity_per_hour = rate * active
    for hours in DEFAULT_HORIZONS_H:
        forecast.published_within[f"{hours}h"] = _images_done(queue, capacity_per_hour * hours)
    easy_medium = sum(queue.get(label, {}).get("answers_needed", 0) for label in ("easy", "", "medium"))
    if capacity_per_hour:
        forecast.clear_easy_medium_hours = round(easy_medium / capacity_per_hour, 1)
    for hours in DEFAULT_HORIZONS_H:
        forecast.volunteers_needed[f"{hours}h"] = int(-(-easy_medium // (rate * hours)))  # ceiling
    return forecast


def _images_done(queue: dict[str, dict], answers_available: float) -> int:
    """Images published when ``answers_available`` answers are spent easiest first."""
    done = 0
    for label in DIFFICULTY_ORDER:
        bucket = queue.get(label)
        if not bucket or not bucket["images"]:
            continue
        per_image = bucket["answers_needed"] / bucket["images"]
        if per_image <= 0:
            continue
        affordable = min(bucket["images"], int(answers_available // per_image))
        done += affordable
        answers_available -= affordable * per_image
        if affordable < bucket["images"]:
            break
    return done
