"""The crowd-work API: next task, answer, heartbeat, skip, my progress, place search. Thin: services do the work."""

import copy
import math
from collections import Counter

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from classification.geolocation.geo import Area, haversine_km, in_another_country, misses_area
from crawling.services import web_url_or_blank
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import user_can_view_crisis
from tasks_app import selectors, services
from tasks_app.models import Answer, Assignment, CrowdTask, Report

# The per-user limits of each crowd endpoint (CROWD_RATE_*); the global per-user API rate is left out here: these
# endpoints' own limits together stay under it, and checking it cost two cache round trips per request.
CROWD_THROTTLES = [ScopedRateThrottle]

ERROR = inline_serializer("CrowdError", fields={"code": serializers.CharField(), "detail": serializers.CharField()})


def crisis_for(request, slug: str) -> Crisis:
    crisis = selectors.crisis_by_slug(slug=slug)
    if crisis is None or not user_can_view_crisis(user=request.user, crisis=crisis):
        raise Http404("No such crisis.")  # private crises do not reveal that they exist
    return crisis


def volunteer_image_url(assignment: Assignment) -> str:
    """The copy the volunteer sees, through the mapping app's checked route: only theirs, only while the lease
    is open, blurred when the crisis asks for it (there is no public URL of a stored image)."""
    from mapping.services import volunteer_image_url as mapping_image_url

    media = assignment.task.media
    return mapping_image_url(media=media, lease_id=assignment.pk, volunteer_id=assignment.volunteer_id)


def lease_payload(assignment: Assignment) -> dict:
    """What the volunteer pages need about a lease. Never other volunteers' answers (independence)."""
    task = assignment.task
    media = task.media
    post = media.post
    wants_guess = task.kind in (CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.REVIEW)
    guess = selectors.media_text_guess(media=media) if wants_guess else None
    crisis_area = Area.from_geojson(task.crisis.affected_area) if guess else None
    radius_km = (guess.radius_m or 0) / 1000 if guess else 0
    return {
        "lease_id": assignment.pk,
        "task_id": task.pk,
        "kind": task.kind,
        "expires_at": assignment.expires_at,
        "seconds_left": assignment.seconds_left(),
        "is_gold": False,  # a gold image is not announced before it is answered
        "image_url": volunteer_image_url(assignment),
        "image_width": media.width,
        "image_height": media.height,
        "alt_text": media.alt_text,
        "post_text": post.text,
        "post_url": web_url_or_blank(post.url),  # rows stored before the ingest check, or typed in by hand
        "posted_at": post.posted_at,
        "place_spans": guess.spans if guess else [],
        "text_guess": (
            {
                "lat": guess.lat,
                "lon": guess.lon,
                "radius_m": guess.radius_m,
                "source": guess.source,
                "candidates": candidates_near_area(guess.candidates, crisis_area),
                # A guess that does not reach the affected area, or one wider than the area (it says less than
                # the area itself): the page opens on the area in both cases.
                "outside_area": misses_area(crisis_area, lat=guess.lat, lon=guess.lon, radius_km=radius_km),
                "wider_than_area": bool(crisis_area) and radius_km > crisis_area.radius_km,
                # Without a drawn area, the crisis's countries are its extent: a guess abroad is never where to
                # start looking unannounced.
                "outside_countries": not crisis_area
                and guess.source == "text"
                and in_another_country(guess.country_code, task.crisis.country_codes),
            }
            if guess
            else None
        ),
        "outside_places": selectors.media_outside_places(media=media) if wants_guess and not guess else [],
        "reference": reference_payload(task),
    }


CANDIDATE_AREA_MARGIN_KM = 50.0
CANDIDATES_SHOWN = 4
# What a place is, for telling apart the text's places that share a name.
PLACE_KIND_WORDS = {
    "country": gettext_lazy("country"),
    "admin1": gettext_lazy("state or province"),
    "admin2": gettext_lazy("county or municipality"),
    "city": gettext_lazy("town"),
    "local": gettext_lazy("neighbourhood"),
}
PLACE_WORD = gettext_lazy("place")
COMPASS_POINTS = (
    pgettext_lazy("compass point", "N"),
    pgettext_lazy("compass point", "NE"),
    pgettext_lazy("compass point", "E"),
    pgettext_lazy("compass point", "SE"),
    pgettext_lazy("compass point", "S"),
    pgettext_lazy("compass point", "SW"),
    pgettext_lazy("compass point", "W"),
    pgettext_lazy("compass point", "NW"),
)


def candidates_near_area(candidates: list[dict], area: Area | None) -> list[dict]:
    """The text's other places worth a look: distinct, and near the crisis area (far ones are namesakes)."""
    shown, seen = [], set()
    for candidate in candidates:
        key = (candidate["name"], round(candidate["lat"], 2), round(candidate["lon"], 2))
        if key in seen or (area and area.distance_km(candidate["lat"], candidate["lon"]) > CANDIDATE_AREA_MARGIN_KM):
            continue
        seen.add(key)
        shown.append(candidate)
    return labelled(shown[:CANDIDATES_SHOWN])


def labelled(candidates: list[dict]) -> list[dict]:
    """Each place with the text of its button: its name, and what kind of place it is when another place shown has
    the same name ("Eldorado do Sul (town)", "Eldorado do Sul (county or municipality)"); where even that is the
    same, how far and which way it lies from the first ("Eldorado do Sul (town, 31 km W)")."""
    names = Counter(candidate["name"] for candidate in candidates)
    first_of: dict[tuple, dict] = {}
    shown = []
    for candidate in candidates:
        name = candidate["name"]
        kind = PLACE_KIND_WORDS.get(candidate.get("kind", ""), PLACE_WORD)
        first = first_of.setdefault((name, kind), candidate)
        if names[name] < 2:
            label = name
        elif first is candidate:
            label = gettext("%(name)s (%(kind)s)") % {"name": name, "kind": kind}
        else:
            label = gettext("%(name)s (%(kind)s, %(km)s km %(direction)s)") % {
                "name": name,
                "kind": kind,
                **where_from(first, candidate),
            }
        shown.append({**candidate, "label": label})
    return shown


def told_apart(places: list[dict]) -> list[dict]:
    """Search results of one label after the first say how far and which way they lie from it ("Eldorado do Sul
    (RS, BR), 31 km E"): the gazetteer has some towns twice, as the town and as its municipality's centre."""
    first_of: dict[str, dict] = {}
    shown = []
    for place in places:
        first = first_of.setdefault(place["name"], place)
        if first is not place:
            place = {**place, "name": "{name}, {km} km {direction}".format(**place, **where_from(first, place))}
        shown.append(place)
    return shown


def where_from(origin: dict, point: dict) -> dict:
    """How far (whole km) and which way ``point`` lies from ``origin``: what tells two places of one name apart."""
    km = round(haversine_km(origin["lat"], origin["lon"], point["lat"], point["lon"]))
    return {"km": km, "direction": compass_point(origin, point)}


def compass_point(origin: dict, point: dict) -> str:
    """Which way ``point`` lies from ``origin``, as one of eight compass points."""
    north = point["lat"] - origin["lat"]
    east = (point["lon"] - origin["lon"]) * math.cos(math.radians(origin["lat"]))
    return str(COMPASS_POINTS[round(math.degrees(math.atan2(east, north)) / 45) % 8])


def reference_payload(task: CrowdTask) -> dict | None:
    """The location a review or a verification asks about; a verification adds the pinner's Street View view."""
    if task.kind == CrowdTask.Kind.REVIEW:
        return {"lat": task.reference_lat, "lon": task.reference_lon, "radius_m": task.reference_radius_m}
    if task.kind == CrowdTask.Kind.VERIFICATION:
        return {
            "lat": task.reference_lat,
            "lon": task.reference_lon,
            "radius_m": None,
            "pano_lat": task.reference_pano_lat,
            "pano_lon": task.reference_pano_lon,
            "pano_heading": task.reference_pano_heading,
            "pano_pitch": task.reference_pano_pitch,
        }
    return None


class ShallowFieldsSerializer(serializers.Serializer):
    """A serializer whose fields are shallow copies of the declared ones for each instance.

    DRF deep-copies every declared field per serializer instance, running each field's ``__init__`` again: about a
    millisecond per answer for its twenty fields (bench/bench_crowd_cpu.py). A shallow copy serves as well here:
    binding sets attributes on the copy, and nothing mutates a declared field's choices or validators.
    """

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class InteractionSerializer(ShallowFieldsSerializer):
    """What the volunteer did on the map before pinning, as the page saw it (tasks_app README, "Independence").

    Keys left out count as not done; unknown keys are refused, so a typo in a client is seen, not ignored.
    """

    class Meta:
        ref_name = "PinInteraction"

    map_moved = serializers.BooleanField(required=False, default=False)
    map_zoomed = serializers.BooleanField(required=False, default=False)
    place_searched = serializers.BooleanField(required=False, default=False)
    streetview_opened = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(f"Unknown keys: {', '.join(map(str, unknown))}.")
            wrong = sorted(key for key, value in data.items() if not isinstance(value, bool))
            if wrong:
                raise serializers.ValidationError(f"Give true or false for: {', '.join(wrong)}.")
        return super().to_internal_value(data)


class LeaseOutputSerializer(serializers.Serializer):
    lease_id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=CrowdTask.Kind.choices)
    expires_at = serializers.DateTimeField()
    seconds_left = serializers.IntegerField()
    is_gold = serializers.BooleanField()
    image_url = serializers.CharField()
    image_width = serializers.IntegerField(allow_null=True)
    image_height = serializers.IntegerField(allow_null=True)
    alt_text = serializers.CharField()
    post_text = serializers.CharField()
    post_url = serializers.CharField()
    posted_at = serializers.DateTimeField(allow_null=True)
    place_spans = serializers.ListField(child=serializers.DictField())
    text_guess = serializers.DictField(allow_null=True)
    outside_places = serializers.ListField(child=serializers.DictField())
    reference = serializers.DictField(allow_null=True)


class TaskNextApi(APIView):
    """Lease the next most useful task of a kind on a crisis (resumes the volunteer's running lease)."""

    throttle_classes = CROWD_THROTTLES
    throttle_scope = "crowd_next"

    class InputSerializer(ShallowFieldsSerializer):
        class Meta:
            ref_name = "TaskNextInput"

        kind = serializers.ChoiceField(choices=CrowdTask.Kind.choices)

    @extend_schema(
        operation_id="crowd_task_next",
        request=InputSerializer,
        responses={
            200: LeaseOutputSerializer,
            204: OpenApiResponse(description="Nothing left for you on this crisis."),
            403: ERROR,
        },
    )
    def post(self, request, slug: str):
        crisis = crisis_for(request, slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = services.lease_grant(crisis=crisis, volunteer=request.user, **serializer.validated_data)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        assignment = selectors.lease_for_payload(lease_id=assignment.pk, crisis=crisis)
        # The payload is JSON-ready as it is (LeaseOutputSerializer documents it): serialising it field by field
        # again cost a millisecond per request.
        return Response(lease_payload(assignment))


class AnswerSubmitApi(APIView):
    """Answer a leased task. Bad input or a lease that cannot take it: a 4xx with a stable code, nothing written."""

    throttle_classes = CROWD_THROTTLES
    throttle_scope = "crowd_answer"

    class InputSerializer(ShallowFieldsSerializer):
        class Meta:
            ref_name = "AnswerSubmitInput"

        lease_id = serializers.IntegerField(min_value=1)
        kind = serializers.ChoiceField(choices=CrowdTask.Kind.choices)
        difficulty = serializers.ChoiceField(choices=Answer.Difficulty.choices, required=False)
        lat = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
        lon = serializers.FloatField(min_value=-180, max_value=180, required=False, allow_null=True)
        precision = serializers.ChoiceField(choices=Answer.Precision.choices, required=False)
        verdict = serializers.ChoiceField(choices=Answer.Verdict.choices, required=False)
        clue_tags = serializers.ListField(
            child=serializers.ChoiceField(choices=Answer.Clue.choices), required=False, max_length=6
        )
        pano_lat = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
        pano_lon = serializers.FloatField(min_value=-180, max_value=180, required=False, allow_null=True)
        pano_heading = serializers.FloatField(min_value=0, max_value=360, required=False, allow_null=True)
        pano_pitch = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
        checked_lat = serializers.FloatField(
            min_value=-90, max_value=90, required=False, help_text="A check: the latitude of the pin shown."
        )
        checked_lon = serializers.FloatField(
            min_value=-180, max_value=180, required=False, help_text="A check: the longitude of the pin shown."
        )
        interaction = InteractionSerializer(required=False, allow_null=True)
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
        time_on_task_s = serializers.FloatField(min_value=0, max_value=86400, required=False)
        report_reason = serializers.ChoiceField(choices=Report.Reason.choices, required=False, allow_blank=True)
        report_note = serializers.CharField(max_length=500, required=False, allow_blank=True)

        def validate(self, data):
            kind = data["kind"]
            has_pin = data.get("lat") is not None or data.get("lon") is not None
            if has_pin and (data.get("lat") is None or data.get("lon") is None):
                raise serializers.ValidationError({"lat": "Give both lat and lon."})
            if kind == CrowdTask.Kind.RATING and not data.get("difficulty"):
                raise serializers.ValidationError({"difficulty": "A rating needs a difficulty."})
            if kind == CrowdTask.Kind.GEOLOCATION:
                precision = data.get("precision")
                if not precision:
                    raise serializers.ValidationError({"precision": "Say how precise the pin is."})
                if precision == Answer.Precision.CANNOT and has_pin:
                    raise serializers.ValidationError({"lat": "No pin with 'cannot geolocate'."})
                if precision != Answer.Precision.CANNOT and not has_pin:
                    raise serializers.ValidationError({"lat": "Place the pin (lat and lon)."})
            if kind == CrowdTask.Kind.REVIEW:
                verdict = data.get("verdict")
                if verdict not in (Answer.Verdict.ACCEPT, Answer.Verdict.CORRECT):
                    raise serializers.ValidationError({"verdict": "Accept or correct the location."})
                if (verdict == Answer.Verdict.CORRECT) != has_pin:
                    raise serializers.ValidationError({"lat": "A correction needs a pin; an acceptance none."})
            if kind == CrowdTask.Kind.VERIFICATION:
                if data.get("verdict") not in services.VERIFICATION_VERDICTS:
                    raise serializers.ValidationError({"verdict": "Answer yes, nearby or no."})
                if has_pin:
                    raise serializers.ValidationError({"lat": "A check answers about the pin shown: send no pin."})
            if kind == CrowdTask.Kind.RATING and data.get("verdict"):
                raise serializers.ValidationError({"verdict": "A rating has no verdict."})
            return data

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnswerSubmitOutput"

        id = serializers.IntegerField()
        kind = serializers.CharField()
        is_late = serializers.BooleanField()
        feedback = serializers.CharField(allow_null=True)
        gold_lat = serializers.FloatField(allow_null=True)
        gold_lon = serializers.FloatField(allow_null=True)
        others_url = serializers.CharField(help_text="How the other volunteers answered, now that you have.")

    KIND_FIELDS = {
        CrowdTask.Kind.RATING: ("difficulty",),
        CrowdTask.Kind.GEOLOCATION: (
            "lat",
            "lon",
            "precision",
            "clue_tags",
            "pano_lat",
            "pano_lon",
            "pano_heading",
            "pano_pitch",
            "interaction",
        ),
        CrowdTask.Kind.REVIEW: ("verdict", "lat", "lon", "clue_tags", "interaction"),
        CrowdTask.Kind.VERIFICATION: ("verdict", "checked_lat", "checked_lon"),
    }

    @extend_schema(
        operation_id="crowd_answer_submit",
        request=InputSerializer,
        responses={201: OutputSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kind = data["kind"]
        fields = {name: data[name] for name in self.KIND_FIELDS[kind] if name in data}
        answer = services.answer_submit(
            volunteer=request.user,
            lease_id=data["lease_id"],
            kind=kind,
            note=data.get("note", ""),
            time_on_task_s=data.get("time_on_task_s"),
            report_reason=data.get("report_reason", ""),
            report_note=data.get("report_note", ""),
            **fields,
        )
        gold = answer.gold_task
        output = {
            "id": answer.pk,
            "kind": answer.kind,
            "is_late": answer.is_late,
            "feedback": services.gold_feedback(answer=answer),
            "gold_lat": gold.gold_lat if gold else None,  # shown after the answer, never before
            "gold_lon": gold.gold_lon if gold else None,
            "others_url": reverse("tasks_app:api-answer-others", args=[answer.pk]),
        }
        # JSON-ready as it is (OutputSerializer documents it), as the next-task payload.
        return Response(output, status=status.HTTP_201_CREATED)


class LeaseStateSerializer(serializers.Serializer):
    lease_id = serializers.IntegerField(source="pk")
    state = serializers.CharField()
    expires_at = serializers.DateTimeField()
    seconds_left = serializers.SerializerMethodField()

    def get_seconds_left(self, assignment: Assignment) -> int:
        return assignment.seconds_left() if assignment.state == Assignment.State.LEASED else 0


class LeaseHeartbeatApi(APIView):
    """Keep a lease alive while its page is open (the page calls this every minute)."""

    throttle_classes = CROWD_THROTTLES
    throttle_scope = "crowd_heartbeat"

    @extend_schema(
        operation_id="crowd_lease_heartbeat",
        request=None,
        responses={200: LeaseStateSerializer, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, lease_id: int):
        assignment = services.lease_heartbeat(lease_id=lease_id, volunteer=request.user)
        return Response(LeaseStateSerializer(assignment).data)


class LeaseSkipApi(APIView):
    """Skip a task (optionally reporting the image): the slot goes to others, you never get it again."""

    throttle_classes = CROWD_THROTTLES
    throttle_scope = "crowd_answer"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeaseSkipInput"

        report_reason = serializers.ChoiceField(choices=Report.Reason.choices, required=False, allow_blank=True)
        report_note = serializers.CharField(max_length=500, required=False, allow_blank=True)
        page_error = serializers.CharField(
            max_length=300,
            required=False,
            allow_blank=True,
            help_text="Sent by a task page that broke: the task is given back and the error logged.",
        )

    @extend_schema(
        operation_id="crowd_lease_skip",
        request=InputSerializer,
        responses={200: LeaseStateSerializer, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, lease_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = services.lease_skip(lease_id=lease_id, volunteer=request.user, **serializer.validated_data)
        return Response(LeaseStateSerializer(assignment).data)


class AnswerOthersApi(APIView):
    """How the other volunteers answered the image of one of your answers (only yours: independence first)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnswerOthersOutput"

        kind = serializers.ChoiceField(choices=CrowdTask.Kind.choices)
        total = serializers.IntegerField(help_text="Answers by other volunteers so far.")
        difficulties = serializers.DictField(child=serializers.IntegerField(), help_text="Ratings: count per answer.")
        pins = inline_serializer(
            "OtherPin",
            fields={
                "distance_m": serializers.FloatField(allow_null=True, help_text="From your pin; null without one."),
                "precision": serializers.CharField(),
            },
            many=True,
        )
        cannot = serializers.IntegerField(help_text="Geolocation: answers 'cannot geolocate'.")
        verdicts = serializers.DictField(child=serializers.IntegerField(), help_text="Reviews: count per verdict.")

    @extend_schema(operation_id="crowd_answer_others", responses={200: OutputSerializer, 404: ERROR})
    def get(self, request, answer_id: int):
        try:
            others = selectors.answers_of_others(volunteer=request.user, answer_id=answer_id)
        except Answer.DoesNotExist:
            raise Http404("No such answer of yours.") from None
        return Response(self.OutputSerializer(others).data)


class ProgressApi(APIView):
    """The volunteer's own progress on a crisis, and the rank from the last leaderboard run."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProgressOutput"

        total = serializers.IntegerField()
        ratings = serializers.IntegerField()
        geolocations = serializers.IntegerField()
        reviews = serializers.IntegerField()
        checks = serializers.IntegerField()
        gold = serializers.IntegerField()
        skipped = serializers.IntegerField()
        gold_median_error_m = serializers.FloatField(allow_null=True)
        rank = serializers.IntegerField(allow_null=True)
        rank_computed_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(operation_id="crowd_progress", responses={200: OutputSerializer})
    def get(self, request, slug: str):
        crisis = crisis_for(request, slug)
        services.leaderboard_fresh(crisis=crisis)  # the rank comes from it
        progress = selectors.volunteer_progress(crisis=crisis, volunteer=request.user)
        return Response(self.OutputSerializer(progress).data)


class LeaderboardApi(APIView):
    """A crisis's leaderboard, at most ``CROWD_LEADERBOARD_MAX_AGE_SECONDS`` old, with the time it is of.

    For whoever may see the crisis's work page, signed in or not (``crisis_for`` checks).
    """

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeaderboardOutput"

        class EntrySerializer(serializers.Serializer):
            rank = serializers.IntegerField()
            name = serializers.CharField(source="volunteer.get_username")
            answers = serializers.IntegerField()
            answers_text = serializers.SerializerMethodField(help_text="The count in words, in the user's language.")

            def get_answers_text(self, entry) -> str:
                return ngettext("%(n)d answer", "%(n)d answers", entry.answers) % {"n": entry.answers}

        computed_at = serializers.DateTimeField(allow_null=True)
        age_seconds = serializers.FloatField(allow_null=True, help_text="How old the leaderboard was when served.")
        entries = EntrySerializer(many=True)

    @extend_schema(operation_id="crowd_leaderboard", responses={200: OutputSerializer})
    def get(self, request, slug: str):
        crisis = crisis_for(request, slug)
        services.leaderboard_fresh(crisis=crisis)
        entries = selectors.leaderboard_top(crisis=crisis, limit=settings.CROWD_LEADERBOARD_SIZE)
        computed_at = entries[0].computed_at if entries else None
        age = round((timezone.now() - computed_at).total_seconds(), 1) if computed_at else None
        payload = {"computed_at": computed_at, "age_seconds": age, "entries": entries}
        return Response(self.OutputSerializer(payload).data)


class PlaceSearchApi(APIView):
    """The map's search box: towns, regions and counties by name from the offline gazetteer (no external geocoder)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PlaceSearchOutput"

        name = serializers.CharField()
        lat = serializers.FloatField()
        lon = serializers.FloatField()

    @extend_schema(
        operation_id="crowd_place_search",
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="At least two letters of a place name.")],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request, slug: str):
        crisis = crisis_for(request, slug)
        query = request.query_params.get("q", "")[:100]
        places = told_apart(selectors.place_search(query=query, country_codes=crisis.country_codes, limit=8))
        return Response(self.OutputSerializer(places, many=True).data)
