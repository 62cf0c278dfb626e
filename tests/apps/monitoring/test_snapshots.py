"""Snapshots: windows close by count, every statistic is stored once per window, and a shifted window raises
audited drift alerts naming the statistic, the feature, the window and the reference."""
from __future__ import annotations

import numpy as np
import pytest

from apps.accounts.models import AuditEvent
from apps.monitoring import services
from apps.monitoring.models import Alert, Snapshot, Window
from tests.apps.monitoring.factories import adapter_version, observations

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst(make_user):
    return make_user("analyst")


def test_a_window_closes_only_when_full_and_keeps_its_range(analyst):
    first = observations(analyst, 70)
    assert services.windows_close(window_size=50) == 1
    w0 = Window.objects.get()
    assert (w0.number, w0.first_id, w0.last_id, w0.size) == (0, first[0].pk, first[49].pk, 50)  # 20 stay open
    more = observations(analyst, 30, seed=1)
    assert services.windows_close(window_size=50) == 1
    w1 = Window.objects.get(number=1)
    assert (w1.first_id, w1.last_id) == (first[50].pk, more[-1].pk)
    assert services.windows_close(window_size=50) == 0
    assert Window.objects.get(number=0).last_id == first[49].pk  # closed windows never move


def test_observations_without_input_features_do_not_close_a_window(analyst):
    observations(analyst, 60, features=False)
    assert services.windows_close(window_size=50) == 0


def test_snapshot_is_idempotent(analyst, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    observations(analyst, 100, grounding_flags=0)
    first = services.snapshots_compute()
    assert first["windows_closed"] == 2 and first["snapshots"] > 0
    rows = list(Snapshot.objects.values_list("window", "statistic", "feature", "value"))
    assert {(r[1], r[2]) for r in rows if r[0] == 1} >= {
        ("psi", "prompt_tokens"), ("psi", "output_tokens"), ("ks", "prompt_tokens"), ("js", "unigrams"),
        ("embedding_drift", "prompt_embedding"), ("rate", "grounding_flagged"), ("serving", "ttft_s"),
        ("serving", "tokens_per_s")}
    # the reference window has its own outcome and serving values, no drift against itself
    assert {r[1] for r in rows if r[0] == 0} == {"rate", "serving"}
    again = services.snapshots_compute()
    assert again == {"features": 0, "windows_closed": 0, "snapshots": 0, "alerts": 0}
    assert sorted(Snapshot.objects.values_list("window", "statistic", "feature", "value")) == sorted(rows)


def test_a_shifted_window_raises_audited_drift_alerts(analyst, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    observations(analyst, 50, grounding_flags=0)  # the reference
    observations(analyst, 50, prompt_mean=400, output_mean=200, vocab=range(500, 550), shift=3.0, seed=1,
                 grounding_flags=2)  # another population: longer prompts, other tokens, flagged reports
    result = services.snapshots_compute()
    alerts = {(a.statistic, a.feature): a for a in Alert.objects.all()}
    assert {("psi", "prompt_tokens"), ("ks", "prompt_tokens"), ("psi", "output_tokens"), ("js", "unigrams"),
            ("embedding_drift", "prompt_embedding"), ("rate", "grounding_flagged")} <= set(alerts)
    assert result["alerts"] == len(alerts)
    psi = alerts[("psi", "prompt_tokens")]
    assert psi.window == 1 and psi.reference_window == 0 and psi.value > 0.15 and psi.threshold == 0.15
    assert "psi of prompt_tokens" in psi.message and "window 1" in psi.message and "reference: windows up to 0" in psi.message
    assert not any(a.statistic == "serving" for a in alerts.values())
    events = AuditEvent.objects.filter(action="monitoring_alert.raise")
    assert events.count() == len(alerts)
    assert {(e.detail["statistic"], e.detail["feature"], e.detail["window"]) for e in events} == {
        (s, f, 1) for s, f in alerts}


def test_the_reference_is_the_first_windows_together(analyst, settings):
    """With PLUMBLINE_MONITORING_REFERENCE_WINDOWS = 3, windows 0-2 are the reference (outcome and serving values
    only, no drift against themselves) and window 3 is compared with their 150 observations joined."""
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    settings.PLUMBLINE_MONITORING_REFERENCE_WINDOWS = 3
    for seed in range(3):
        observations(analyst, 50, grounding_flags=0, seed=seed)
    observations(analyst, 50, prompt_mean=400, output_mean=200, vocab=range(500, 550), shift=3.0, seed=9,
                 grounding_flags=0)
    services.snapshots_compute()
    rows = list(Snapshot.objects.values_list("window", "statistic", "reference_window", "n"))
    assert {r[1] for r in rows if r[0] in (0, 1, 2)} == {"rate", "serving"}
    drift = [r for r in rows if r[0] == 3 and r[1] == "psi"]
    assert drift and all(r[2] == 2 for r in drift)
    alert = Alert.objects.get(statistic="psi", feature="prompt_tokens")
    assert (alert.window, alert.reference_window) == (3, 2) and "windows up to 2" in alert.message


def test_windows_joined_holds_every_observation():
    import numpy as np

    from apps.monitoring.windows import WindowData, windows_joined

    def window(ids, counts, n):
        return WindowData(start=None, end=None, prompt_tokens=np.arange(n, dtype=float),
                          output_tokens=np.ones(n), ttft_s=np.full(n, np.nan), tokens_per_s=np.ones(n),
                          grounding_flags=[0] * n, unigrams=(np.array(ids), np.array(counts, dtype=float)),
                          embeddings=np.zeros((n, 4), dtype=np.float32))

    joined = windows_joined([window([1, 5], [2, 3], 3), window([5, 7], [1, 4], 2)])
    assert joined.n == 5 and joined.embeddings.shape == (5, 4) and len(joined.grounding_flags) == 5
    assert joined.unigrams[0].tolist() == [1, 5, 7] and joined.unigrams[1].tolist() == [2, 4, 4]


def test_the_drift_threshold_is_a_setting(analyst, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    settings.PLUMBLINE_MONITORING_DRIFT_THRESHOLD = 100.0
    observations(analyst, 50)
    observations(analyst, 50, prompt_mean=400, seed=1)
    services.snapshots_compute()
    assert Snapshot.objects.filter(statistic="psi", window=1, threshold=100.0).exists()
    assert not Alert.objects.exists()


def test_calibrated_thresholds_replace_the_fixed_ones_for_every_drift_statistic(analyst, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    settings.PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS = True
    observations(analyst, 100, grounding_flags=0)
    services.snapshots_compute()
    drift = Snapshot.objects.filter(window=1, statistic__in=["psi", "ks", "js", "embedding_drift"])
    assert {(s.statistic, s.feature) for s in drift} == {
        ("psi", "prompt_tokens"), ("psi", "output_tokens"), ("ks", "prompt_tokens"), ("ks", "output_tokens"),
        ("js", "unigrams"), ("embedding_drift", "prompt_embedding")}
    for snapshot in drift:
        assert snapshot.threshold != 0.15 and snapshot.threshold > 0, snapshot.statistic
    # outcomes keep their fixed limits
    assert Snapshot.objects.get(window=1, feature="grounding_flagged").threshold == 0.15


def test_calibration_is_for_the_windows_size_not_the_references(analyst, settings):
    """A reference of 4 windows of 50: the thresholds are those of windows of 50 drawn from the 200 reference
    requests (a threshold calibrated for windows as large as the reference would be far lower)."""
    from apps.monitoring import stats

    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    settings.PLUMBLINE_MONITORING_REFERENCE_WINDOWS = 4
    settings.PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS = True
    settings.PLUMBLINE_MONITORING_CALIBRATION_ALPHA = 0.01
    rows = observations(analyst, 250)
    services.snapshots_compute()
    reference = np.array([o.prompt_tokens for o in rows[:200]], dtype=np.float64)
    expected = stats.calibrate_threshold(stats.psi, reference, window_size=50, alpha=0.01, resamples=200, seed=0)
    psi = Snapshot.objects.get(statistic="psi", feature="prompt_tokens", window=4)
    assert psi.threshold == pytest.approx(expected, rel=1e-12)
    assert psi.threshold > stats.calibrate_threshold(stats.psi, reference, window_size=200, alpha=0.01,
                                                     resamples=200, seed=0)


def test_calibrated_thresholds_stay_quiet_on_the_same_traffic_and_catch_a_shift(analyst, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    settings.PLUMBLINE_MONITORING_REFERENCE_WINDOWS = 4
    settings.PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS = True
    observations(analyst, 300, seed=3)  # reference (4 windows) + 2 windows of the same traffic
    observations(analyst, 50, vocab=range(200, 260), shift=1.0, seed=4)  # other words, other embeddings
    services.snapshots_compute()
    alerts = set(Alert.objects.values_list("window", "statistic", "feature"))
    assert not {a for a in alerts if a[0] in (4, 5)}, alerts
    assert {(6, "js", "unigrams"), (6, "embedding_drift", "prompt_embedding")} <= alerts


def test_each_adapter_version_has_its_own_windows_and_reference(analyst, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    version = adapter_version(analyst)
    observations(analyst, 50)
    observations(analyst, 50, adapter=version, prompt_mean=400, seed=1)
    services.snapshots_compute()
    # each group has only its reference window: no drift between the base model's and the adapter's traffic
    assert set(Snapshot.objects.values_list("adapter_id", "window").distinct()) == {(None, 0), (version.pk, 0)}
    assert not Alert.objects.exists()


def test_the_database_stores_a_window_statistic_once(analyst, settings):
    from django.db import IntegrityError, transaction

    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    observations(analyst, 50)
    services.snapshots_compute()
    s = Snapshot.objects.filter(adapter=None).first()
    s.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        s.save()


HOOKED: list[int] = []


def record_alert(*, alert_id: int) -> None:
    HOOKED.append(alert_id)


def test_alert_hooks_get_each_alert_after_commit(analyst, settings, django_capture_on_commit_callbacks):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    settings.PLUMBLINE_MONITORING_ALERT_HOOKS = ["tests.apps.monitoring.test_snapshots.record_alert"]
    HOOKED.clear()
    observations(analyst, 50)
    observations(analyst, 50, prompt_mean=400, seed=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.snapshots_compute()
    assert sorted(HOOKED) == sorted(Alert.objects.values_list("pk", flat=True)) and HOOKED
