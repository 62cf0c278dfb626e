"""Writes of monitoring: observations of finished jobs, their outcomes and input features, the snapshots of each
closed window, alerts (raised and acknowledged, both audited) and the triage consistency samples.

Flow: a job that ends successfully is observed in its ending transaction (apps.generation.services.job_finish ->
observation_record); the app that computes an outcome adds it (observation_outcome: triage level, verification,
grounding flags). The periodic snapshot task (beat -> queue default) computes missing input features, closes full
windows (PLUMBLINE_MONITORING_WINDOW_SIZE observations of one domain and adapter version, in id order), and stores
each statistic of each closed window against the reference (the first PLUMBLINE_MONITORING_REFERENCE_WINDOWS
windows of that domain and adapter version together, i.e. the first traffic after its activation) once; a value beyond its threshold raises an Alert.
"""
from __future__ import annotations

import logging
import operator
import random
import zlib
from collections.abc import Callable
from functools import reduce

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.accounts.audit import audit_log
from apps.core.db import values_list_binary
from apps.core.domains import Domain
from apps.core.exceptions import ApplicationError
from apps.monitoring.models import (
    Alert,
    ConsistencyCheck,
    Observation,
    ObservationInput,
    Snapshot,
    Statistic,
    Window,
)
from apps.monitoring.windows import (
    WindowData,
    calibration_inputs,
    embeddings_of,
    unigrams_pack,
    unigrams_sum,
    window_statistics,
    windows_joined,
)

log = logging.getLogger(__name__)  # ids and numbers only

CONSISTENCY_JOB_KIND = "monitoring.triage_consistency"
UNOBSERVED_KINDS = (CONSISTENCY_JOB_KIND,)  # monitoring's own sampling is not traffic
TRIAGE_KIND = "medical.triage"
DRIFT_STATISTICS = (Statistic.PSI, Statistic.KS, Statistic.JS, Statistic.EMBEDDING)


# --- observations ------------------------------------------------------------------------------------------------
def observation_record(*, job) -> Observation | None:
    """Observe a job that just ended successfully (called by job_finish, in the job's ending transaction). Counts
    and durations only: the job's text is not read. Idempotent per job."""
    if job.status != job.Status.SUCCEEDED or job.kind in UNOBSERVED_KINDS:
        return None
    ttft = job.time_to_first_token_s
    decode_start = job.first_token_at or job.started_at
    decode_s = (job.finished_at - decode_start).total_seconds() if job.finished_at and decode_start else 0.0
    tokens_per_s = job.completion_tokens / decode_s if decode_s > 0 and job.completion_tokens else None
    observation, _ = Observation.objects.get_or_create(job=job, defaults={
        "domain": job.domain, "kind": job.kind, "adapter_id": job.adapter_id,
        "created_at": job.finished_at or timezone.now(), "prompt_tokens": job.prompt_tokens,
        "output_tokens": job.completion_tokens, "ttft_s": ttft, "tokens_per_s": tokens_per_s,
    })
    if job.kind == TRIAGE_KIND:
        consistency_maybe_sample(observation=observation)
    return observation


def observation_outcome(*, job_id: int, verification: str | None = None, grounding_flags: int | None = None,
                        triage_level: int | None = None) -> int:
    """Add an outcome its app computed to the job's observation (verification of a draft version, grounding flags
    of a report run, the model's triage level; 0 = no usable level). Returns the rows updated (0: not observed)."""
    changes = {}
    if verification is not None:
        changes["verification"] = verification
    if grounding_flags is not None:
        changes["grounding_flags"] = grounding_flags
    if triage_level is not None:
        changes["triage_level"] = triage_level
    return Observation.objects.filter(job_id=job_id).update(**changes) if changes else 0


def _embed(texts: list[str]) -> np.ndarray:
    from apps.monitoring.embeddings import embed

    return np.asarray(embed(texts), dtype=np.float32)


def observation_features_compute(*, limit: int | None = None, tokenize: Callable | None = None,
                                 embed: Callable | None = None) -> int:
    """Token unigram counts and a sentence embedding of the prompt of observations that lack them (up to `limit`,
    default PLUMBLINE_MONITORING_FEATURE_BATCH); medical-domain ones are computed and kept by apps.medical.
    Returns how many observations got their features."""
    from apps.generation.model_api import token_ids
    from apps.medical.services.monitoring import monitoring_inputs_compute

    tokenize, embed = tokenize or token_ids, embed or _embed
    pending = list(Observation.objects.filter(features_at__isnull=True).select_related("job")
                   .order_by("id")[: limit or settings.PLUMBLINE_MONITORING_FEATURE_BATCH])
    if not pending:
        return 0
    medical = [o for o in pending if o.domain == Domain.MEDICAL]
    other = [o for o in pending if o.domain != Domain.MEDICAL]
    now = timezone.now()
    with transaction.atomic():
        if medical:
            monitoring_inputs_compute(jobs=[o.job for o in medical], tokenize=tokenize, embed=embed)
            Observation.objects.filter(pk__in=[o.pk for o in medical]).update(features_at=now)
        if other:
            vectors = embed([o.job.prompt for o in other])
            ObservationInput.objects.bulk_create(
                [ObservationInput(observation=o, domain=o.domain, unigrams=unigrams_pack(tokenize(o.job.prompt)),
                                  embedding=np.asarray(vector, dtype=np.float32).tobytes())
                 for o, vector in zip(other, vectors, strict=True)], ignore_conflicts=True)
            Observation.objects.filter(pk__in=[o.pk for o in other]).update(features_at=now)
    return len(pending)


# --- windows and snapshots -----------------------------------------------------------------------------------------
def _groups(model=Observation, **filters) -> list[tuple[str, int | None]]:
    return list(model.objects.filter(**filters).order_by().values_list("domain", "adapter_id").distinct())


def windows_close(*, window_size: int | None = None) -> int:
    """Close the next full windows of each domain and adapter version: `window_size` observations with input
    features, in id order, after the group's last closed window (a partial window stays open). Returns how many
    windows were closed."""
    size = window_size or settings.PLUMBLINE_MONITORING_WINDOW_SIZE
    closed = 0
    for domain, adapter_id in _groups(features_at__isnull=False):
        with transaction.atomic():
            _lock_group(domain, adapter_id)
            last = Window.objects.filter(domain=domain, adapter_id=adapter_id).order_by("-number").first()
            ids = list(Observation.objects.filter(
                domain=domain, adapter_id=adapter_id, features_at__isnull=False, id__gt=last.last_id if last else 0,
            ).order_by("id").values_list("id", flat=True))
            first_number = last.number + 1 if last else 0
            new = [Window(domain=domain, adapter_id=adapter_id, number=first_number + i, first_id=ids[lo],
                          last_id=ids[lo + size - 1], size=size)
                   for i, lo in enumerate(range(0, len(ids) - size + 1, size))]
            Window.objects.bulk_create(new)
            closed += len(new)
    return closed


def _lock_group(domain: str, adapter_id: int | None) -> None:
    """One writer of a group's windows and snapshots at a time (PostgreSQL; until the transaction ends)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                           [zlib.crc32(domain.encode()) & 0x7FFFFFFF, adapter_id or 0])


def _ranges(windows: list[Window]) -> Q:
    """The id ranges of these windows, consecutive windows merged (a small query for a few windows or all)."""
    spans: list[list[int]] = []
    for w in sorted(windows, key=lambda w: w.first_id):
        if spans and w.first_id <= spans[-1][1] + 1 and w.number == spans[-1][2] + 1:
            spans[-1][1], spans[-1][2] = w.last_id, w.number
        else:
            spans.append([w.first_id, w.last_id, w.number])
    return reduce(operator.or_, (Q(id__gte=lo, id__lte=hi) for lo, hi, _ in spans))


def _window_of(ids: np.ndarray, windows: list[Window]) -> np.ndarray:
    """The window number of each observation id (-1 outside every window)."""
    ordered = sorted(windows, key=lambda w: w.first_id)
    firsts = np.array([w.first_id for w in ordered])
    lasts = np.array([w.last_id for w in ordered])
    numbers = np.array([w.number for w in ordered])
    at = np.clip(np.searchsorted(lasts, ids), 0, len(ordered) - 1)
    inside = (ids >= firsts[at]) & (ids <= lasts[at])
    return np.where(inside, numbers[at], -1)


_OBS_FIELDS = ("id", "kind", "prompt_tokens", "output_tokens", "ttft_s", "tokens_per_s", "verification",
               "grounding_flags", "triage_level")


def _load_windows(domain: str, adapter_id: int | None, windows: list[Window]) -> dict[int, WindowData]:
    """The data of these windows of one group, by window number."""
    group = Observation.objects.filter(_ranges(windows), domain=domain, adapter_id=adapter_id,
                                       features_at__isnull=False)
    rows = list(group.order_by("id").values_list(*_OBS_FIELDS))
    # when each window starts and ends: the times of its first and last observation
    times = dict(Observation.objects.filter(id__in=[i for w in windows for i in (w.first_id, w.last_id)])
                 .values_list("id", "created_at"))
    # the input features as stored: (unigram pairs, embedding) bytes per observation id
    features: dict[int, tuple] = {}
    if domain == Domain.MEDICAL:  # the inputs of medical requests stay in apps.medical (audited read)
        from apps.medical.services.monitoring import monitoring_inputs_read

        job_of = dict(group.values_list("job_id", "id"))
        inputs = monitoring_inputs_read(job_ids=group.values("job_id"), purpose=f"drift of {len(windows)} window(s)")
        features = {job_of[job_id]: value for job_id, value in inputs.items()}
    else:
        for obs_id, grams, emb in values_list_binary(ObservationInput.objects.filter(observation__in=group),
                                                     "observation_id", "unigrams", "embedding"):
            features[obs_id] = (bytes(grams), bytes(emb))
    numbers = _window_of(np.array([r[0] for r in rows], dtype=np.int64), windows) if rows else []
    by_window: dict[int, list] = {}
    for number, row in zip(numbers, rows, strict=True):
        by_window.setdefault(int(number), []).append(row)
    checks = ConsistencyCheck.objects.filter(observation__in=group, agreement__isnull=False).values_list(
        "observation_id", "agreement")
    agreements: dict[int, list[float]] = {}
    if checks:
        check_rows = list(checks)
        for number, (_, agreement) in zip(_window_of(np.array([c[0] for c in check_rows]), windows), check_rows,
                                          strict=True):
            agreements.setdefault(int(number), []).append(agreement)
    out = {}
    nan = float("nan")
    by_number = {w.number: w for w in windows}
    for w, items in by_window.items():
        if w < 0:
            continue
        present = [features[r[0]] for r in items if r[0] in features]
        window = by_number[w]
        out[w] = WindowData(
            start=times.get(window.first_id), end=times.get(window.last_id),
            prompt_tokens=np.array([r[2] for r in items], dtype=np.float64),
            output_tokens=np.array([r[3] for r in items], dtype=np.float64),
            ttft_s=np.array([nan if r[4] is None else r[4] for r in items], dtype=np.float64),
            tokens_per_s=np.array([nan if r[5] is None else r[5] for r in items], dtype=np.float64),
            verification=[r[6] for r in items if r[6]],
            grounding_flags=[r[7] for r in items if r[7] is not None],
            triage_levels=[r[8] for r in items if r[1] == TRIAGE_KIND and r[8] is not None],
            unigrams=unigrams_sum(b"".join(f[0] for f in present)) if present else None,
            unigram_packs=[f[0] for f in present],
            embeddings=embeddings_of([f[1] for f in present]),
            agreements=agreements.get(w, []),
        )
    return out


def _pending_check_windows(domain: str, adapter_id: int | None, windows: list[Window]) -> set[int]:
    """Windows with a consistency check whose job has not ended: their snapshot waits for it."""
    from apps.generation.models import GenerationJob

    ids = list(ConsistencyCheck.objects.filter(
        observation__domain=domain, observation__adapter_id=adapter_id, agreement__isnull=True,
    ).exclude(job__status__in=GenerationJob.TERMINAL).values_list("observation_id", flat=True))
    if not ids or not windows:
        return set()
    return {int(n) for n in _window_of(np.array(ids), windows) if n >= 0}


def thresholds(reference: WindowData | None = None, *, window_size: int | None = None) -> dict[str, float]:
    """The threshold of each statistic ("statistic" or "statistic:feature" keys): the fixed drift threshold
    (PLUMBLINE_MONITORING_DRIFT_THRESHOLD) for drift and rate rises and the consistency floor; with
    PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS, every drift statistic of every feature (PSI, KS, JS, embedding)
    gets a threshold calibrated on the reference for windows of `window_size` by resampling
    (stats.calibrate_threshold; false-alarm rate PLUMBLINE_MONITORING_CALIBRATION_ALPHA)."""
    drift = settings.PLUMBLINE_MONITORING_DRIFT_THRESHOLD
    out = {s: drift for s in (*DRIFT_STATISTICS, Statistic.RATE)}
    out[Statistic.CONSISTENCY] = settings.PLUMBLINE_MONITORING_CONSISTENCY_THRESHOLD
    if settings.PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS and reference is not None and reference.n >= 2:
        from apps.monitoring import stats

        alpha = settings.PLUMBLINE_MONITORING_CALIBRATION_ALPHA
        size = window_size or settings.PLUMBLINE_MONITORING_WINDOW_SIZE
        for statistic, feature, fn, items in calibration_inputs(reference):
            out[f"{statistic}:{feature}"] = float(stats.calibrate_threshold(
                fn, items, window_size=min(size, len(items)), alpha=alpha,
                resamples=max(200, int(np.ceil(2 / alpha))), seed=0))
    return out


def _threshold_of(limits: dict[str, float], statistic: str, feature: str) -> float | None:
    if statistic == Statistic.SERVING:
        return None
    return limits.get(f"{statistic}:{feature}", limits.get(statistic))


def _breaches(statistic: str, value: float, reference_value: float | None, threshold: float | None) -> bool:
    if threshold is None:
        return False
    if statistic == Statistic.CONSISTENCY:
        return value < threshold
    if statistic == Statistic.RATE:
        return reference_value is not None and value - reference_value > threshold
    return value > threshold


def snapshots_compute(*, window_size: int | None = None) -> dict[str, int]:
    """The periodic snapshot: input features, window closing, then every statistic of every closed window without
    snapshots, stored once (unique per domain, adapter, window, statistic and feature; a rerun adds nothing), and
    the alerts they raise. Returns counts."""
    features = 0
    while True:  # features first, so that windows close on what has them
        done = observation_features_compute()
        features += done
        if done < settings.PLUMBLINE_MONITORING_FEATURE_BATCH:
            break
    closed = windows_close(window_size=window_size)
    snapshots = alerts = 0
    for domain, adapter_id in _groups(Window):
        s, a = _group_snapshots(domain, adapter_id)
        snapshots, alerts = snapshots + s, alerts + a
    return {"features": features, "windows_closed": closed, "snapshots": snapshots, "alerts": alerts}


@transaction.atomic
def _group_snapshots(domain: str, adapter_id: int | None) -> tuple[int, int]:
    _lock_group(domain, adapter_id)
    windows = list(Window.objects.filter(domain=domain, adapter_id=adapter_id))
    done = set(Snapshot.objects.filter(domain=domain, adapter_id=adapter_id).order_by()
               .values_list("window", flat=True).distinct())
    todo = {w.number for w in windows} - done - _pending_check_windows(domain, adapter_id, windows)
    if not todo:
        return 0, 0
    # the reference: the group's first PLUMBLINE_MONITORING_REFERENCE_WINDOWS windows together (windows close in
    # order, so a later window exists only once every reference window is closed)
    numbers = sorted(w.number for w in windows)
    reference_numbers = set(numbers[:max(1, settings.PLUMBLINE_MONITORING_REFERENCE_WINDOWS)])
    reference_window = max(reference_numbers)  # stored: the reference is the windows up to this one
    data = _load_windows(domain, adapter_id, [w for w in windows if w.number in todo | reference_numbers])
    present = [data[n] for n in sorted(reference_numbers) if n in data]
    if not present:
        return 0, 0
    reference = windows_joined(present)
    limits_by_size: dict[int, dict[str, float]] = {}  # calibrated thresholds depend on the window's size
    now = timezone.now()
    rows = []
    for w in sorted(todo):
        current = data.get(w)
        if current is None:  # no observation with features left in its range (deleted jobs)
            continue
        size = next(x.size for x in windows if x.number == w)
        if size not in limits_by_size:
            limits_by_size[size] = thresholds(reference, window_size=size)
        limits = limits_by_size[size]
        for statistic, feature, value, reference_value, n in window_statistics(
                reference, current, is_reference=w in reference_numbers):
            rows.append(Snapshot(
                domain=domain, adapter_id=adapter_id, window=w, reference_window=reference_window,
                statistic=statistic, feature=feature, value=value, reference_value=reference_value,
                threshold=_threshold_of(limits, statistic, feature), n=n, window_start=current.start or now,
                window_end=current.end or now,
            ))
    Snapshot.objects.bulk_create(rows, batch_size=2000)
    raised = [alert_raise(snapshot=s) for s in rows if _breaches(s.statistic, s.value, s.reference_value, s.threshold)]
    return len(rows), len(raised)


# --- alerts --------------------------------------------------------------------------------------------------------
def alert_raise(*, snapshot: Snapshot) -> Alert:
    """The alert of a snapshot beyond its threshold (audited); after commit it goes to each of
    PLUMBLINE_MONITORING_ALERT_HOOKS (dotted paths of `fn(alert_id=...)`): the hook where the model-lifecycle issue
    will create a retraining proposal."""
    adapter = snapshot.adapter.label if snapshot.adapter_id else "base model"
    if snapshot.statistic == Statistic.CONSISTENCY:
        why = f"below the consistency threshold {snapshot.threshold:g}"
    elif snapshot.statistic == Statistic.RATE:
        why = f"{snapshot.value - snapshot.reference_value:+.3f} over the reference's {snapshot.reference_value:.3f}"
        why += f" (threshold {snapshot.threshold:g})"
    else:
        why = f"above the drift threshold {snapshot.threshold:g}"
    message = (f"{snapshot.statistic} of {snapshot.feature} = {snapshot.value:.3f} on window {snapshot.window} of "
               f"{snapshot.domain} / {adapter} (reference: windows up to {snapshot.reference_window}): {why}")[:300]
    alert = Alert.objects.create(
        snapshot=snapshot, domain=snapshot.domain, adapter_id=snapshot.adapter_id, statistic=snapshot.statistic,
        feature=snapshot.feature, window=snapshot.window, reference_window=snapshot.reference_window,
        value=snapshot.value, threshold=snapshot.threshold, message=message,
    )
    audit_log(actor=None, action="monitoring_alert.raise", obj=alert, via="worker", detail={
        "domain": alert.domain, "adapter": alert.adapter_id, "statistic": alert.statistic, "feature": alert.feature,
        "window": alert.window, "reference_window": alert.reference_window, "value": round(alert.value, 6),
        "threshold": alert.threshold,
    })
    for path in settings.PLUMBLINE_MONITORING_ALERT_HOOKS:
        hook = import_string(path)
        transaction.on_commit(lambda hook=hook: hook(alert_id=alert.pk))
    log.warning("monitoring alert %s: %s %s window %s", alert.pk, alert.statistic, alert.feature, alert.window)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor, request=None) -> Alert:
    """An admin acknowledges an alert (once; audited)."""
    if not actor.has_perm("monitoring.change_alert"):
        raise ApplicationError("only an administrator may acknowledge monitoring alerts", status=403,
                               code="forbidden")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is not None:
        raise ApplicationError(f"alert {alert.pk} was already acknowledged", status=409, code="conflict")
    alert.acknowledged_by, alert.acknowledged_at = actor, timezone.now()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    audit_log(actor=actor, action="monitoring_alert.acknowledge", obj=alert, request=request,
              detail={"statistic": alert.statistic, "feature": alert.feature, "window": alert.window})
    return alert


# --- prediction consistency (triage) --------------------------------------------------------------------------------
def consistency_maybe_sample(*, observation: Observation, share: float | None = None) -> ConsistencyCheck | None:
    """On a share of triage traffic (PLUMBLINE_MONITORING_CONSISTENCY_SHARE), submit a low-priority job that samples
    k proposals for the same encounter; called in the triage job's ending transaction."""
    from apps.generation.services import job_submit

    share = settings.PLUMBLINE_MONITORING_CONSISTENCY_SHARE if share is None else share
    if share <= 0 or random.random() >= share:
        return None
    job = observation.job
    k = settings.PLUMBLINE_MONITORING_CONSISTENCY_SAMPLES
    sample = job_submit(
        kind=CONSISTENCY_JOB_KIND, owner=job.owner, prompt=f"Consistency of triage job {job.pk}",
        adapter=job.adapter, max_tokens=job.max_tokens, temperature=settings.PLUMBLINE_MONITORING_CONSISTENCY_TEMPERATURE,
        priority=settings.PLUMBLINE_MONITORING_CONSISTENCY_PRIORITY, detail={"observed_job": job.pk},
    )
    return ConsistencyCheck.objects.create(observation=observation, job=sample, k=k)


@transaction.atomic
def consistency_record(*, job_id: int, attempt: int, levels: list[int | None], prompt_tokens: int = 0,
                       completion_tokens: int = 0) -> ConsistencyCheck | None:
    """Store the sampled levels and their agreement (stats.agreement) and end the sampling job; None for a stale
    delivery."""
    from apps.generation.services import job_finish, job_owned
    from apps.monitoring import stats

    if job_owned(job_id=job_id, attempt=attempt) is None:
        return None
    check = ConsistencyCheck.objects.select_for_update().get(job_id=job_id)
    check.levels = [level if level is not None else 0 for level in levels]
    check.agreement = float(stats.agreement(check.levels))
    check.save(update_fields=["levels", "agreement"])
    job_finish(job_id=job_id, attempt=attempt, output="", finish_reason="stop", prompt_tokens=prompt_tokens,
               completion_tokens=completion_tokens)
    return check
