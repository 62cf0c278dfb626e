"""The adapter registry page in a real browser: an admin uploads, sees the version, activates it."""
import pytest
from playwright.sync_api import expect

from apps.adapters.datasets import DATA_DIR
from apps.adapters.models import AdapterVersion
from apps.adapters.selectors import active_adapter

pytestmark = pytest.mark.browser


@pytest.mark.worker
def test_admin_uploads_a_zip_and_activates_after_evaluation(celery_worker, make_user, login, live_server, tmp_path):
    import zipfile

    source = DATA_DIR / "finance" / "adapter"
    archive = tmp_path / "fin.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            zf.write(source / name, f"fin/{name}")
    admin = make_user("admin")
    page = login(admin.username)
    page.click("nav >> text=Adapters")
    page.fill("input[name=name]", "fin-web")
    page.select_option("select[name=domain]", "finance")
    page.set_input_files("input[name=archive]", str(archive))
    page.get_by_role("button", name="Upload").click()
    assert "Uploaded fin-web@1; evaluation queued." in page.locator(".flash").inner_text()
    row = page.get_by_test_id("adapter-fin-web@1")
    assert "q_proj, v_proj" in row.inner_text()

    assert row.get_by_role("button", name="Roll back").count() == 0  # only the serving version rolls back

    # Activation asks first (a dialog, not the browser's confirm); "Keep as is" posts nothing.
    row.get_by_role("button", name="Activate").click()
    dialog = page.get_by_role("dialog")
    assert "Activate fin-web@1?" in dialog.inner_text()
    assert page.evaluate("document.activeElement.dataset.testid") == "confirm-cancel"
    page.get_by_test_id("confirm-cancel").click()
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Activate"  # focus back on the button

    # Activation waits for the evaluation, which the worker runs after the upload.
    row.get_by_role("button", name="Activate").click()
    page.get_by_test_id("confirm-ok").click()
    assert "has not been evaluated" in page.locator(".flash-error").inner_text()
    # The page shows the evaluation finish without a reload, and announces it once.
    was_evaluating = page.locator("#adapters").get_attribute("data-evaluating") == "1"
    page.get_by_test_id("eval-status-fin-web@1").filter(has_text="done").wait_for(timeout=240_000)
    if was_evaluating:  # (unless it had finished before this page was drawn)
        assert page.get_by_test_id("eval-announce").inner_text() == "Evaluation of fin-web@1 finished."
    assert "→" in page.get_by_test_id("adapter-fin-web@1").inner_text()
    assert AdapterVersion.objects.get(name="fin-web").eval_status == "done"
    page.get_by_test_id("adapter-fin-web@1").get_by_role("button", name="Activate").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("active-finance")).to_have_text("fin-web@1")
    assert active_adapter(domain="finance").label == "fin-web@1"

    # Now it serves: its row offers "Roll back" (confirmed), which returns finance to the base model.
    page.get_by_test_id("adapter-fin-web@1").get_by_role("button", name="Roll back").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("active-finance")).to_have_text("base model")
    assert active_adapter(domain="finance") is None


def test_upload_errors_show_on_the_page_and_store_nothing(make_user, login, live_server, tmp_path, settings):
    settings.PLUMBLINE_DATA_DIR = tmp_path
    bad = tmp_path / "adapter_model.bin"
    bad.write_bytes(b"\x80\x04 pickle")
    cfg = DATA_DIR / "finance" / "adapter" / "adapter_config.json"
    page = login(make_user("admin").username)
    page.goto(f"{live_server.url}/adapters/")
    page.fill("input[name=name]", "evil")
    page.set_input_files("input[name=config]", str(cfg))
    page.set_input_files("input[name=weights]", str(bad))
    page.get_by_role("button", name="Upload").click()
    assert "pickle files" in page.get_by_role("alert").first.inner_text()
    assert AdapterVersion.objects.count() == 0


def test_non_admins_see_the_registry_but_cannot_upload(make_user, login, live_server):
    page = login(make_user("analyst").username)
    page.goto(f"{live_server.url}/adapters/")
    assert page.locator("h1").inner_text() == "Adapters"
    assert page.locator("input[name=archive]").count() == 0
