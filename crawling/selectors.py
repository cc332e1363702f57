"""Reads for posts, images, duplicate groups, crawl statistics and imports from the admin."""

import csv
import io
import itertools
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet

from crawling import dedup, imports
from crawling.models import CrawlState, ImportJob, ImportRow, Media, Post

_UNDECIDED = (Media.Stage.NEW, Media.Stage.FETCHED, Media.Stage.REJECTED)


def media_duplicate_representative(*, crisis_id: int, media_id: int, sha256: str, phash: str) -> int | None:
    """The representative of the group this image belongs to, or None when it is the first of its kind.

    Candidates are the crisis's images already checked (UNIQUE or later, and DUPLICATE). An identical file
    wins; otherwise the nearest hash within DEDUP_MAX_DISTANCE bits, the older image on a tie.
    """
    checked = (
        Media.objects.filter(crisis_id=crisis_id).exclude(pk=media_id).exclude(stage__in=_UNDECIDED).exclude(phash="")
    )
    if sha256:
        exact = checked.filter(sha256=sha256).order_by("pk").values_list("pk", "duplicate_of_id").first()
        if exact:
            return exact[1] or exact[0]
    rows = list(checked.order_by("pk").values_list("pk", "duplicate_of_id", "phash"))
    if not rows:
        return None
    distances = dedup.hamming_distances(phash, (row[2] for row in rows))
    best = int(distances.argmin())  # argmin takes the first, i.e. the oldest, on a tie
    if distances[best] > settings.DEDUP_MAX_DISTANCE:
        return None
    return rows[best][1] or rows[best][0]


def media_duplicate_group(*, media_id: int) -> QuerySet[Media]:
    """Every image of the duplicate group ``media_id`` belongs to: its representative first, then the copies.

    The crowd sees only the representative; whoever records its outcome copies it to the rest of the group.
    """
    media = Media.objects.filter(pk=media_id).values_list("pk", "duplicate_of_id").first()
    if media is None:
        return Media.objects.none()
    representative_id = media[1] or media[0]
    return Media.objects.filter(Q(pk=representative_id) | Q(duplicate_of_id=representative_id)).order_by(
        F("duplicate_of_id").asc(nulls_first=True), "pk"
    )


def reject_reason_code(reason: str) -> str:
    return (reason or "").split(":", 1)[0].strip() or "unknown"


def crawl_stats(*, crisis_id: int, source: str) -> dict:
    """What coordinators see per crisis and source: posts, images by fate, rejections by reason."""
    media = Media.objects.filter(crisis_id=crisis_id, post__source=source)
    counts = media.aggregate(
        images=Count("pk"),
        fetched=Count("pk", filter=~Q(stage__in=(Media.Stage.NEW, Media.Stage.REJECTED))),
        rejected=Count("pk", filter=Q(stage=Media.Stage.REJECTED)),
        duplicates=Count("pk", filter=Q(stage=Media.Stage.DUPLICATE)),
        waiting=Count("pk", filter=Q(stage=Media.Stage.NEW)),
    )
    by_reason: dict[str, int] = {}
    for reason, count in (
        media.filter(stage=Media.Stage.REJECTED).values_list("reject_reason").annotate(n=Count("pk")).order_by()
    ):
        code = reject_reason_code(reason)
        by_reason[code] = by_reason.get(code, 0) + count
    return {
        "posts": Post.objects.filter(crisis_id=crisis_id, source=source).count(),
        **counts,
        "rejected_by_reason": dict(sorted(by_reason.items(), key=lambda kv: -kv[1])),
    }


def crawl_states_for(*, crisis_id: int) -> QuerySet[CrawlState]:
    return CrawlState.objects.filter(crisis_id=crisis_id).order_by("source")


# Imports from the admin ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPreviewRow:
    """One of the first rows of an upload as it would be imported with a mapping: its values and any error."""

    number: int
    values: list[str]
    error: str = ""


@dataclass(frozen=True)
class ImportPreview:
    """The first rows; the columns mapped to a field come first, in the fields' order, with the field they fill."""

    columns: list[tuple[str, str]]  # (column, the label of the field it fills, or "")
    rows: list[ImportPreviewRow]


def import_job_preview(*, job: ImportJob, mapping: dict[str, str], limit: int = 10) -> ImportPreview:
    """The first rows checked with ``mapping`` as the import will check them, short of downloading or decoding
    the images: a file name must be in the ZIP (or a ZIP be uploaded), a URL must be http(s)."""
    filled: dict[str, list[str]] = {}
    for name, column in mapping.items():
        filled.setdefault(column, []).append(str(imports.IMPORT_FIELD_LABELS[name]))
    ordered = [c for c in dict.fromkeys(mapping.values()) if c in job.columns] + [
        c for c in job.columns if c not in filled
    ]
    rows = []
    with job.upload.open("rb") as handle:
        read = imports.upload_read(handle, max_csv_bytes=settings.IMPORT_MAX_UPLOAD_BYTES)
        for number, row in itertools.islice(read.rows, limit):
            values = [] if isinstance(row, imports.RowError) else [row.get(c) or "" for c in ordered]
            rows.append(ImportPreviewRow(number=number, values=values, error=_import_row_problem(row, mapping, read)))
    return ImportPreview(columns=[(c, ", ".join(filled.get(c, []))) for c in ordered], rows=rows)


def _import_row_problem(row, mapping: dict[str, str], read: imports.Upload) -> str:
    try:
        if isinstance(row, imports.RowError):
            raise row
        imports.image_check(imports.row_read(row, mapping), read.images)
    except imports.RowError as error:
        return error.message
    return ""


def import_job_failed_rows(*, job: ImportJob) -> QuerySet[ImportRow]:
    return ImportRow.objects.filter(job=job, outcome=ImportRow.Outcome.FAILED).order_by("number")


def import_job_stages(*, job: ImportJob) -> list[tuple[str, int]]:
    """Where the job's imported images are in the pipeline now: (stage label, count), in pipeline order."""
    imported = ImportRow.objects.filter(job=job, outcome=ImportRow.Outcome.IMPORTED).values("post_id")
    counts = dict(
        Media.objects.filter(post_id__in=imported)
        .values_list("stage")
        .annotate(n=Count("pk"))
        .values_list("stage", "n")
    )
    return [(label, counts[stage]) for stage, label in Media.Stage.choices if counts.get(stage)]


def import_job_failed_rows_csv(*, job: ImportJob) -> str:
    """The rows with an error, as they were read, with the row number and the error in two more columns: fix them
    and upload this file again (the two extra columns are ignored)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*job.columns, "import_row", "import_error"])
    for row in import_job_failed_rows(job=job).iterator():
        writer.writerow([*(row.values.get(column) or "" for column in job.columns), row.number, row.message])
    return out.getvalue()
