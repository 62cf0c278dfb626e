"""The monitoring page and API: admins only (others 403), alerts acknowledged by an admin (audited), the read-only
API paginated and filtered by allow-listed values, and the charts drawn in a real browser under the CSP."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import AuditEvent
from apps.monitoring import services
from apps.monitoring.models import Alert, Snapshot
from tests.apps.monitoring.factories import observations


@pytest.fixture
def drifted(make_user, settings):
    """Two closed windows of finance traffic, the second shifted: snapshots and alerts."""
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    analyst = make_user("analyst")
    observations(analyst, 50)
    observations(analyst, 50, prompt_mean=400, vocab=range(500, 550), shift=3.0, seed=1)
    services.snapshots_compute()
    assert Alert.objects.exists()
    return analyst


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["analyst", "clinician", "reviewer"])
def test_only_admins_see_monitoring(make_user, role, drifted):
    client = _client(make_user(role))
    alert = Alert.objects.first()
    assert client.get("/monitoring/").status_code == 403
    assert client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/").status_code == 403
    for url in ("/api/v1/monitoring/snapshots/", "/api/v1/monitoring/alerts/"):
        resp = client.get(url)
        assert resp.status_code == 403 and resp.json()["code"] in ("permission_denied", "forbidden")
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert Client().get("/monitoring/").status_code == 302  # anonymous: to the log-in page


@pytest.mark.django_db
def test_the_admin_page_shows_charts_alerts_queues_and_serving_numbers(make_user, drifted):
    client = _client(make_user("admin"))
    resp = client.get("/monitoring/")
    html = resp.content.decode()
    assert resp.status_code == 200
    assert 'id="chart-psi-prompt_tokens"' in html and 'id="monitoring-charts"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html and "js/monitoring.js" in html
    assert 'data-testid="queue-gpu"' in html and 'data-testid="serving-finance"' in html
    assert Alert.objects.first().message in html.replace("&#x27;", "'")
    assert 'href="/monitoring/"' in client.get("/").content.decode()  # in the admin's navigation


@pytest.mark.django_db
def test_an_admin_acknowledges_an_alert_once_and_it_is_audited(make_user, drifted):
    admin = make_user("admin")
    client = _client(admin)
    alert = Alert.objects.first()
    resp = client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/")
    assert resp.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin and alert.acknowledged_at is not None
    event = AuditEvent.objects.get(action="monitoring_alert.acknowledge")
    assert event.actor == admin and event.object_id == str(alert.pk) and event.via == "web"
    client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/")  # again: refused, nothing new written
    assert AuditEvent.objects.filter(action="monitoring_alert.acknowledge").count() == 1
    assert client.get(f"/monitoring/alerts/{alert.pk}/acknowledge/").status_code == 405
    assert client.post("/monitoring/alerts/999999/acknowledge/").status_code == 404


@pytest.mark.django_db
def test_the_api_lists_snapshots_and_alerts_paginated_and_filtered(make_user, drifted):
    client = _client(make_user("admin"))
    body = client.get("/api/v1/monitoring/snapshots/?limit=5").json()
    assert body["count"] == Snapshot.objects.count() and len(body["results"]) == 5 and body["next"]
    psi = client.get("/api/v1/monitoring/snapshots/?statistic=psi&domain=finance").json()["results"]
    assert psi and all(s["statistic"] == "psi" and s["domain"] == "finance" for s in psi)
    assert client.get("/api/v1/monitoring/snapshots/?domain=medical").json()["count"] == 0
    bad = client.get("/api/v1/monitoring/snapshots/?statistic=nope")
    assert bad.status_code == 400 and "statistic" in bad.json()["errors"]
    unknown = client.get("/api/v1/monitoring/snapshots/?colour=red")
    assert unknown.status_code == 400 and "colour" in unknown.json()["errors"]
    alerts = client.get("/api/v1/monitoring/alerts/").json()
    assert alerts["count"] == Alert.objects.count()
    first = alerts["results"][0]
    assert {"statistic", "feature", "window", "reference_window", "value", "threshold", "message"} <= set(first)
    services.alert_acknowledge(alert=Alert.objects.get(pk=first["id"]), actor=make_user("admin"))
    assert client.get("/api/v1/monitoring/alerts/?open=true").json()["count"] == alerts["count"] - 1


@pytest.mark.browser
def test_the_charts_render_in_a_browser_without_console_errors(page, live_server, make_user, login, drifted):
    make_user("admin", username="mon-admin")
    errors = []
    page.on("console", lambda msg: errors.append(f"{msg.location.get('url')}: {msg.text}")
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login("mon-admin")
    page.goto(f"{live_server.url}/monitoring/")
    canvas = page.locator("#chart-psi-prompt_tokens")
    canvas.wait_for()
    page.wait_for_function("document.querySelectorAll('canvas[data-rendered=\"1\"]').length > 3")
    assert page.evaluate("Chart.getChart('chart-psi-prompt_tokens').data.datasets.map(d => d.label)") == [
        "finance / base model", "threshold"]
    assert canvas.bounding_box()["height"] > 100
    page.locator("button", has_text="Acknowledge").first.click()
    page.wait_for_load_state()
    assert page.locator("text=acknowledged by mon-admin").count() == 1
    assert not errors, errors
