"""apps.monitoring.stats against scipy and hand computations, their properties, and calibration (cheap: numpy)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import cdist, jensenshannon

from apps.monitoring import stats

# --- psi ----------------------------------------------------------------------------------------------------


def test_psi_equals_a_hand_computation():
    # reference 1..10, bins=2: the median 5.5 is the one inner edge -> bins (-inf, 5.5], (5.5, inf): r = .5, .5
    # current: 3 of 4 values <= 5.5 -> c = .75, .25
    value = stats.psi(np.arange(1, 11), [1, 2, 3, 9], bins=2)
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert value == pytest.approx(expected, abs=1e-12)


def test_psi_bins_on_reference_quantiles_with_right_closed_bins_open_outer_edges_and_floor():
    reference = np.arange(1, 11)  # bins=5: inner edges at the 20/40/60/80 % quantiles = 2.8, 4.6, 6.4, 8.2
    current = [-100, 2.8, 5, 5, 100, 100]  # -100 and 2.8 -> bin 0 (outer edge open; x == edge goes below)
    r = np.full(5, 0.2)
    c = np.array([2, 0, 2, 0, 2]) / 6
    c = np.maximum(c, stats.PSI_FLOOR)  # the two empty bins are floored at 1e-4
    expected = float(np.sum((c - r) * np.log(c / r)))
    assert stats.psi(reference, current, bins=5) == pytest.approx(expected, abs=1e-12)


def test_psi_merges_tied_quantile_edges():
    reference = [0] * 90 + list(range(1, 11))  # 9 of the 10 deciles are 0: edges dedupe to {0, ~0.1}
    value = stats.psi(reference, [0] * 90 + list(range(1, 11)), bins=10)
    assert value == 0.0
    # all current above the edges -> one bin holds everything, the others are floored
    assert stats.psi(reference, [50] * 10) > 1.0


def test_psi_is_zero_on_identical_samples_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    assert stats.psi(x, x) == 0.0
    small, large = stats.psi(x, x + 0.2), stats.psi(x, x + 1.0)
    assert 0 < small < large


# --- Jensen-Shannon -----------------------------------------------------------------------------------------


def test_js_divergence_equals_the_square_of_scipys_distance():
    p, q = [10, 0, 3, 7, 1], [2, 5, 3, 0, 9]
    assert stats.js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_divergence_on_mappings_uses_the_union_of_keys():
    p = {"a": 4, "b": 1}
    q = {"b": 2, "c": 3}
    aligned = jensenshannon([4, 1, 0], [0, 2, 3], base=2) ** 2
    assert stats.js_divergence(p, q) == pytest.approx(aligned, abs=1e-12)


def test_js_divergence_is_symmetric_bounded_and_zero_on_the_same_proportions():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.integers(0, 20, 8), rng.integers(0, 20, 8)
        p[0] += 1
        q[0] += 1
        value = stats.js_divergence(p, q)
        assert value == pytest.approx(stats.js_divergence(q, p), abs=1e-15)
        assert 0.0 <= value <= 1.0
    assert stats.js_divergence([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0, abs=1e-15)
    assert stats.js_divergence({1: 5}, {2: 5}) == 1.0  # disjoint supports


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [([1, 2], [1, 2, 3], "different lengths"), ([0, 0], [1, 1], "sums to zero"), ([-1, 2], [1, 1], "non-negative"),
     ({1: 2}, [1, 2], "both be mappings")],
)
def test_js_divergence_refuses_bad_counts(p, q, message):
    with pytest.raises(ValueError, match=message):
        stats.js_divergence(p, q)


def test_unigram_counts():
    assert stats.unigram_counts([[5, 1, 5], [], [1, 7]]) == {1: 2, 5: 2, 7: 1}
    assert stats.unigram_counts([]) == {}
    assert all(type(k) is int and type(v) is int for k, v in stats.unigram_counts([[3, 3]]).items())


# --- Kolmogorov-Smirnov -------------------------------------------------------------------------------------


def test_ks_statistic_equals_scipy_on_continuous_data_and_on_ties():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=170)
    assert stats.ks_statistic(a, b) == pytest.approx(sps.ks_2samp(a, b).statistic, abs=1e-12)
    # integer data (prompt lengths) with many ties
    c, d = rng.integers(0, 12, 400), rng.integers(2, 14, 90)
    assert stats.ks_statistic(c, d) == pytest.approx(sps.ks_2samp(c, d).statistic, abs=1e-12)
    assert stats.ks_statistic([1, 1, 2], [1, 2, 2]) == pytest.approx(sps.ks_2samp([1, 1, 2], [1, 2, 2]).statistic)
    assert stats.ks_statistic(c, c) == 0.0


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_numeric_statistics_refuse_empty_or_non_finite_input(bad):
    for fn in (stats.psi, stats.ks_statistic):
        with pytest.raises(ValueError, match="current"):
            fn([1.0, 2.0, 3.0], bad)


# --- embedding statistics -----------------------------------------------------------------------------------


def test_mmd_rbf_equals_a_hand_computation():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.5, 1.0, size=(5, 4))
    gamma = 0.3
    kxx = np.exp(-gamma * cdist(x, x, "sqeuclidean"))
    kyy = np.exp(-gamma * cdist(y, y, "sqeuclidean"))
    kxy = np.exp(-gamma * cdist(x, y, "sqeuclidean"))
    m, n = len(x), len(y)
    expected = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) \
        - 2 * kxy.mean()
    assert stats.mmd_rbf(x, y, gamma=gamma) == pytest.approx(expected, abs=1e-12)
    # the median heuristic: gamma = 1 / (2 median^2) over the pooled sample's distinct pairs
    pooled = np.vstack([x, y])
    median = np.median(cdist(pooled, pooled)[np.triu_indices(len(pooled), 1)])
    assert stats.median_heuristic_gamma(x, y) == pytest.approx(1 / (2 * median**2), rel=1e-9)
    assert stats.mmd_rbf(x, y) == pytest.approx(stats.mmd_rbf(x, y, gamma=1 / (2 * median**2)), abs=1e-12)


def test_roc_auc_equals_mann_whitney_u_over_n1_n2_with_ties():
    rng = np.random.default_rng(4)
    neg, pos = rng.integers(0, 6, 40).astype(float), rng.integers(1, 8, 25).astype(float)
    u = sps.mannwhitneyu(pos, neg).statistic
    assert stats.roc_auc(neg, pos) == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)
    # by definition: P(pos > neg) + 1/2 P(pos = neg)
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert stats.roc_auc(neg, pos) == pytest.approx(pairs, abs=1e-12)


def test_classifier_auc_and_the_embedding_drift_score():
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(300, 16))
    separable = rng.normal(size=(60, 16)) + 10.0
    assert stats.classifier_auc(reference, separable) == 1.0
    assert stats.embedding_drift_score(reference, separable) == 1.0
    same = rng.normal(size=(200, 16))
    assert stats.embedding_drift_score(reference, same) < 0.15
    shifted = rng.normal(size=(200, 16)) + 0.4  # a shift along every axis: 1.6 standard deviations overall
    assert stats.classifier_auc(reference, shifted) > 0.8
    # seeded: the same folds give the same value
    assert stats.classifier_auc(reference, same, seed=7) == stats.classifier_auc(reference, same, seed=7)
    with pytest.raises(ValueError, match="at least folds=5"):
        stats.classifier_auc(reference, same[:3])
    with pytest.raises(ValueError, match="different dimensions"):
        stats.classifier_auc(reference, same[:, :4])


# --- consistency --------------------------------------------------------------------------------------------


def test_agreement_and_consistency():
    assert stats.agreement([3, 3, 3, 3, 3]) == 1.0
    assert stats.agreement([3, 2, 3, 4, 3]) == pytest.approx(0.6)
    assert stats.agreement(["a", "b", "c", "d"]) == 0.25
    assert stats.consistency([[1, 1, 1], [1, 2, 2], [5, 4, 3]]) == pytest.approx((1 + 2 / 3 + 1 / 3) / 3)
    with pytest.raises(ValueError):
        stats.agreement([])
    with pytest.raises(ValueError):
        stats.consistency([])


def test_consistency_of_an_adapter_that_answers_at_random_is_below_the_default_085():
    rng = np.random.default_rng(6)
    random_levels = rng.integers(1, 6, size=(200, 5))  # 200 encounters, k=5 ESI levels drawn at random
    assert stats.consistency(random_levels.tolist()) < 0.6
    steady = np.where(rng.random((200, 5)) < 0.97, 3, rng.integers(1, 6, size=(200, 5)))
    assert stats.consistency(steady.tolist()) > 0.85


# --- calibration --------------------------------------------------------------------------------------------


def test_calibrated_threshold_keeps_false_alarms_near_alpha_and_still_catches_a_shift():
    rng = np.random.default_rng(7)
    reference = rng.lognormal(4.0, 0.5, size=2000)  # prompt-length-like
    window = 50
    threshold = stats.calibrate_threshold(stats.ks_statistic, reference, window_size=window, alpha=0.01, seed=0)
    assert threshold == stats.calibrate_threshold(stats.ks_statistic, reference, window_size=window, seed=0)
    null = [stats.ks_statistic(reference, np.random.default_rng(1000 + s).lognormal(4.0, 0.5, window))
            for s in range(200)]
    assert np.mean(np.array(null) > threshold) <= 0.02  # ~1 % expected; 200 windows
    shifted = np.random.default_rng(99).lognormal(4.6, 0.5, window)
    assert stats.ks_statistic(reference, shifted) > threshold


def test_calibrate_threshold_resamples_items_for_categorical_statistics_and_rows_of_vectors():
    rng = np.random.default_rng(8)
    items = [rng.integers(0, 30, rng.integers(5, 15)).tolist() for _ in range(400)]  # token id lists

    def js(ref, win):
        return stats.js_divergence(stats.unigram_counts(ref), stats.unigram_counts(win))

    js_threshold = stats.calibrate_threshold(js, items, window_size=20, resamples=100, seed=0)
    assert 0.0 < js_threshold < 0.2
    other = [rng.integers(20, 50, 10).tolist() for _ in range(20)]
    assert js(items, other) > js_threshold

    vectors = rng.normal(size=(300, 8))
    emb_threshold = stats.calibrate_threshold(stats.embedding_drift_score, vectors, window_size=40, resamples=100)
    assert 0.0 < emb_threshold < 1.0
    # reference shorter than two windows: the bootstrap branch
    small = stats.calibrate_threshold(stats.ks_statistic, rng.normal(size=30), window_size=20, resamples=100)
    assert 0.0 < small <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"window_size": 0}, "window_size"), ({"window_size": 5, "alpha": 0}, "alpha"),
     ({"window_size": 5, "resamples": 50}, "resamples")],
)
def test_calibrate_threshold_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.calibrate_threshold(stats.ks_statistic, np.arange(100.0), **kwargs)


def test_stats_imports_only_numpy_and_the_standard_library():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(stats.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "collections", "itertools", "math", "typing", "numpy"}, imported


def test_classifier_auc_equals_its_definition_fold_by_fold():
    """The vectorised scores equal the docstring's definition computed literally: for each fold k, the centroids
    of the other folds, and s(z) = ||z - mu_x||^2 - ||z - mu_y||^2 for the held-out vectors."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        d = int(rng.integers(1, 30))
        x = rng.normal(0, 1, (int(rng.integers(5, 200)), d))
        y = rng.normal(rng.uniform(0, 0.5), 1, (int(rng.integers(5, 80)), d))
        folds = int(rng.integers(2, 6))
        order = np.random.default_rng(3)
        fold_x = order.permutation(len(x)) % folds
        fold_y = order.permutation(len(y)) % folds
        score_x, score_y = np.empty(len(x)), np.empty(len(y))
        for k in range(folds):
            mu_x, mu_y = x[fold_x != k].mean(0), y[fold_y != k].mean(0)
            for data, fold, out in ((x, fold_x, score_x), (y, fold_y, score_y)):
                held = data[fold == k]
                out[fold == k] = ((held - mu_x) ** 2).sum(1) - ((held - mu_y) ** 2).sum(1)
        expected = sps.mannwhitneyu(score_y, score_x).statistic / (len(x) * len(y))
        assert stats.classifier_auc(x, y, folds=folds, seed=3) == pytest.approx(expected, abs=1e-12)
