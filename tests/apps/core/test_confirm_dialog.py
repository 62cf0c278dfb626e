"""The confirmation dialog in a real browser (revoking an API token): it opens instead of posting, focus starts
on the safe choice, Escape keeps everything and gives focus back, Confirm posts once."""
import pytest
from playwright.sync_api import expect

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create

pytestmark = pytest.mark.browser


def test_revoke_asks_in_a_dialog_and_escape_keeps_the_token(make_user, login, live_server):
    user = make_user("analyst")
    api_token_create(user=user, name="ci-bot")
    page = login(user.username)
    page.goto(f"{live_server.url}/tokens/")
    page.on("dialog", lambda d: pytest.fail(f"a browser dialog opened: {d.message}"))  # no window.confirm

    revoke = page.get_by_role("button", name="Revoke ci-bot")
    revoke.click()
    dialog = page.get_by_role("dialog", name="Revoke this token?")
    assert dialog.is_visible() and "cannot be restored" in dialog.inner_text()
    assert page.evaluate("document.activeElement.dataset.testid") == "confirm-cancel"
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Revoke ci-bot"
    assert ApiToken.objects.get(name="ci-bot").revoked_at is None

    revoke.click()
    page.get_by_role("button", name="Revoke", exact=True).click()  # the dialog's confirm button says what it does
    expect(page.locator(".flash")).to_have_text("Token ci-bot revoked.")
    assert ApiToken.objects.get(name="ci-bot").revoked_at is not None
