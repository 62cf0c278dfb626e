"""The web UI in a real browser: login, dashboards, the job form and the live job page."""
import re

import pytest
from playwright.sync_api import expect

from apps.generation.models import GenerationJob
from tests.conftest import wait_for_job

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("role", ["analyst", "clinician", "reviewer", "admin"])
def test_login_shows_the_role_dashboard(make_user, login, live_server, role):
    user = make_user(role)
    page = login(user.username)
    assert page.url == f"{live_server.url}/"
    assert page.locator("h1").inner_text() == f"{role.capitalize()} dashboard"
    assert page.get_by_test_id("who").inner_text() == f"{user.username} · {role}"
    nav = page.locator("nav").inner_text()
    assert ("Audit log" in nav) == (role == "admin")
    assert ("Generate" in nav) == (role != "reviewer")


def test_wrong_password_stays_on_login(make_user, login):
    user = make_user("analyst")
    page = login(user.username, password="not-the-password")
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")


def test_anonymous_is_sent_to_login(page, live_server, transactional_db):
    page.goto(f"{live_server.url}/jobs/")
    assert page.url.startswith(f"{live_server.url}/login/")


@pytest.mark.worker
def test_web_form_job_runs_and_the_page_shows_it_live(celery_worker, make_user, login, live_server):
    user = make_user("analyst")
    page = login(user.username)
    page.click("text=Generate")
    page.fill("textarea[name=prompt]", "Write one sentence about cash flow.")
    page.select_option("select[name=domain]", "finance")
    page.fill("input[name=max_tokens]", "48")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r".*/jobs/\d+/$"))
    job_id = int(page.url.rstrip("/").split("/")[-1])
    # The page polls the API: it reaches "succeeded" and shows the text without a reload.
    # (expect, not wait_for_function: that one evals in the page, which the Content-Security-Policy refuses)
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=120_000)
    job = GenerationJob.objects.get(pk=job_id)
    assert job.owner == user and job.status == "succeeded"
    assert page.get_by_test_id("job-output").inner_text().strip() == job.output.strip() != ""
    assert int(page.get_by_test_id("job-tokens").inner_text()) == job.completion_tokens


@pytest.mark.worker
def test_failed_job_shows_its_error_in_the_page(celery_worker, make_user, login, live_server):
    from apps.generation.services import job_create

    user = make_user("analyst")
    job = job_create(owner=user, prompt=" ".join(f"item{i}" for i in range(1500)), chat=False)
    wait_for_job(job.pk, worker=celery_worker)
    page = login(user.username)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    assert page.get_by_test_id("job-status").inner_text() == "failed"
    assert "1024" in page.get_by_test_id("job-error").inner_text()


def test_form_errors_name_the_field(make_user, login, live_server):
    user = make_user("clinician")
    page = login(user.username)
    page.goto(f"{live_server.url}/jobs/new/")
    page.fill("textarea[name=prompt]", "hello")
    page.fill("input[name=max_tokens]", "0")
    page.get_by_role("button", name="Generate").click()
    assert "Max tokens" in page.get_by_role("alert").first.inner_text()
    field = page.locator("input[name=max_tokens]")
    assert field.get_attribute("aria-invalid") == "true"
    assert "greater than or equal to 1" in page.locator(f"#{field.get_attribute('aria-describedby')}").inner_text()
    assert GenerationJob.objects.count() == 0
