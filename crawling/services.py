"""Writes for posts and images: crawling, imports, safe fetching, duplicates, and the pipeline's stage moves,
nudges and sweeper."""

import logging
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, OperationalError, connections, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from crawling import dedup, fetching, imports, pipeline, selectors
from crawling.imaging import DecodedImage, ImageRejected, decode_image
from crawling.models import CrawlState, ImportJob, ImportRow, Media, Post
from crawling.sources import CRAWLERS, crawler_for, enabled_sources
from crawling.sources.base import BaseCrawler, NormalisedPost, RateLimited, SourceError
from geoloc_platform.crises.models import Crisis

logger = logging.getLogger(__name__)

FINAL_STAGES = frozenset(
    {
        Media.Stage.REJECTED,
        Media.Stage.DUPLICATE,
        Media.Stage.IRRELEVANT,
        Media.Stage.PROBABLY_IRRELEVANT,  # waits for a coordinator's review, not for a worker
        Media.Stage.CANNOT_GEOLOCATE,
        Media.Stage.PUBLISHED,
    }
)


def media_advance(*, media_id: int, from_stage: str, to_stage: str, **fields) -> bool:
    """Move an image from ``from_stage`` to ``to_stage`` if it is still there; nudge its next step on commit.

    The conditional UPDATE is the claim: a duplicate or late message finds the stage moved and writes nothing.
    """
    moved = Media.objects.filter(pk=media_id, stage=from_stage).update(
        stage=to_stage, stage_changed_at=timezone.now(), stage_attempts=0, **fields
    )
    if moved:
        transaction.on_commit(lambda: pipeline.send_step(stage=to_stage, media_id=media_id))
    return moved == 1


def media_nudge(*, media_id: int) -> bool:
    """Send the step for the image's stored stage (what a lost message would have done)."""
    stage = Media.objects.filter(pk=media_id).values_list("stage", flat=True).first()
    return stage is not None and pipeline.send_step(stage=stage, media_id=media_id)


def pipeline_sweep(*, now=None, stuck_after: timedelta | None = None, max_attempts: int | None = None) -> dict:
    """Re-send the work of images stuck in a stage with an automated step; give up after ``max_attempts``.

    Returns counts: ``{"renudged": n, "gave_up": m}``. Each re-send is claimed by bumping ``stage_attempts``
    conditionally, so two sweepers running at once do not both re-send the same image.
    """
    now = now or timezone.now()
    stuck_after = stuck_after or settings.PIPELINE_STUCK_AFTER
    max_attempts = max_attempts or settings.PIPELINE_MAX_ATTEMPTS
    stuck = Media.objects.filter(
        stage__in=pipeline.stages_with_steps(), stage_changed_at__lt=now - stuck_after
    ).values_list("pk", "stage", "stage_attempts")
    renudged = gave_up = 0
    for media_id, stage, attempts in stuck.iterator():
        if attempts >= max_attempts:
            gave_up += Media.objects.filter(pk=media_id, stage=stage, stage_attempts=attempts).update(
                stage=Media.Stage.REJECTED,
                stage_changed_at=now,
                reject_reason=f"stuck: no progress from stage {stage!r} after {attempts} retries",
            )
            continue
        claimed = Media.objects.filter(pk=media_id, stage=stage, stage_attempts=attempts).update(
            stage_attempts=F("stage_attempts") + 1, stage_changed_at=now
        )
        if claimed:
            pipeline.send_step(stage=stage, media_id=media_id)
            renudged += 1
    if renudged or gave_up:
        logger.info("pipeline sweep: re-sent %d stuck images, gave up on %d", renudged, gave_up)
    return {"renudged": renudged, "gave_up": gave_up}


def media_reject(*, media_id: int, from_stage: str, reason: str) -> bool:
    return media_advance(
        media_id=media_id, from_stage=from_stage, to_stage=Media.Stage.REJECTED, reject_reason=reason[:300]
    )


def media_store_image(*, media: Media, data: bytes) -> bool:
    """Validate and store downloaded or imported bytes; NEW -> FETCHED, or REJECTED with the reason."""
    try:
        decoded = decode_image(data)
    except ImageRejected as refusal:
        return media_reject(media_id=media.pk, from_stage=Media.Stage.NEW, reason=refusal.reason)
    return media_store_decoded(media=media, data=data, decoded=decoded)


def media_store_decoded(*, media: Media, data: bytes, decoded: DecodedImage) -> bool:
    """Store an image already decoded (the original and its clean copy); NEW -> FETCHED."""
    name = f"{media.crisis_id}-{media.pk}-{decoded.sha256[:16]}"
    # Files are written first, under content-addressed names, so a lost race leaves only an orphan file.
    stored_original = media.original.storage.save(f"originals/{name}.{decoded.format.lower()}", ContentFile(data))
    stored_clean = media.image.storage.save(f"media/{name}.{decoded.clean_extension}", ContentFile(decoded.clean_bytes))
    with transaction.atomic():
        return media_advance(
            media_id=media.pk,
            from_stage=Media.Stage.NEW,
            to_stage=Media.Stage.FETCHED,
            image=stored_clean,
            original=stored_original,
            content_type=decoded.content_type,
            byte_size=len(data),
            width=decoded.width,
            height=decoded.height,
            sha256=decoded.sha256,
            exif_lat=decoded.exif_lat,
            exif_lon=decoded.exif_lon,
            exif_taken_at=decoded.exif_taken_at,
            fetched_at=timezone.now(),
        )


def media_fetch(*, media_id: int) -> bool:
    """The step out of NEW: read an imported file, or download ``remote_url`` safely; FETCHED or REJECTED.

    A transient failure (host down, 5xx, 429) leaves the image in NEW with the reason noted: the sweeper
    tries again later and gives up after PIPELINE_MAX_ATTEMPTS.
    """
    media = Media.objects.select_related("post").filter(pk=media_id).first()
    if media is None or media.stage != Media.Stage.NEW:
        return False
    if media.source_path:
        return _media_fetch_file(media)
    if not media.remote_url:
        return media_reject(media_id=media_id, from_stage=Media.Stage.NEW, reason="no_source: no file or URL to fetch")
    try:
        body = fetching.fetch_url(media.remote_url)
    except fetching.FetchRefused as refusal:
        if refusal.transient:
            Media.objects.filter(pk=media_id, stage=Media.Stage.NEW).update(
                reject_reason=f"retrying: {refusal.reason}"[:300]
            )
            return False
        return media_reject(media_id=media_id, from_stage=Media.Stage.NEW, reason=refusal.reason)
    return media_store_image(media=media, data=body.data)


def _media_fetch_file(media: Media) -> bool:
    path = Path(media.source_path)
    limit = settings.IMAGE_MAX_BYTES
    try:
        if path.stat().st_size > limit:
            return media_reject(media_id=media.pk, from_stage=Media.Stage.NEW, reason=f"too_large: over {limit} bytes")
        data = path.read_bytes()
    except OSError as error:
        return media_reject(media_id=media.pk, from_stage=Media.Stage.NEW, reason=f"unreadable: {error.strerror}")
    return media_store_image(media=media, data=data)


def media_dedup(*, media_id: int) -> bool:
    """The step out of FETCHED: hash the served copy (PHash) and compare it with the crisis's other images.

    Exact (same SHA-256) and near duplicates (Hamming distance <= DEDUP_MAX_DISTANCE) join the group of the
    image they match: ``duplicate_of`` points at the group's representative, the first image of the group to
    be checked, which alone goes on (UNIQUE). The crisis row is locked while deciding, so two copies checked
    at the same moment cannot both become representatives.
    """
    media = Media.objects.filter(pk=media_id).first()
    if media is None or media.stage != Media.Stage.FETCHED:
        return False
    phash = media.phash
    if not phash:
        try:
            with media.image.open("rb") as handle:  # slow work: outside any transaction
                phash = dedup.phash_file(handle)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            return media_reject(media_id=media_id, from_stage=Media.Stage.FETCHED, reason=f"unhashable: {error}")
    with transaction.atomic():
        Crisis.objects.select_for_update().filter(pk=media.crisis_id).values_list("pk", flat=True).first()
        representative_id = selectors.media_duplicate_representative(
            crisis_id=media.crisis_id, media_id=media_id, sha256=media.sha256, phash=phash
        )
        if representative_id is not None:
            return media_advance(
                media_id=media_id,
                from_stage=Media.Stage.FETCHED,
                to_stage=Media.Stage.DUPLICATE,
                phash=phash,
                duplicate_of_id=representative_id,
            )
        return media_advance(
            media_id=media_id, from_stage=Media.Stage.FETCHED, to_stage=Media.Stage.UNIQUE, phash=phash
        )


# Posts ---------------------------------------------------------------------------------------------


def _clean(text: str, limit: int | None = None) -> str:
    text = (text or "").replace("\x00", "")  # PostgreSQL text refuses NUL
    return text[:limit] if limit else text


def web_url_or_blank(url: str, limit: int = 1000) -> str:
    """An http(s) link to show people, or '': a source's "url" may be ``javascript:`` or worse."""
    url = _clean(url).strip()
    return url if len(url) <= limit and url.lower().startswith(("http://", "https://")) else ""


def _post_row(crisis: Crisis, source: str, item: NormalisedPost) -> Post:
    return Post(
        crisis=crisis,
        source=source,
        source_id=_clean(item.source_id, 200),
        url=web_url_or_blank(item.url),
        author_handle=_clean(item.author_handle, 200),
        text=_clean(item.text),
        language=_clean(item.language, 10),
        posted_at=item.posted_at,
        hashtags=[_clean(tag, 100) for tag in item.hashtags][:50],
        geo_lat=item.geo_lat,
        geo_lon=item.geo_lon,
        geo_place=_clean(item.geo_place, 300),
        geo_accuracy_m=item.geo_accuracy_m,
        raw=item.raw,
    )


def _media_rows(post: Post, item: NormalisedPost) -> list[Media]:
    return [
        Media(
            crisis_id=post.crisis_id,
            post=post,
            position=position,
            remote_url=media.remote_url if len(media.remote_url) <= 2000 else "",
            source_path=media.source_path[:1000],
            alt_text=_clean(media.alt_text),
            declared_width=media.declared_width,
            declared_height=media.declared_height,
        )
        for position, media in enumerate(item.media[:20])
    ]


def posts_store(*, crisis: Crisis, source: str, posts: list[NormalisedPost]) -> tuple[int, list[int]]:
    """Store the posts not stored yet, with their images in NEW, and send the images' fetch step on commit.

    Returns (posts created, ids of the images created). Posts already stored (same crisis, source and source
    id) are left as they are, so a page seen twice or a file imported twice creates nothing new.
    """
    unique = {item.source_id[:200]: item for item in reversed(posts) if item.source_id}  # first wins
    existing = set(
        Post.objects.filter(crisis=crisis, source=source, source_id__in=list(unique)).values_list(
            "source_id", flat=True
        )
    )
    new = [item for source_id, item in unique.items() if source_id not in existing]
    if not new:
        return 0, []
    try:
        with transaction.atomic():
            rows = Post.objects.bulk_create([_post_row(crisis, source, item) for item in new])
            media = Media.objects.bulk_create(
                [m for row, item in zip(rows, new, strict=True) for m in _media_rows(row, item)]
            )
    except IntegrityError:
        # Another writer stored some of these posts meanwhile: store the rest one by one.
        rows, media = [], []
        for item in new:
            try:
                with transaction.atomic():
                    row = Post.objects.create(**_post_fields(_post_row(crisis, source, item)))
                    media += Media.objects.bulk_create(_media_rows(row, item))
                    rows.append(row)
            except IntegrityError:
                continue
    media_ids = [m.pk for m in media]
    if media_ids:
        transaction.on_commit(lambda: _send_fetch_steps(media_ids))
    return len(rows), media_ids


def _post_fields(post: Post) -> dict:
    return {f.attname: getattr(post, f.attname) for f in Post._meta.concrete_fields if not f.primary_key}


def _send_fetch_steps(media_ids: list[int]) -> None:
    for media_id in media_ids:
        pipeline.send_step(stage=Media.Stage.NEW, media_id=media_id)


# Crawling ------------------------------------------------------------------------------------------


@dataclass
class CrawlReport:
    source: str
    pages: int = 0
    posts_seen: int = 0
    posts_created: int = 0
    media_created: int = 0
    items_skipped: int = 0
    stopped: str = ""  # why the crawl stopped before the end of every stream, if it did
    errors: list[str] = field(default_factory=list)


def _window(crisis: Crisis, post: NormalisedPost) -> str:
    """'before', 'after' or '' (inside, or no time known) for the crisis's collection window."""
    if post.posted_at is None:
        return ""
    if crisis.collection_starts_at and post.posted_at < crisis.collection_starts_at:
        return "before"
    if crisis.collection_ends_at and post.posted_at > crisis.collection_ends_at:
        return "after"
    return ""


def crawl_state_claim(*, crisis: Crisis, source: str, now=None) -> CrawlState | None:
    """Take the crawl lease of this crisis and source; None when another crawl holds it or the source asked
    us to wait. The conditional UPDATE is the claim."""
    now = now or timezone.now()
    state, _created = CrawlState.objects.get_or_create(crisis=crisis, source=source)
    claimed = (
        CrawlState.objects.filter(pk=state.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .update(lease_until=now + settings.CRAWL_LEASE)
    )
    if not claimed:
        return None
    state.refresh_from_db()
    return state


def crawl_source(
    *,
    crisis_id: int,
    source: str,
    max_pages: int | None = None,
    crawler: BaseCrawler | None = None,
    on_page: Callable[[str, CrawlReport], None] | None = None,
) -> CrawlReport:
    """Crawl every stream of one source for one crisis, page by page, saving the cursors after every page.

    Stops when each stream's pass is over, at ``max_pages`` (default CRAWL_MAX_PAGES), when the crisis stops
    being active, or when the source rate-limits us (then the next crawl waits until the reset). Source
    errors are recorded on the crawl state and never raised.
    """
    report = CrawlReport(source=source)
    crisis = Crisis.objects.filter(pk=crisis_id).first()
    if crisis is None or crisis.status != Crisis.Status.ACTIVE:
        report.stopped = "crisis_not_active"
        return report
    if crawler is None and source not in CRAWLERS:
        report.stopped = "not_a_crawled_source"
        return report
    if source not in (crisis.crawl_sources or []):
        report.stopped = "source_not_chosen"  # the coordinator took this platform off the crisis
        return report
    max_pages = max_pages or settings.CRAWL_MAX_PAGES
    crawler = crawler or crawler_for(source)
    state = crawl_state_claim(crisis=crisis, source=source)
    if state is None:
        report.stopped = "busy_or_waiting"
        return report
    try:
        for stream in crawler.streams(crisis):
            if not _crawl_stream(crisis, crawler, state, stream, report, max_pages, on_page):
                break
    finally:
        now = timezone.now()
        fields = {"lease_until": None, "last_crawl_at": now}
        if not report.errors and report.stopped in ("", "max_pages"):
            fields.update(last_success_at=now, last_error="")
        CrawlState.objects.filter(pk=state.pk).update(**fields)
    return report


def _crawl_stream(crisis, crawler, state, stream, report, max_pages, on_page) -> bool:
    """One stream until its pass ends; False when the whole crawl must stop."""
    while True:
        if report.pages >= max_pages:
            report.stopped = "max_pages"
            return False
        if Crisis.objects.filter(pk=crisis.pk).values_list("status", flat=True).first() != Crisis.Status.ACTIVE:
            report.stopped = "crisis_not_active"  # paused or closed while we were crawling
            return False
        position = dict(state.streams.get(stream.key) or {})
        max_results = None
        if crawler.paid_reads:
            max_results = settings.X_READ_BUDGET - state.reads_used
            if max_results <= 0:
                report.stopped = "read_budget_spent"
                _crawl_error(state, report, f"read budget of {settings.X_READ_BUDGET} spent")
                return False
        try:
            page = crawler.page_fetch(
                stream=stream,
                cursor=position.get("cursor"),
                since=position.get("newest"),
                crisis=crisis,
                max_results=max_results,
            )
        except RateLimited as limited:
            report.stopped = "rate_limited"
            _crawl_wait(state, report, limited.reset_at, str(limited))
            return False
        except SourceError as error:
            _crawl_error(state, report, f"{stream.key}: {error}")
            return True  # the next stream may work (another instance, another query)
        posts, skipped, dated, before = [], 0, 0, 0
        for raw in page.items:
            try:
                post = crawler.normalise(raw)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
                logger.warning("%s: skipped a malformed item: %r", crawler.source, error)
                skipped += 1
                continue
            if post is None:
                continue
            where = _window(crisis, post)
            dated += post.posted_at is not None
            before += where == "before"
            if not where:
                posts.append(post)
        # Pages run newest first: a page entirely older than the window ends the pass (for sources that
        # cannot filter by time themselves).
        older = dated > 0 and before == dated
        if position.get("cursor") is None and page.newest_mark:
            position["top"] = page.newest_mark  # the newest post of this pass: where the next pass stops
        finished = not page.next_cursor or older
        if finished:
            position = {"cursor": None, "newest": position.get("top") or position.get("newest")}
        else:
            position["cursor"] = page.next_cursor
        with transaction.atomic():
            created, media_ids = posts_store(crisis=crisis, source=crawler.source, posts=posts)
            state.streams = {**state.streams, stream.key: position}
            CrawlState.objects.filter(pk=state.pk).update(
                streams=state.streams,
                pages_fetched=F("pages_fetched") + 1,
                posts_seen=F("posts_seen") + len(page.items),
                posts_created=F("posts_created") + created,
                media_created=F("media_created") + len(media_ids),
                items_skipped=F("items_skipped") + skipped,
                reads_used=F("reads_used") + page.reads,
            )
        state.reads_used += page.reads
        report.pages += 1
        report.posts_seen += len(page.items)
        report.posts_created += created
        report.media_created += len(media_ids)
        report.items_skipped += skipped
        if on_page:
            on_page(stream.key, report)
        if page.rate_reset_at:
            report.stopped = "rate_limited"
            _crawl_wait(state, report, page.rate_reset_at, "rate limit reached")
            return False
        if finished:
            return True


def _crawl_error(state: CrawlState, report: CrawlReport, message: str) -> None:
    logger.warning("crawl %s: %s", state, message)
    report.errors.append(message)
    CrawlState.objects.filter(pk=state.pk).update(last_error=message[:500], last_error_at=timezone.now())


def _crawl_wait(state: CrawlState, report: CrawlReport, reset_at, message: str) -> None:
    """Rate limited: no request before ``reset_at``; the crawl is sent again for then (beat would retry too)."""
    reset_at = min(reset_at, timezone.now() + settings.CRAWL_RATE_LIMIT_MAX_WAIT)
    CrawlState.objects.filter(pk=state.pk).update(
        not_before=reset_at, last_error=message[:500], last_error_at=timezone.now()
    )
    logger.info("crawl %s: %s; resuming after %s", state, message, reset_at.isoformat())
    if not settings.CELERY_TASK_ALWAYS_EAGER:  # in-process tasks would run at once, not at the reset
        from crawling.tasks import crawl_source as crawl_source_task

        crisis_id, source = state.crisis_id, state.source
        transaction.on_commit(lambda: crawl_source_task.apply_async((crisis_id, source), eta=reset_at))


def crawl_crisis(*, crisis_id: int) -> list[str]:
    """Send one crawl task per source of an active crisis that its coordinators chose and the settings enable;
    returns the sources sent."""
    from crawling.tasks import crawl_source as crawl_source_task

    crisis = Crisis.objects.filter(pk=crisis_id, status=Crisis.Status.ACTIVE).only("crawl_sources").first()
    if crisis is None:
        return []
    sources = [source for source in enabled_sources() if source in (crisis.crawl_sources or [])]
    for source in sources:
        transaction.on_commit(lambda source=source: crawl_source_task.delay(crisis_id, source))
    return sources


def crawl_active_crises() -> int:
    """The beat task: crawl every active crisis. Paused, closed and draft crises are not crawled."""
    crisis_ids = list(Crisis.objects.filter(status=Crisis.Status.ACTIVE).values_list("pk", flat=True))
    for crisis_id in crisis_ids:
        crawl_crisis(crisis_id=crisis_id)
    return len(crisis_ids)


# Imports -------------------------------------------------------------------------------------------


MAX_REPORTED_ERRORS = 50


def posts_import(
    *,
    crisis: Crisis,
    fmt: str,
    path: Path,
    images_dir: Path | None = None,
    batch_size: int = 200,
    on_batch: Callable[[int], None] | None = None,
) -> CrawlReport:
    """Import a dataset file into a crisis (any status). Posts already imported are skipped."""
    source = imports.FORMATS[fmt]
    reader = imports.READERS[fmt]
    report = CrawlReport(source=source)
    state, _created = CrawlState.objects.get_or_create(crisis=crisis, source=source)
    batch: list[NormalisedPost] = []

    def flush() -> None:
        created, media_ids = posts_store(crisis=crisis, source=source, posts=batch)
        report.posts_seen += len(batch)
        report.posts_created += created
        report.media_created += len(media_ids)
        if on_batch:
            on_batch(len(batch))
        batch.clear()

    try:
        for post in reader(path, images_dir=images_dir):
            if isinstance(post, imports.SkippedItem):
                report.items_skipped += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append(post.reason)
                continue
            batch.append(post)
            if len(batch) >= batch_size:
                flush()
    except (imports.ImportFileError, OSError, UnicodeError) as error:
        report.errors.append(str(error))
    finally:
        if batch:  # what was read before an unreadable file ended is kept
            flush()
    now = timezone.now()
    CrawlState.objects.filter(pk=state.pk).update(
        last_crawl_at=now,
        posts_seen=F("posts_seen") + report.posts_seen,
        posts_created=F("posts_created") + report.posts_created,
        media_created=F("media_created") + report.media_created,
        items_skipped=F("items_skipped") + report.items_skipped,
        **(
            {"last_error": report.errors[0][:500], "last_error_at": now}
            if report.errors
            else {"last_success_at": now, "last_error": ""}
        ),
    )
    return report


# Imports from the admin ----------------------------------------------------------------------------


def import_job_create(*, crisis: Crisis, user, upload) -> ImportJob:
    """Read an uploaded CSV or ZIP far enough to know its columns, store it, and guess the column mapping.

    Raises imports.ImportFileError, with nothing stored, when the file cannot be imported at all.
    """
    read = imports.upload_read(upload, max_csv_bytes=settings.IMPORT_MAX_UPLOAD_BYTES)
    job = ImportJob(
        crisis=crisis,
        created_by=user,
        original_name=Path(upload.name or "upload").name[:255],
        kind=read.kind,
        csv_member=read.csv_member[:500],
        columns=read.columns,
        mapping=imports.columns_guess(read.columns),
    )
    upload.seek(0)
    job.upload.save(f"{uuid.uuid4().hex}.{read.kind}", upload, save=False)
    job.save()
    return job


def import_job_start(*, job: ImportJob, mapping: dict[str, str]) -> bool:
    """Fix the column mapping and send the import to run (a worker, or a thread on the embedded default).

    The conditional UPDATE is the claim: pressing "start" twice starts one run.
    """
    started = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(
        status=ImportJob.Status.QUEUED, mapping=mapping, progress_at=timezone.now()
    )
    if started:
        transaction.on_commit(lambda: _import_job_send(job.pk))
    return started == 1


def import_job_resume(*, job: ImportJob, now=None) -> bool:
    """Send again an import that failed (a full disk, a database gone) or whose run stopped (its worker or web
    process ended, so it made no progress for PIPELINE_STUCK_AFTER): it goes on after its last row recorded."""
    now = now or timezone.now()
    stopped = Q(
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING],
        progress_at__lt=now - settings.PIPELINE_STUCK_AFTER,
    )
    resumed = (
        ImportJob.objects.filter(pk=job.pk)
        .filter(stopped | Q(status=ImportJob.Status.FAILED))
        .update(status=ImportJob.Status.QUEUED, progress_at=now, error="", finished_at=None)
    )
    if resumed:
        transaction.on_commit(lambda: _import_job_send(job.pk))
    return resumed == 1


def _import_job_send(job_id: int) -> None:
    from crawling.tasks import import_job_run as import_job_run_task

    if settings.IMPORT_IN_BACKGROUND_THREAD:
        # Without a worker the task would run inside the request: a thread lets the page show its progress.
        threading.Thread(target=_import_job_thread, args=(job_id,), name=f"import-{job_id}", daemon=True).start()
    else:
        import_job_run_task.delay(job_id)


IMPORT_THREAD_ATTEMPTS = 5


def _import_job_thread(job_id: int) -> None:
    from crawling.tasks import import_job_run as import_job_run_task

    try:
        for attempt in range(1, IMPORT_THREAD_ATTEMPTS + 1):
            try:
                if attempt > 1:  # the run stopped with the job RUNNING: hand it back so the next run claims it
                    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
                        status=ImportJob.Status.QUEUED
                    )
                import_job_run_task.apply(args=(job_id,), throw=True)
                return
            except OperationalError as error:
                # SQLite, the embedded default, answers "database is locked" when pages read while the import
                # writes for longer than its timeout. Each row is its own transaction and a run goes on after the
                # last row recorded, so trying again loses and repeats nothing.
                logger.warning("import job %s: %s (attempt %d of %d)", job_id, error, attempt, IMPORT_THREAD_ATTEMPTS)
                time.sleep(attempt)
        logger.error("import job %s stopped: the coordinator's 'Resume' goes on with it", job_id)
    finally:
        connections.close_all()  # this thread's own connections


def import_job_run(*, job_id: int) -> bool:
    """Import the rows of a started job, each in its own transaction with its outcome; False when another run has it.

    A run that stopped goes on after the last row recorded (``import_job_resume``), so no row is stored twice.
    """
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
        .filter(Q(status=ImportJob.Status.QUEUED) | Q(progress_at__lt=now - settings.PIPELINE_STUCK_AFTER))
        .update(status=ImportJob.Status.RUNNING, progress_at=now, started_at=Coalesce(F("started_at"), now))
    )
    if not claimed:
        return False
    job = ImportJob.objects.select_related("crisis").get(pk=job_id)
    last = ImportRow.objects.filter(job=job).aggregate(last=Max("number"))["last"] or 0
    try:
        with job.upload.open("rb") as handle:
            if job.rows_total is None:
                total = sum(
                    1 for _row in imports.upload_read(handle, max_csv_bytes=settings.IMPORT_MAX_UPLOAD_BYTES).rows
                )
                ImportJob.objects.filter(pk=job.pk).update(rows_total=total)
            read = imports.upload_read(handle, max_csv_bytes=settings.IMPORT_MAX_UPLOAD_BYTES)
            for number, row in read.rows:
                if number > last:
                    _import_row(job, number, row, read.images)
    except (imports.ImportFileError, OSError, zipfile.BadZipFile) as error:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=str(error)[:500], finished_at=timezone.now()
        )
        return True
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE, finished_at=timezone.now())
    _import_job_count(job)
    return True


def _import_row(job: ImportJob, number: int, row, images: imports.ZipImages | None) -> None:
    """One row: read it, get its image, decode it; then its post, image and outcome in one transaction."""
    values = row if isinstance(row, dict) else {}
    try:
        if isinstance(row, imports.RowError):
            raise row
        read = imports.row_read(row, job.mapping)
        existing = Post.objects.filter(crisis=job.crisis, source=Post.Source.CSV, source_id=read.post.source_id).first()
        if existing is not None:
            _import_row_record(job, number, ImportRow.Outcome.SKIPPED, post=existing, message=_already_imported())
            return
        data = _import_row_image(read, images)
        decoded = decode_image(data)
    except imports.RowError as error:
        _import_row_record(job, number, ImportRow.Outcome.FAILED, message=error.message, values=values)
        return
    except ImageRejected as refusal:
        message = _("The image is refused: %(reason)s") % {"reason": refusal.reason}
        _import_row_record(job, number, ImportRow.Outcome.FAILED, message=message, values=values)
        return
    try:
        with transaction.atomic():
            post = Post.objects.create(**_post_fields(_post_row(job.crisis, Post.Source.CSV, read.post)))
            media = _media_rows(post, read.post)[0]  # the image's name in the ZIP stays in the post's raw row
            media.save()
            media_store_decoded(media=media, data=data, decoded=decoded)
            _import_row_record(job, number, ImportRow.Outcome.IMPORTED, post=post)
    except IntegrityError:
        # The same post was stored meanwhile (the same file imported twice at once), or another run of this job
        # recorded the row: the row's post and image are rolled back together.
        _import_row_record(job, number, ImportRow.Outcome.SKIPPED, message=_already_imported())


def _already_imported() -> str:
    return _("Already imported: a row with the same id, or the same text and image, was imported before.")


def _import_row_image(read: imports.CsvRow, images: imports.ZipImages | None) -> bytes:
    imports.image_check(read, images)
    if not read.image_is_url:
        return images.read(read.image, max_bytes=settings.IMAGE_MAX_BYTES)
    try:
        return fetching.fetch_url(read.image).data
    except fetching.FetchRefused as refusal:
        raise imports.RowError(
            _("Image “%(url)s” could not be downloaded: %(reason)s")
            % {"url": read.image[:200], "reason": refusal.reason}
        ) from refusal


def _import_row_record(job: ImportJob, number: int, outcome: str, *, message="", post=None, values=None) -> None:
    """Record a row's outcome and count it; nothing when another run of the job recorded the row first."""
    counter = {
        ImportRow.Outcome.IMPORTED: "rows_imported",
        ImportRow.Outcome.SKIPPED: "rows_skipped",
        ImportRow.Outcome.FAILED: "rows_failed",
    }[outcome]
    try:
        with transaction.atomic():
            ImportRow.objects.create(
                job=job, number=number, outcome=outcome, message=str(message)[:500], post=post, values=values or {}
            )
            ImportJob.objects.filter(pk=job.pk).update(**{counter: F(counter) + 1}, progress_at=timezone.now())
    except IntegrityError:
        pass


def _import_job_count(job: ImportJob) -> None:
    """The crisis's CSV crawl state counts what the admin imported, as the command's imports do."""
    job.refresh_from_db()
    now = timezone.now()
    state, _created = CrawlState.objects.get_or_create(crisis=job.crisis, source=Post.Source.CSV)
    CrawlState.objects.filter(pk=state.pk).update(
        last_crawl_at=now,
        last_success_at=now,
        posts_seen=F("posts_seen") + job.rows_done,
        posts_created=F("posts_created") + job.rows_imported,
        media_created=F("media_created") + job.rows_imported,
        items_skipped=F("items_skipped") + job.rows_failed,
    )
