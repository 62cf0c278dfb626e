"""The statistics of one window against its reference, from plain arrays (no database): what a snapshot stores.

Each entry is (statistic, feature, value, reference value); stats.py (pure, documented formulas) computes the
drift measures. The snapshot service (services.snapshots_compute) loads the windows and decides the alerts.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from apps.monitoring.models import Statistic

TRIAGE_LEVELS = (0, 1, 2, 3, 4, 5)  # 0: the model's answer held no usable level
Sparse = tuple[np.ndarray, np.ndarray]  # (sorted distinct token ids, their counts)


@dataclass
class WindowData:
    """What a window holds: one entry per observation, except the summed unigram counts and the embeddings."""

    start: datetime
    end: datetime
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    ttft_s: np.ndarray  # nan where unknown
    tokens_per_s: np.ndarray  # nan where unknown
    verification: list[str] = field(default_factory=list)  # drafts: "passed" / "failed" / "unverifiable"
    grounding_flags: list[int] = field(default_factory=list)  # finance reports
    triage_levels: list[int] = field(default_factory=list)  # triage jobs (0 = unusable)
    unigrams: Sparse | None = None  # token ids and their counts summed over the window
    unigram_packs: list[bytes] = field(default_factory=list)  # each request's stored unigram pairs (calibration)
    embeddings: np.ndarray | None = None  # (n, d)
    agreements: list[float] = field(default_factory=list)  # triage consistency checks of the window

    @property
    def n(self) -> int:
        return len(self.prompt_tokens)


def unigrams_pack(token_ids) -> bytes:
    """A request's token unigram counts as stored: int32 (token id, count) pairs, ids sorted. Pairs, so that the
    stored values of many requests joined end to end are still a valid list of pairs (unigrams_sum)."""
    ids, counts = np.unique(np.asarray(token_ids, dtype=np.int64), return_counts=True)
    return np.stack([ids, counts], axis=1).astype(np.int32).tobytes()


def unigrams_unpack(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, counts) of stored pairs: of one request, or of many joined end to end."""
    pairs = np.frombuffer(bytes(raw), dtype=np.int32).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def unigrams_sum(raw: bytes) -> Sparse:
    """The summed counts of the stored unigrams of many requests, joined end to end (sparse: the token ids that
    occur, and their counts)."""
    ids, counts = unigrams_unpack(raw)
    dense = np.bincount(ids, weights=counts, minlength=0)
    keys = np.flatnonzero(dense)
    return keys, dense[keys]


def embeddings_of(raw: list[bytes]) -> np.ndarray | None:
    """(n, d) float32 embeddings of stored rows."""
    if not raw:
        return None
    return np.frombuffer(b"".join(raw), dtype=np.float32).reshape(len(raw), -1)


def aligned_counts(p: Sparse, q: Sparse) -> tuple[np.ndarray, np.ndarray]:
    """Two sparse count vectors over the union of their token ids (what js_divergence compares)."""
    size = int(max(p[0].max(initial=-1), q[0].max(initial=-1))) + 1
    a = np.zeros(size)
    b = np.zeros(size)
    a[p[0]] = p[1]
    b[q[0]] = q[1]
    keep = (a > 0) | (b > 0)
    return a[keep], b[keep]


def _rate(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def outcome_values(w: WindowData) -> dict[tuple[str, str], tuple[float | None, int]]:
    """(statistic, feature) -> (value or None, count) of what a window measures on its own."""
    verified = [v for v in w.verification if v]
    return {
        (Statistic.RATE, "verification_failed"): (_rate([v == "failed" for v in verified]), len(verified)),
        (Statistic.RATE, "grounding_flagged"): (_rate([f > 0 for f in w.grounding_flags]), len(w.grounding_flags)),
        (Statistic.CONSISTENCY, "triage_agreement"): (
            float(np.mean(w.agreements)) if w.agreements else None, len(w.agreements)),
        (Statistic.CONSISTENCY, "draft_verification_pass"): (
            _rate([v == "passed" for v in verified]), len(verified)),
        (Statistic.SERVING, "ttft_s"): (_mean(w.ttft_s), int(np.isfinite(w.ttft_s).sum())),
        (Statistic.SERVING, "tokens_per_s"): (_mean(w.tokens_per_s), int(np.isfinite(w.tokens_per_s).sum())),
    }


def windows_joined(windows: list[WindowData]) -> WindowData:
    """One WindowData holding every observation of `windows` (the reference: the first few windows together, so a
    window is compared with a reference larger than itself and the fixed thresholds are not within sampling
    noise)."""
    if len(windows) == 1:
        return windows[0]
    grams = [w.unigrams for w in windows if w.unigrams is not None and w.unigrams[0].size]
    unigrams = None
    if grams:
        dense = np.bincount(np.concatenate([g[0] for g in grams]).astype(np.int64),
                            weights=np.concatenate([g[1] for g in grams]).astype(np.float64))
        keys = np.flatnonzero(dense)
        unigrams = (keys, dense[keys])
    embeddings = [w.embeddings for w in windows if w.embeddings is not None]
    return WindowData(
        start=windows[0].start, end=windows[-1].end,
        prompt_tokens=np.concatenate([w.prompt_tokens for w in windows]),
        output_tokens=np.concatenate([w.output_tokens for w in windows]),
        ttft_s=np.concatenate([w.ttft_s for w in windows]),
        tokens_per_s=np.concatenate([w.tokens_per_s for w in windows]),
        verification=[v for w in windows for v in w.verification],
        grounding_flags=[f for w in windows for f in w.grounding_flags],
        triage_levels=[t for w in windows for t in w.triage_levels],
        unigrams=unigrams,
        unigram_packs=[p for w in windows for p in w.unigram_packs],
        embeddings=np.concatenate(embeddings) if embeddings else None,
        agreements=[a for w in windows for a in w.agreements],
    )


def _js_of_packs(reference_packs: list[bytes], window_packs: list[bytes]) -> float:
    from apps.monitoring import stats

    return float(stats.js_divergence(*aligned_counts(unigrams_sum(b"".join(reference_packs)),
                                                     unigrams_sum(b"".join(window_packs)))))


def _js_of_levels(reference_levels: np.ndarray, window_levels: np.ndarray) -> float:
    from apps.monitoring import stats

    p, q = (np.bincount(levels.astype(np.int64), minlength=len(TRIAGE_LEVELS)).astype(np.float64)
            for levels in (reference_levels, window_levels))
    return float(stats.js_divergence(p, q))


def calibration_inputs(reference: WindowData) -> list[tuple[str, str, object, object]]:
    """[(statistic, feature, fn(reference_sample, window_sample) -> value, the reference's items)] of each drift
    statistic that window_statistics computes: what stats.calibrate_threshold resamples to calibrate a threshold
    (items: lengths, each request's unigram pairs, triage levels, embedding rows)."""
    from apps.monitoring import stats

    out: list[tuple[str, str, object, object]] = []
    for feature in ("prompt_tokens", "output_tokens"):
        values = getattr(reference, feature).astype(np.float64)
        out.append((Statistic.PSI, feature, stats.psi, values))
        out.append((Statistic.KS, feature, stats.ks_statistic, values))
    if len(reference.unigram_packs) >= 2:
        out.append((Statistic.JS, "unigrams", _js_of_packs, reference.unigram_packs))
    if len(reference.triage_levels) >= 2:
        out.append((Statistic.JS, "triage_level", _js_of_levels, np.asarray(reference.triage_levels)))
    if reference.embeddings is not None and len(reference.embeddings) >= 2:
        out.append((Statistic.EMBEDDING, "prompt_embedding", stats.embedding_drift_score, reference.embeddings))
    return out


def window_statistics(reference: WindowData, current: WindowData, *, is_reference: bool = False
                      ) -> list[tuple[str, str, float, float | None, int]]:
    """[(statistic, feature, value, reference value, n)] of `current` against `reference`. The reference window
    itself gets its own outcome and serving values only (drift against itself is zero by definition)."""
    from apps.monitoring import stats

    rows = []
    if not is_reference and current.n and reference.n:
        for feature in ("prompt_tokens", "output_tokens"):
            ref, cur = getattr(reference, feature).astype(np.float64), getattr(current, feature).astype(np.float64)
            rows.append((Statistic.PSI, feature, float(stats.psi(ref, cur)), None, current.n))
            rows.append((Statistic.KS, feature, float(stats.ks_statistic(ref, cur)), None, current.n))
        if reference.unigrams is not None and current.unigrams is not None and reference.unigrams[0].size \
                and current.unigrams[0].size:
            p, q = aligned_counts(reference.unigrams, current.unigrams)
            rows.append((Statistic.JS, "unigrams", float(stats.js_divergence(p, q)), None, current.n))
        if reference.triage_levels and current.triage_levels:
            p, q = (np.array([Counter(w.triage_levels).get(level, 0) for level in TRIAGE_LEVELS], dtype=np.float64)
                    for w in (reference, current))
            rows.append((Statistic.JS, "triage_level", float(stats.js_divergence(p, q)), None,
                         len(current.triage_levels)))
        ref_e, cur_e = reference.embeddings, current.embeddings
        if ref_e is not None and cur_e is not None and len(ref_e) >= 2 and len(cur_e) >= 2:
            rows.append((Statistic.EMBEDDING, "prompt_embedding", float(stats.embedding_drift_score(ref_e, cur_e)), None,
                         len(cur_e)))
    ref_values = outcome_values(reference)
    for key, (value, n) in outcome_values(current).items():
        if value is not None:
            rows.append((key[0], key[1], value, ref_values[key][0], n))
    return rows
