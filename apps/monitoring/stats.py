"""Monitoring statistics: drift between a reference and a window, and prediction consistency.

Pure numpy, no Django: every function takes plain numbers (or vectors, or counts) and returns a float. Each is
tested against scipy or a hand computation (tests/apps/monitoring/test_stats.py); bench/monitoring.py measures
their false-alarm rates and a simulated shift.

| statistic | on | 0 means | range |
|---|---|---|---|
| `psi` | numeric features (prompt length, output length) | same histogram | [0, inf) |
| `js_divergence` | categorical counts (token unigrams, triage levels) | same distribution | [0, 1] |
| `ks_statistic` | numeric features | same empirical CDF | [0, 1] |
| `embedding_drift_score` (THE embedding drift score) | sentence embeddings | not separable | [0, 1] |
| `mmd_rbf` | sentence embeddings (an alternative, not thresholded by default) | same distribution | ~[0, 2] |

The default drift threshold (0.15) applies to `psi`, `js_divergence`, `ks_statistic` and
`embedding_drift_score`; `calibrate_threshold` gives a per-statistic, per-window-size threshold instead.
Consistency (`agreement`, `consistency`) is in [0, 1], 1 = every sample agrees.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

PSI_FLOOR = 1e-4  # a bin's proportion below this is raised to it (an empty bin would make ln(c/r) infinite)


# --- input checks -------------------------------------------------------------------------------------------
def _numeric(values: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float64 array of finite values, or ValueError naming the argument."""
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds a NaN or infinite value")
    return array


def _vectors(values: Any, name: str) -> np.ndarray:
    """A (n, d) float64 array of finite values with n >= 1, or ValueError."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array of vectors, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds a NaN or infinite value")
    return array


def _distribution(counts: np.ndarray, name: str) -> np.ndarray:
    if counts.size == 0 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"{name} must be non-empty, finite and non-negative")
    total = counts.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to zero")
    return counts / total


# --- numeric features ---------------------------------------------------------------------------------------
def psi(reference: Any, current: Any, *, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`.

        PSI = sum_i (c_i - r_i) * ln(c_i / r_i)

    over bins i whose inner edges are the reference's quantiles at 1/bins, ..., (bins-1)/bins; tied edges are
    merged (a reference with many equal values gets fewer bins) and the outer bins are open, (-inf, e_1] and
    (e_k, +inf). Bins are closed on the right: a value equal to an edge falls in the bin below it. r_i and c_i
    are the shares of each sample in bin i; a share below PSI_FLOOR (1e-4) is raised to PSI_FLOOR, with no
    renormalisation. 0 for identical samples; common readings: < 0.1 stable, 0.1-0.25 some shift, > 0.25 shift.
    """
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    ref = _numeric(reference, "reference")
    cur = _numeric(current, "current")
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))  # the inner edges, ascending, deduplicated
    # searchsorted(side="left") counts the edges strictly below x: x == e_j lands in the bin (e_{j-1}, e_j].
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1) / ref.size
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=edges.size + 1) / cur.size
    r = np.maximum(r, PSI_FLOOR)
    c = np.maximum(c, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_statistic(reference: Any, current: Any) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D = max_x |F_ref(x) - F_cur(x)|, the largest gap between the
    two empirical CDFs, evaluated at every observed value (so ties are handled exactly). Equal to
    scipy.stats.ks_2samp(reference, current).statistic."""
    ref = np.sort(_numeric(reference, "reference"))
    cur = np.sort(_numeric(current, "current"))
    points = np.concatenate([ref, cur])
    f_ref = np.searchsorted(ref, points, side="right") / ref.size
    f_cur = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(f_ref - f_cur)))


# --- categorical features -----------------------------------------------------------------------------------
def _aligned_counts(p_counts: Any, q_counts: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(p_counts, Mapping) or isinstance(q_counts, Mapping):
        if not (isinstance(p_counts, Mapping) and isinstance(q_counts, Mapping)):
            raise ValueError("p_counts and q_counts must both be mappings or both be count vectors")
        keys = list(p_counts.keys() | q_counts.keys())
        p = np.array([p_counts.get(k, 0) for k in keys], dtype=np.float64)
        q = np.array([q_counts.get(k, 0) for k in keys], dtype=np.float64)
        return p, q
    p = np.asarray(p_counts, dtype=np.float64).ravel()
    q = np.asarray(q_counts, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise ValueError(f"p_counts and q_counts have different lengths ({p.size} and {q.size})")
    return p, q


def js_divergence(p_counts: Any, q_counts: Any) -> float:
    """Jensen-Shannon divergence, base 2, of two count vectors (same categories in the same order) or two
    mappings category -> count (the union of their keys; a missing key counts 0):

        JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M),  M = (P + Q) / 2,  KL(A || B) = sum_i a_i log2(a_i / b_i)

    with P, Q the counts normalised to proportions and 0 * log 0 = 0. Symmetric, in [0, 1]: 0 for the same
    distribution, 1 for disjoint supports. (scipy.spatial.distance.jensenshannon(p, q, base=2) is the
    Jensen-Shannon DISTANCE, the square root of this.)"""
    p_raw, q_raw = _aligned_counts(p_counts, q_counts)
    p = _distribution(p_raw, "p_counts")
    q = _distribution(q_raw, "q_counts")
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0  # where a > 0, m > 0 too
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0))


def unigram_counts(token_id_lists: Iterable[Sequence[int]]) -> dict[int, int]:
    """Token id -> number of occurrences over all the lists (the unigram counts of a set of prompts)."""
    arrays = [np.asarray(ids, dtype=np.int64).ravel() for ids in token_id_lists]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return {}
    ids, counts = np.unique(np.concatenate(arrays), return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist(), strict=True))


# --- embeddings ---------------------------------------------------------------------------------------------
def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """||a_i - b_j||^2 for every pair, (len(a), len(b)), clipped at 0 against rounding."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def median_heuristic_gamma(x: Any, y: Any) -> float:
    """gamma = 1 / (2 * median^2), median = the median Euclidean distance between distinct points of the pooled
    sample x u y (the usual bandwidth choice sigma = median distance for k(a, b) = exp(-||a-b||^2 / 2 sigma^2))."""
    pooled = np.concatenate([_vectors(x, "x"), _vectors(y, "y")])
    d = np.sqrt(_sq_distances(pooled, pooled)[np.triu_indices(pooled.shape[0], k=1)])
    median = float(np.median(d)) if d.size else 0.0
    if median <= 0.0:
        return 1.0  # all points equal: any bandwidth gives MMD^2 = 0
    return 1.0 / (2.0 * median**2)


def mmd_rbf(x: Any, y: Any, *, gamma: float | None = None) -> float:
    """Squared maximum mean discrepancy with the RBF kernel k(a, b) = exp(-gamma ||a - b||^2), the unbiased
    U-statistic estimate (Gretton et al. 2012, eq. 3):

        MMD^2 = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

    gamma defaults to the median heuristic (`median_heuristic_gamma`). Unbiased, so it can be slightly
    negative when the samples come from the same distribution; needs at least 2 vectors on each side."""
    xs = _vectors(x, "x")
    ys = _vectors(y, "y")
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x and y have different dimensions ({xs.shape[1]} and {ys.shape[1]})")
    m, n = xs.shape[0], ys.shape[0]
    if m < 2 or n < 2:
        raise ValueError("mmd_rbf needs at least 2 vectors in x and in y")
    if gamma is None:
        gamma = median_heuristic_gamma(xs, ys)
    if not gamma > 0:
        raise ValueError(f"gamma must be positive, got {gamma!r}")
    kxx = np.exp(-gamma * _sq_distances(xs, xs))
    kyy = np.exp(-gamma * _sq_distances(ys, ys))
    kxy = np.exp(-gamma * _sq_distances(xs, ys))
    # The diagonal of k(a, a) is exactly 1 (distance 0): leave it out of the within-sample means.
    return float((kxx.sum() - m) / (m * (m - 1)) + (kyy.sum() - n) / (n * (n - 1)) - 2.0 * kxy.mean())


def roc_auc(negatives: Any, positives: Any) -> float:
    """ROC AUC of scores where `positives` should score higher: the Mann-Whitney estimate

        AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos * n_neg)

    with R_pos the sum of the positives' ranks in the pooled sample (ties get their average rank), i.e.
    P(pos > neg) + 1/2 P(pos = neg). Equal to scipy.stats.mannwhitneyu(positives, negatives).statistic /
    (n_pos * n_neg) and to sklearn's roc_auc_score."""
    neg = _numeric(negatives, "negatives")
    pos = _numeric(positives, "positives")
    pooled = np.concatenate([pos, neg])
    order = np.argsort(pooled, kind="mergesort")
    ranks = np.empty(pooled.size, dtype=np.float64)
    sorted_values = pooled[order]
    # average ranks over ties: each run of equal values gets the mean of the ranks it spans (1-based)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], pooled.size]
    run_rank = (starts + ends + 1) / 2.0  # mean of starts+1 .. ends
    ranks[order] = np.repeat(run_rank, ends - starts)
    r_pos = ranks[: pos.size].sum()
    return float((r_pos - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def classifier_auc(x: Any, y: Any, *, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a nearest-centroid domain classifier telling y (label 1) from x (label 0).

    Each sample is split into `folds` folds at random (seeded). For fold k, the centroids mu_x and mu_y of
    the OTHER folds score each held-out vector z as s(z) = ||z - mu_x||^2 - ||z - mu_y||^2 (higher = closer
    to y). The out-of-fold scores of all vectors give the AUC (`roc_auc`). 0.5 = the classifier cannot tell
    the samples apart; 1 = separable. The centroid classifier has no hyper-parameters, costs O(n d), and is
    insensitive to the sizes of x and y (a reference is usually larger than a window)."""
    xs = _vectors(x, "x")
    ys = _vectors(y, "y")
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x and y have different dimensions ({xs.shape[1]} and {ys.shape[1]})")
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    if min(xs.shape[0], ys.shape[0]) < folds:
        raise ValueError(f"classifier_auc needs at least folds={folds} vectors in x and in y")
    rng = np.random.default_rng(seed)
    fold_x = rng.permutation(xs.shape[0]) % folds  # balanced fold labels in random order
    fold_y = rng.permutation(ys.shape[0]) % folds
    # All folds at once: the centroid of "every fold but k" is (total - sum of fold k) / (n - n_k), and
    # s(z) = ||z - mu_x||^2 - ||z - mu_y||^2 = 2 z.(mu_y - mu_x) + ||mu_x||^2 - ||mu_y||^2,
    # so each vector's score is one dot product with its fold's direction.
    def centroids(data: np.ndarray, fold: np.ndarray) -> np.ndarray:  # (folds, d): of the other folds
        sums = np.stack([data[fold == k].sum(0) for k in range(folds)])
        counts = np.bincount(fold, minlength=folds).astype(np.float64)
        return (data.sum(0) - sums) / (data.shape[0] - counts)[:, None]

    mu_x, mu_y = centroids(xs, fold_x), centroids(ys, fold_y)
    direction = 2.0 * (mu_y - mu_x)  # (folds, d)
    offset = (mu_x**2).sum(1) - (mu_y**2).sum(1)  # (folds,)

    def scores(data: np.ndarray, fold: np.ndarray) -> np.ndarray:
        out = np.empty(data.shape[0])
        for k in range(folds):
            held = fold == k
            out[held] = data[held] @ direction[k] + offset[k]
        return out

    return roc_auc(scores(xs, fold_x), scores(ys, fold_y))


def embedding_drift_score(reference: Any, current: Any, *, folds: int = 5, seed: int = 0) -> float:
    """THE embedding drift score: 2 * |AUC - 0.5| with AUC = classifier_auc(reference, current). 0 = the
    window's embeddings cannot be told from the reference's, 1 = separable. The default drift threshold 0.15
    is AUC 0.575 (or 0.425); Evidently's and NannyML's domain-classifier default, AUC 0.55, is a score of 0.1."""
    return float(2.0 * abs(classifier_auc(reference, current, folds=folds, seed=seed) - 0.5))


# --- prediction consistency ---------------------------------------------------------------------------------
def agreement(samples: Sequence[Hashable]) -> float:
    """Consistency of the k labels sampled for one item: the share that equal the modal (most frequent) label,
    count(mode) / k. 1 = all k agree; 1/k at worst (all different). Labels compare with ==."""
    labels = list(samples)
    if not labels:
        raise ValueError("agreement needs at least one sampled label")
    return Counter(labels).most_common(1)[0][1] / len(labels)


def consistency(groups: Iterable[Sequence[Hashable]]) -> float:
    """Prediction consistency: the mean of `agreement` over items (each group = the k labels of one item)."""
    values = [agreement(g) for g in groups]
    if not values:
        raise ValueError("consistency needs at least one group of sampled labels")
    return float(np.mean(values))


# --- calibration --------------------------------------------------------------------------------------------
def _take(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, np.ndarray):
        return data[index]
    return [data[i] for i in index]


def calibrate_threshold(
    statistic: Callable[[Any, Any], float],
    reference: Any,
    *,
    window_size: int,
    alpha: float = 0.01,
    resamples: int = 200,
    seed: int = 0,
) -> float:
    """A drift threshold for `statistic` and windows of `window_size`, with a false-alarm rate of about `alpha`
    on windows drawn from the reference's distribution: the (1 - alpha) quantile (numpy's "higher" order
    statistic: conservative) of `resamples` null values statistic(reference_sample, window_sample).

    `reference` is a numpy array (numbers, or (n, d) vectors: rows are resampled) or a sequence of items (e.g.
    per-request token id lists; `statistic` then builds its counts). Each null value comes from
      - a random split when len(reference) >= 2 * window_size: window_sample = window_size items drawn
        without replacement, reference_sample = the remaining items (an independent window against a slightly
        smaller reference: conservative);
      - otherwise a bootstrap: reference_sample = len(reference) items and window_sample = window_size items,
        each drawn with replacement (a small reference makes this optimistic: prefer a larger reference).
    Seeded: the same inputs give the same threshold."""
    if not callable(statistic):
        raise ValueError("statistic must be a callable (reference_sample, window_sample) -> float")
    n = len(reference)
    if not isinstance(window_size, int) or window_size < 1:
        raise ValueError(f"window_size must be a positive integer, got {window_size!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(resamples, int) or resamples * alpha < 1.0:
        raise ValueError(f"resamples must be an integer >= 1/alpha ({int(np.ceil(1 / alpha))}), got {resamples!r}")
    if n < 2:
        raise ValueError("the reference needs at least 2 items")
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for i in range(resamples):
        if n >= 2 * window_size:
            order = rng.permutation(n)
            window, rest = order[:window_size], order[window_size:]
        else:
            window, rest = rng.integers(0, n, window_size), rng.integers(0, n, n)
        values[i] = statistic(_take(reference, rest), _take(reference, window))
    return float(np.quantile(values, 1.0 - alpha, method="higher"))
